// What `gateway serve --upstream` tells the upstream about the client. Certificate fields are the
// partner's to choose: a CN with characters outside Latin-1 made Node throw ERR_INVALID_CHAR
// while forwarding, and the unhandled exception stopped the gateway (#13).
import type { IncomingHttpHeaders } from "node:http";
import type { PeerCertificate } from "node:tls";

/** The headers the gateway sets; any the client sent under these names (or x-client-*) are dropped. */
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

/** The request headers to forward: the client's, minus anything claiming to be an identity, plus ours. */
export function forwardHeaders(incoming: IncomingHttpHeaders, peer: PeerCertificate, serial: string): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) if (!name.startsWith("x-client-")) out[name] = value;
  const cn = peer.subject?.CN as string | string[] | undefined;
  const cns = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  out[IDENTITY_HEADERS.subject] = cns.map(escapeDnValue).join("+");
  out[IDENTITY_HEADERS.serial] = serial;
  return out;
}
