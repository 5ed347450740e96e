// The embedded mTLS gateway: what the home party gives partners as a test environment, and what
// `mtls demo` runs against. Node's TLS server enforces the client certificate (CA bundle, every
// CA's CRL as an array, TLS 1.2 minimum); a newly published CRL is picked up without a restart.
import http from "node:http";
import https from "node:https";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { loadCaCerts, loadIssuingKey } from "../ca/material.js";
import { usageError } from "../errors.js";
import { randomSerial } from "../ids.js";
import { exportPkcs8, exportSpki, generateKeyPair } from "../keys.js";
import { listenOn } from "../listen.js";
import { encodePem } from "../pem.js";
import { createCertificate } from "../pki.js";
import { rsaParamsProblem } from "../rsa-key.js";
import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import type { Storage } from "../store/storage.js";
import { DAY, iso, MINUTE } from "../time.js";
import { forwardHeaders } from "./forward-headers.js";
import { checkGivenCredential } from "./given-credential.js";
import { readTlsMaterial } from "./tls-material.js";

export interface ServeParams {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Forward accepted requests here instead of answering with the client's identity. */
  upstream?: string;
  /** The gateway's own certificate (chain PEM) and key, both or neither; default: issued from the PKI for localhost. */
  serverCertPem?: string;
  serverKeyPem?: string;
  /** Where they came from ("--server-cert gw.pem"), for messages. */
  serverCertSource?: string;
  serverKeySource?: string;
  /** One line per request, and one per refused handshake. */
  log: (line: string) => void;
}

export interface RunningGateway {
  url: string;
  port: number;
  /** The chain the gateway presents, for clients to verify it against the PKI's root. */
  serverCertPem: string;
  stats: { requests: number; refusedHandshakes: number; crlReloads: number };
  /** Re-reads the CRLs now (the file watcher does the same on its own). */
  reloadCrls(): Promise<void>;
  close(): Promise<void>;
}

/** A server certificate for localhost from the PKI's issuing CA, 30 days, held in memory only. */
async function localServerCert(pki: Pki, config: StoreConfig) {
  const store = pki.storage;
  const now = pki.now;
  const ca = await loadCaCerts(store, config);
  const caKey = await loadIssuingKey(store, ca, pki.passphrase);
  const keys = await generateKeyPair("ec-p256");
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: {
      rdns: [
        ["O", "mtls gateway"],
        ["CN", "localhost"],
      ],
    },
    issuer: ca.issuer,
    notBefore: new Date(now.getTime() - 5 * MINUTE),
    notAfter: new Date(now.getTime() + 30 * DAY),
    spki: await exportSpki(keys.publicKey),
    signer: caKey.signer,
    signingKeyType: caKey.keyType,
    profile: { kind: "leaf", extKeyUsage: ["serverAuth"] },
    sans: [
      { type: "dns", value: "localhost" },
      { type: "ip", value: "127.0.0.1" },
      { type: "ip", value: "::1" },
    ],
  });
  return { certPem: cert.pem + (ca.intermediate?.pem ?? ""), keyPem: encodePem("PRIVATE KEY", await exportPkcs8(keys.privateKey)) };
}

/** Answers `status` unless an answer is under way (then the connection is cut), and logs why. */
function failRequest(res: http.ServerResponse, status: number, line: string, log: (l: string) => void): void {
  log(line);
  res.on("error", () => {});
  try {
    if (res.headersSent) res.destroy();
    else res.writeHead(status, { "content-type": "text/plain" }).end(status === 400 ? "bad request\n" : "bad gateway\n");
  } catch {
    res.destroy(); // the answer cannot be written any more: cutting the connection is all that is left
  }
}

/** A certificate issued before mtls checked RSA keys (#13) may hold e = 1: not a key at all. */
function peerRsaProblem(peer: PeerCertificate): string | undefined {
  if (!peer.modulus || !peer.exponent) return undefined;
  const hex = (h: string) => Buffer.from(h.replace(/^0x/i, "").padStart(Math.ceil(h.replace(/^0x/i, "").length / 2) * 2, "0"), "hex");
  return rsaParamsProblem(hex(peer.modulus), hex(peer.exponent));
}

interface RequestContext {
  owners: Map<string, string>;
  upstream?: URL;
  log: (line: string) => void;
}

function handleRequest(req: http.IncomingMessage, res: http.ServerResponse, c: RequestContext): void {
  const peer = (req.socket as TLSSocket).getPeerCertificate();
  const serial = (peer.serialNumber ?? "").toLowerCase().replace(/^0+/, "");
  const partner = c.owners.get(serial);
  const line = (status: number) => c.log(`${iso(new Date())} ${status} ${req.method} ${req.url} serial=${serial || "-"} partner=${partner ?? "-"}`);
  req.on("error", (err) => failRequest(res, 400, `${iso(new Date())} 400 ${req.method} client error: ${err.message}`, c.log));
  res.on("error", (err) => c.log(`${iso(new Date())} response error: ${err.message}`));
  const weak = peerRsaProblem(peer);
  if (weak) {
    line(403);
    c.log(`${iso(new Date())} refused serial=${serial || "-"}: the client's RSA key has ${weak}`);
    res.writeHead(403, { "content-type": "text/plain" }).end("forbidden: unusable client key\n");
    return;
  }
  if (c.upstream) {
    forward(req, res, c.upstream, forwardHeaders(req.headers, peer, serial), line, c.log);
    return;
  }
  const body = {
    accepted: true,
    partner: partner ?? null,
    serial,
    subject: peer.subject ?? {},
    sans: peer.subjectaltname ? peer.subjectaltname.split(", ") : [],
    notAfter: isoOf(peer.valid_to),
    fingerprint: peer.fingerprint256 ? `sha256:${peer.fingerprint256.replace(/:/g, "").toLowerCase()}` : undefined,
    protocol: (req.socket as TLSSocket).getProtocol(),
  };
  line(200);
  res.writeHead(200, { "content-type": "application/json" }).end(`${JSON.stringify(body)}\n`);
}

/** Node gives a peer's notAfter as OpenSSL prints it ("Mar  7 22:23:20 2027 GMT"); the answer carries ISO-8601, as all our JSON does. */
function isoOf(openSslTime: string | undefined): string | null {
  const d = new Date(openSslTime ?? "");
  return Number.isNaN(d.getTime()) ? null : iso(d);
}

function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstream: URL,
  headers: http.OutgoingHttpHeaders,
  line: (status: number) => void,
  log: (l: string) => void,
): void {
  const fwd = http.request({ host: upstream.hostname, port: upstream.port || 80, path: req.url, method: req.method, headers }, (up) => {
    up.on("error", () => res.destroy());
    try {
      res.writeHead(up.statusCode ?? 502, up.headers);
    } catch (err) {
      up.destroy();
      failRequest(res, 502, `${iso(new Date())} 502 ${req.method} ${req.url} unusable upstream answer: ${(err as Error).message}`, log);
      return;
    }
    line(up.statusCode ?? 502);
    up.pipe(res);
  });
  fwd.on("error", (err) => failRequest(res, 502, `${iso(new Date())} 502 ${req.method} ${req.url} upstream unreachable: ${err.message}`, log));
  req.on("error", () => fwd.destroy());
  req.pipe(fwd);
}

function parseUpstream(text: string | undefined): URL | undefined {
  if (!text) return undefined;
  try {
    return new URL(text);
  } catch {
    throw usageError("ERR_UPSTREAM", `invalid --upstream "${text}"`, "use http://host:port");
  }
}

/** The certificate and key the gateway presents: the ones given (checked first), or one issued for localhost. */
async function serverCredential(pki: Pki, p: ServeParams, config: StoreConfig): Promise<{ certPem: string; keyPem: string }> {
  const given = checkGivenCredential({
    ...(p.serverCertPem !== undefined ? { certPem: p.serverCertPem } : {}),
    ...(p.serverKeyPem !== undefined ? { keyPem: p.serverKeyPem } : {}),
    ...(p.serverCertSource ? { certSource: p.serverCertSource } : {}),
    ...(p.serverKeySource ? { keySource: p.serverKeySource } : {}),
  });
  return given ?? localServerCert(pki, config);
}

/**
 * Calls `onChange` when the blob under `key` changes: publishing replaces it, and the storage's
 * version says so cheaply (a directory store: the file's inode, size and mtime). A storage
 * without versions is compared by content. Polled, as the file watcher before it was.
 */
function watchBlob(store: Storage, key: string, onChange: () => void): () => void {
  const current = async () => store.version?.(key) ?? Buffer.from((await store.get(key).catch(() => undefined)) ?? []).toString("base64");
  let seen: Promise<string> = current();
  const timer = setInterval(async () => {
    const before = await seen;
    seen = current();
    if ((await seen) !== before) onChange();
  }, 500);
  return () => clearInterval(timer);
}

/** Loopback is named localhost: the certificate issued for it names localhost. */
function gatewayUrl(listenHost: string, port: number): string {
  const host = listenHost.includes(":") ? `[${listenHost}]` : listenHost;
  return `https://${host === "127.0.0.1" || host === "[::1]" ? "localhost" : host}:${port}/`;
}

export async function startGateway(pki: Pki, p: ServeParams): Promise<RunningGateway> {
  const config = await pki.config();
  const store = pki.storage;
  const upstream = parseUpstream(p.upstream);
  const server = await serverCredential(pki, p, config);
  const material = await readTlsMaterial(store);
  const stats = { requests: 0, refusedHandshakes: 0, crlReloads: 0 };

  // Partner ids by serial, for the log line; re-read when the index changes.
  let owners = new Map<string, string>();
  const loadOwners = async () => {
    owners = new Map((await readIndexOf(store)).records.map((r) => [r.serial, r.partnerId]));
  };
  await loadOwners();

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    stats.requests++;
    // One request never stops the gateway: whatever a handler throws is logged and answered.
    try {
      handleRequest(req, res, { owners, ...(upstream ? { upstream } : {}), log: p.log });
    } catch (err) {
      failRequest(res, 502, `${iso(new Date())} 502 ${req.method} handler error: ${(err as Error).message}`, p.log);
    }
  };

  const httpsServer = https.createServer(
    { cert: server.certPem, key: server.keyPem, ca: material.ca, crl: material.crl, requestCert: true, rejectUnauthorized: true, minVersion: "TLSv1.2" },
    handler,
  );
  httpsServer.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    stats.refusedHandshakes++;
    p.log(`${iso(new Date())} TLS refused from ${socket.remoteAddress ?? "?"}: ${err.code ?? err.message}`);
  });

  const reloadCrls = async () => {
    const m = await readTlsMaterial(store);
    httpsServer.setSecureContext({ cert: server.certPem, key: server.keyPem, ca: m.ca, crl: m.crl, minVersion: "TLSv1.2" });
    await loadOwners();
    stats.crlReloads++;
    p.log(`${iso(new Date())} reloaded CRLs from ${store.where(storeKeys.crlBundle)}`);
  };
  // A bundle that cannot be used never replaces the one in force: revocation checks go on with
  // the previous CRLs until a good bundle is published.
  const unwatch = watchBlob(store, storeKeys.crlBundle, () => {
    reloadCrls().catch((err) => p.log(`${iso(new Date())} CRL reload refused, the previous CRLs stay in force: ${(err as Error).message}`));
  });

  let port: number;
  try {
    port = await listenOn(httpsServer, p.port, p.host);
  } catch (err) {
    // The watcher's timer would keep the process alive with nothing to serve.
    unwatch();
    throw err;
  }
  return {
    url: gatewayUrl(p.host, port),
    port,
    serverCertPem: server.certPem,
    stats,
    reloadCrls,
    close: () =>
      new Promise<void>((resolve) => {
        unwatch();
        httpsServer.close(() => resolve());
        httpsServer.closeAllConnections?.();
      }),
  };
}
