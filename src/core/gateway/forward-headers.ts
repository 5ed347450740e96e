// What `gateway serve --upstream` tells the upstream about the client. Certificate fields are the
// partner's to choose: a CN with characters outside Latin-1 made Node throw ERR_INVALID_CHAR
// while forwarding, and the unhandled exception stopped the gateway (#13).
import type { IncomingHttpHeaders } from "node:http";
import type { PeerCertificate } from "node:tls";

/** The headers the gateway sets; any the client sent under a name that reads as x-client-* are dropped. */
export const IDENTITY_HEADERS = {
  /** The subject's commonName(s), RFC 4514-escaped (see escapeDnValue), several joined by "+". */
  subject: "x-client-subject",
  /** The certificate serial, lowercase hex without leading zeros (as `mtls list` shows it). */
  serial: "x-client-serial",
} as const;

const SPECIAL = new Set([...'"+,;<>\\']);

/**
 * One attribute value escaped as RFC 4514 §2.4 allows, strictly enough to be a valid HTTP field
 * value (RFC 9110 §5.5) whatever the certificate holds: the RFC's specials with a backslash, and
 * every byte outside printable ASCII as a backslash and two hex digits of its UTF-8 encoding
 * ("Müller" → "M\C3\BCller"), so the upstream can decode it exactly.
 */
export function escapeDnValue(value: string): string {
  let out = "";
  const bytes = Buffer.from(value, "utf8");
  bytes.forEach((b, i) => {
    const ch = String.fromCharCode(b);
    const edgeSpace = b === 0x20 && (i === 0 || i === bytes.length - 1);
    if (b < 0x20 || b > 0x7e || edgeSpace) out += `\\${b.toString(16).toUpperCase().padStart(2, "0")}`;
    else if (SPECIAL.has(ch) || (ch === "#" && i === 0)) out += `\\${ch}`;
    else out += ch;
  });
  return out;
}

/**
 * Fields about the connection to the gateway, not the request: RFC 9110 §7.6.1's list, and
 * Proxy-Authorization/-Authenticate, meant for the gateway as a proxy (RFC 9110 §11.7).
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "proxy-authenticate",
  "http2-settings",
]);

/** The body's framing: the gateway's to state, from the request it parsed (see forwardHeaders). */
const FRAMING = ["content-length", "transfer-encoding"] as const;

/**
 * A field name as the upstream may read it: CGI, WSGI, Rack and PHP fold "-" and "_" together
 * (both X-Client-Subject and X_Client_Subject become HTTP_X_CLIENT_SUBJECT).
 */
const canonical = (name: string): string => name.toLowerCase().replace(/_/g, "-");

/** Client fields the upstream must not get: identities, hop-by-hop fields, and those Connection names. */
function clientOnly(incoming: IncomingHttpHeaders): (name: string) => boolean {
  const named = new Set(
    String(incoming.connection ?? "")
      .split(",")
      .map((t) => canonical(t.trim())),
  );
  return (name) => {
    const n = canonical(name);
    return n.startsWith("x-client-") || HOP_BY_HOP.has(n) || named.has(n) || (FRAMING as readonly string[]).includes(n);
  };
}

/**
 * The request headers to forward: the client's, minus anything claiming to be an identity and
 * anything about its connection to the gateway, plus ours. The framing of the forwarded body
 * comes from the request as Node parsed it, whatever Connection names: without it Node would
 * send a GET's body unframed, and the upstream would read it as a further request.
 */
export function forwardHeaders(incoming: IncomingHttpHeaders, peer: PeerCertificate, serial: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  const drop = clientOnly(incoming);
  for (const [name, value] of Object.entries(incoming)) if (!drop(name)) out[name] = value;
  for (const name of FRAMING) if (incoming[name] !== undefined) out[name] = incoming[name];
  const cn = peer.subject?.CN as string | string[] | undefined;
  const cns = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  out[IDENTITY_HEADERS.subject] = cns.map(escapeDnValue).join("+");
  out[IDENTITY_HEADERS.serial] = serial;
  return out;
}
