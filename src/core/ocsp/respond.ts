// One OCSP exchange: a request's bytes in, a response's bytes out, and a summary for the log.
import type { CaRole } from "../crl/publish.js";
import {
  buildOcspError,
  buildOcspResponse,
  issuerHashes,
  MalformedOcspRequest,
  type OcspAnswer,
  type OcspCertStatus,
  type OcspErrorStatus,
  parseOcspRequest,
} from "./protocol.js";
import type { Responder } from "./responder-cert.js";
import type { StatusAnswer, StatusSource } from "./status-source.js";

export interface OcspOutcome {
  der: Buffer;
  /** "successful" or the error status sent. */
  responseStatus: "successful" | OcspErrorStatus;
  /** serial=status pairs, for the log line. */
  answers: Array<{ serial: string; status: string; ca?: CaRole }>;
  nonce: boolean;
  /** When the answer stops being valid (successful responses only). */
  nextUpdate?: Date;
  detail?: string;
}

export interface RespondParams {
  request: Uint8Array;
  responders: readonly Responder[];
  source: StatusSource;
  now: Date;
  /** nextUpdate - thisUpdate of every answer. */
  validityMs: number;
}

/** Finds the CA a CertID names, comparing both hashes under the CertID's own algorithm. */
function responderFor(responders: readonly Responder[], hash: string, nameHash: Buffer, keyHash: Buffer): Responder | undefined {
  return responders.find((r) => {
    const h = issuerHashes(r.ca.subjectDer, r.ca.spki, hash);
    return h.name.equals(nameHash) && h.key.equals(keyHash);
  });
}

export async function respondOcsp(p: RespondParams): Promise<OcspOutcome> {
  let parsed: ReturnType<typeof parseOcspRequest>;
  try {
    parsed = parseOcspRequest(p.request);
  } catch (err) {
    if (!(err instanceof MalformedOcspRequest)) throw err;
    return { der: buildOcspError("malformedRequest"), responseStatus: "malformedRequest", answers: [], nonce: false, detail: err.message };
  }
  const matched = parsed.queries.map((q) => ({ q, responder: responderFor(p.responders, q.hash, q.issuerNameHash, q.issuerKeyHash) }));
  const signer = matched[0]?.responder;
  // A delegated responder may only speak for its own CA (RFC 6960 §4.2.2.2): a request about
  // another issuer, or mixing two of ours, cannot be signed by one responder.
  if (!signer || matched.some((m) => m.responder !== signer)) {
    const answers = matched.map((m) => ({ serial: m.q.serial, status: m.responder ? "mixed-issuers" : "unknown-issuer" }));
    return { der: buildOcspError("unauthorized"), responseStatus: "unauthorized", answers, nonce: Boolean(parsed.nonce) };
  }
  const statuses: StatusAnswer[] = [];
  for (const { q } of matched) statuses.push(await p.source.lookup(signer.role, q.serial));
  // One answer withheld withholds the response: OCSP has no per-certificate error, and a
  // signed response must not leave out a certificate it was asked about. internalError is RFC
  // 6960 §2.3's "inconsistent internal state" (retry, perhaps elsewhere); tryLater is for a
  // service briefly unable to answer, which a store damaged until someone repairs it is not.
  if (statuses.some((s) => s.status === "unavailable")) {
    const answers = matched.map((m, i) => ({ serial: m.q.serial, status: statuses[i]?.status ?? "unavailable", ca: signer.role }));
    return { der: buildOcspError("internalError"), responseStatus: "internalError", answers, nonce: Boolean(parsed.nonce) };
  }
  const answers: OcspAnswer[] = matched.map(({ q }, i) => ({ certId: q.certId, status: statuses[i] as OcspCertStatus }));
  const thisUpdate = p.now;
  const nextUpdate = new Date(p.now.getTime() + p.validityMs);
  const der = buildOcspResponse({
    answers,
    signer: signer.signer,
    producedAt: p.now,
    thisUpdate,
    nextUpdate,
    ...(parsed.nonce ? { nonce: parsed.nonce } : {}),
  });
  return {
    der,
    responseStatus: "successful",
    answers: matched.map((m, i) => ({ serial: m.q.serial, status: answers[i]?.status.status ?? "unknown", ca: signer.role })),
    nonce: Boolean(parsed.nonce),
    nextUpdate,
  };
}
