// One probe connection: TLS handshake with an optional client certificate, then one HTTP request,
// then a classification of what the gateway did. Rejections show up in three shapes and the
// classifier must know all of them:
//   - a TLS alert (during the handshake under TLS 1.2; on the first read under TLS 1.3, because
//     the server checks the client certificate after the client considers the handshake done),
//   - the connection closed with no alert (EOF, ECONNRESET, EPIPE: Node.js and Go servers),
//   - an HTTP answer: nginx never fails the handshake over a client certificate, it replies 400.
// Probe problems are kept apart: refused connections, timeouts, a server certificate we could
// not verify, HTTP 421, or our own OpenSSL refusing to offer legacy TLS.
import { checkServerIdentity, connect, createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from "node:tls";

export type TlsMode = "1.2" | "1.3" | "legacy";

export interface ClientCredential {
  /** Certificate chain to present, PEM (leaf first). */
  certPem: string;
  keyPem: string;
}

export interface AttemptParams {
  host: string;
  port: number;
  /** SNI; omitted for IP addresses. */
  servername?: string;
  /** Host header and request path. */
  hostHeader: string;
  path: string;
  tls: TlsMode;
  credential?: ClientCredential;
  /** Trust anchors for the gateway's own certificate (PEM); undefined uses Node's default CAs. */
  serverCa?: string;
  insecureServer: boolean;
  timeoutMs: number;
}

export interface Evidence {
  /** TLS alert received from the gateway. */
  alert?: { code: number; name: string };
  /** Node/OpenSSL error code, e.g. ECONNRESET or ERR_SSL_...; "EOF" when closed silently. */
  errno?: string;
  httpStatus?: number;
  /** The status line's reason or the HTML title / first line of the body. */
  httpText?: string;
  /** A one-line human summary. */
  summary: string;
}

export interface ServerCertInfo {
  subject: string;
  issuer: string;
  notAfter: string;
  daysLeft: number;
}

export interface Observation {
  outcome: "accepted" | "rejected" | "error";
  evidence: Evidence;
  /** Did the client's side of the handshake complete? */
  handshake: boolean;
  protocol?: string;
  cipher?: string;
  serverChain?: ServerCertInfo[];
  durationMs: number;
}

/** TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2) by the name OpenSSL puts in its error code. */
const ALERTS: Record<string, number> = {
  UNEXPECTED_MESSAGE: 10,
  BAD_RECORD_MAC: 20,
  HANDSHAKE_FAILURE: 40,
  BAD_CERTIFICATE: 42,
  UNSUPPORTED_CERTIFICATE: 43,
  CERTIFICATE_REVOKED: 44,
  CERTIFICATE_EXPIRED: 45,
  CERTIFICATE_UNKNOWN: 46,
  ILLEGAL_PARAMETER: 47,
  UNKNOWN_CA: 48,
  ACCESS_DENIED: 49,
  DECODE_ERROR: 50,
  DECRYPT_ERROR: 51,
  PROTOCOL_VERSION: 70,
  INSUFFICIENT_SECURITY: 71,
  INTERNAL_ERROR: 80,
  INAPPROPRIATE_FALLBACK: 86,
  USER_CANCELLED: 90,
  MISSING_EXTENSION: 109,
  UNSUPPORTED_EXTENSION: 110,
  UNRECOGNIZED_NAME: 112,
  UNKNOWN_PSK_IDENTITY: 115,
  CERTIFICATE_REQUIRED: 116,
  NO_APPLICATION_PROTOCOL: 120,
};

export function alertFromError(err: NodeJS.ErrnoException): Evidence["alert"] {
  const m = /ALERT_([A-Z_]+)$/.exec(err.code ?? "") ?? /alert ([a-z ]+?)(?::|$)/i.exec(err.message);
  if (!m) return undefined;
  const key = (m[1] ?? "").toUpperCase().replace(/ /g, "_");
  const code = ALERTS[key];
  return code === undefined ? undefined : { code, name: key.toLowerCase() };
}

/** HTTP statuses gateways use to refuse a client certificate (nginx 400/495/496, Kong 401, 403). */
export const REJECT_STATUSES = new Set([400, 401, 403, 495, 496]);

const LOCAL_TLS_FAILURE = /NO_PROTOCOLS_AVAILABLE|UNSUPPORTED_PROTOCOL|NO_CIPHERS_AVAILABLE|NO_SUITABLE_SIGNATURE|CA_MD_TOO_WEAK|EE_KEY_TOO_SMALL/;

function httpText(raw: string): string {
  const head = raw.split("\r\n\r\n")[0] ?? "";
  const body = raw.slice(head.length + 4);
  const title = /<title>([^<]*)<\/title>/i.exec(body)?.[1];
  if (title) return title.replace(/^\d{3}\s+/, "").trim(); // nginx: "<title>400 The SSL certificate error</title>"
  const firstBody = body.split(/\r?\n/).find((l) => l.trim() !== "");
  return (firstBody ?? head.split("\r\n")[0]?.replace(/^HTTP\/\S+\s+\d+\s*/, "") ?? "").trim().slice(0, 120);
}

function chainOf(socket: TLSSocket, now: number): ServerCertInfo[] {
  const out: ServerCertInfo[] = [];
  const seen = new Set<string>();
  for (
    let c: PeerCertificate | undefined = socket.getPeerCertificate(true);
    c && c.fingerprint256 && !seen.has(c.fingerprint256);
    c = (c as { issuerCertificate?: PeerCertificate }).issuerCertificate
  ) {
    seen.add(c.fingerprint256);
    const notAfter = new Date(c.valid_to);
    const name = (n: PeerCertificate["subject"]) =>
      Object.entries(n ?? {})
        .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`)
        .join(", ");
    out.push({
      subject: name(c.subject),
      issuer: name(c.issuer),
      notAfter: notAfter.toISOString().replace(/\.\d{3}Z$/, "Z"),
      daysLeft: Math.floor((notAfter.getTime() - now) / 86_400_000),
    });
  }
  return out;
}

// A TLS context per client credential, TLS mode and server CA, shared by every connection that
// uses them: building one parses the key and certificates and loads them into OpenSSL, which was
// ~30% of a 100-endpoint probe's CPU when each connection built its own (#21). Keyed weakly by
// the credential, so a probe run's contexts go with its credentials.
const contexts = new WeakMap<object, Map<string, SecureContext>>();
const NO_CREDENTIAL = {};

function secureContextFor(p: AttemptParams): SecureContext {
  const owner = p.credential ?? NO_CREDENTIAL;
  let byMode = contexts.get(owner);
  if (!byMode) {
    byMode = new Map();
    contexts.set(owner, byMode);
  }
  const key = `${p.tls}\0${p.serverCa ?? ""}`;
  let ctx = byMode.get(key);
  if (!ctx) {
    const legacy = p.tls === "legacy";
    ctx = createSecureContext({
      ...(p.credential ? { cert: p.credential.certPem, key: p.credential.keyPem } : {}),
      ...(p.serverCa ? { ca: p.serverCa } : {}),
      minVersion: legacy ? "TLSv1" : p.tls === "1.2" ? "TLSv1.2" : "TLSv1.3",
      maxVersion: legacy ? "TLSv1.1" : p.tls === "1.2" ? "TLSv1.2" : "TLSv1.3",
      // OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: without this a gateway that
      // still allows TLS 1.0 would look as if it had refused it.
      ...(legacy ? { ciphers: "DEFAULT@SECLEVEL=0" } : {}),
    });
    if (byMode.size >= 16) byMode.clear(); // server CAs come from the command line: a handful at most
    byMode.set(key, ctx);
  }
  return ctx;
}

// What a gateway's certificate says (its chain, whether it names the host) is the same on every
// connection that presents it: getPeerCertificate(true) builds JavaScript objects for the whole
// chain and was the largest CPU cost left at 100 endpoints (#21). Keyed by the leaf's
// fingerprint (SHA-256 over its DER: another certificate is another key).
const facts = new Map<string, unknown>();
function peerFacts<T>(key: string | undefined, compute: () => T): T {
  if (key === undefined) return compute();
  if (facts.has(key)) return facts.get(key) as T;
  const value = compute();
  if (facts.size >= 1000) facts.clear();
  facts.set(key, value);
  return value;
}

type Classified = [Observation["outcome"], Evidence];

/**
 * The most of an answer that is kept: a status line, headers and the body's first bytes (nginx's
 * title) fit. A server still sending past it without an HTTP status line is not answering HTTP;
 * reading on would keep every byte it streams until --timeout.
 */
const ANSWER_CAP = 4096;

/** ANSWER_CAP bytes that do not start with an HTTP status line. */
const notHttp = (): Classified => ["error", { errno: "NOT_HTTP", summary: `the answer is not HTTP (no status line in its first ${ANSWER_CAP} bytes)` }];

/** The gateway's HTTP answer, once its status line and the body's first bytes are in (or the stream ended). */
function classifyResponse(response: string, ended: boolean): Classified | undefined {
  const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(response);
  if (!m) return undefined;
  // Wait for the body's first bytes (nginx puts the reason in its title), but not forever.
  if (!ended && !/\r\n\r\n[\s\S]{1,}/.test(response) && response.length < ANSWER_CAP) return undefined;
  const status = Number(m[1]);
  const text = httpText(response);
  const evidence = { httpStatus: status, httpText: text, summary: `HTTP ${status}${text ? ` ${text}` : ""}` };
  if (!ended && status === 421) return ["error", { ...evidence, summary: `${evidence.summary}: the gateway wants another SNI/Host (--servername)` }];
  return [REJECT_STATUSES.has(status) ? "rejected" : "accepted", evidence];
}

/** A socket error: the gateway's refusal (an alert, a reset), our own TLS library's, or no TLS at all. */
function classifyError(err: NodeJS.ErrnoException, handshake: boolean): Classified {
  const alert = alertFromError(err);
  if (alert)
    return ["rejected", { alert, errno: err.code ?? "", summary: `TLS alert ${alert.code} ${alert.name}${handshake ? " (after the handshake)" : ""}` }];
  const code = err.code ?? "";
  if (LOCAL_TLS_FAILURE.test(code) || LOCAL_TLS_FAILURE.test(err.message))
    return ["error", { errno: code, summary: `our TLS library refused the connection: ${err.message}` }];
  if (code === "ECONNRESET" || code === "EPIPE")
    return ["rejected", { errno: code, summary: `${code}${handshake ? " after the handshake" : " during the handshake"}` }];
  if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|RECORD_LAYER_FAILURE/.test(code)) return ["error", { errno: code, summary: "the port does not speak TLS" }];
  return ["error", { errno: code || "ERROR", summary: err.message }];
}

/** After the handshake: the gateway's chain, and why its own certificate fails verification (unless --insecure-server). */
function checkServer(socket: TLSSocket, p: AttemptParams): { serverChain: ServerCertInfo[]; problem?: Evidence } {
  // (Not getPeerX509Certificate for the fingerprint: after it, Node 20's getPeerCertificate returns {}.)
  const leaf = socket.getPeerCertificate();
  const fingerprint = leaf.fingerprint256 || undefined;
  const serverChain = peerFacts(fingerprint, () => chainOf(socket, Date.now()));
  if (p.insecureServer) return { serverChain };
  const host = p.servername ?? p.host;
  const identityError = socket.authorized ? peerFacts(`${fingerprint}\0${host}`, () => checkServerIdentity(host, leaf)) : undefined;
  if (socket.authorized && !identityError) return { serverChain };
  const why = socket.authorizationError ? String(socket.authorizationError) : identityError?.message;
  return {
    serverChain,
    problem: { errno: "SERVER_CERT", summary: `the gateway's own certificate failed verification: ${why} (use --server-ca, or --insecure-server)` },
  };
}

/** Makes one connection and classifies the gateway's answer. Never throws. */
export function attempt(p: AttemptParams): Promise<Observation> {
  const started = Date.now();
  return new Promise((resolve) => {
    let settled = false;
    let handshake = false;
    let response = "";
    let protocol: string | undefined;
    let cipher: string | undefined;
    let serverChain: ServerCertInfo[] | undefined;
    const finish = (outcome: Observation["outcome"], evidence: Evidence) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        outcome,
        evidence,
        handshake,
        ...(protocol ? { protocol } : {}),
        ...(cipher ? { cipher } : {}),
        ...(serverChain ? { serverChain } : {}),
        durationMs: Date.now() - started,
      });
    };
    let secureContext: SecureContext;
    try {
      secureContext = secureContextFor(p);
    } catch (err) {
      return resolve({
        outcome: "error",
        evidence: { errno: (err as NodeJS.ErrnoException).code ?? "ERR_TLS", summary: `our TLS library refused the connection: ${(err as Error).message}` },
        handshake: false,
        durationMs: Date.now() - started,
      });
    }
    const socket = connect({
      host: p.host,
      port: p.port,
      ...(p.servername ? { servername: p.servername } : {}),
      secureContext,
      rejectUnauthorized: false, // verified below, so a bad server certificate is a probe error, not a rejection
      ALPNProtocols: ["http/1.1"],
    });
    const timer = setTimeout(() => finish("error", { errno: "ETIMEDOUT", summary: `no answer within ${p.timeoutMs} ms` }), p.timeoutMs);

    socket.on("secureConnect", () => {
      handshake = true;
      protocol = socket.getProtocol() ?? undefined;
      cipher = socket.getCipher()?.name;
      const server = checkServer(socket, p);
      serverChain = server.serverChain;
      if (server.problem) return finish("error", server.problem);
      socket.write(`GET ${p.path} HTTP/1.1\r\nHost: ${p.hostHeader}\r\nUser-Agent: mtls-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
    });
    socket.on("data", (d: Buffer) => {
      response += d.toString("latin1", 0, Math.min(d.length, ANSWER_CAP - response.length));
      const answer = classifyResponse(response, false) ?? (response.length >= ANSWER_CAP ? notHttp() : undefined);
      if (answer) finish(...answer);
    });
    socket.on("end", () => {
      const answer = classifyResponse(response, true) ?? [
        "rejected",
        { errno: "EOF", summary: handshake ? "connection closed after the handshake, without a response" : "connection closed during the handshake" },
      ];
      finish(...answer);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => finish(...classifyError(err, handshake)));
  });
}
