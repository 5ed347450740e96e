// An OCSP client, for `status` to check the responder the way a gateway does: ask about a
// certificate, then accept the answer only if it is signed by the CA or by a responder the CA
// delegated (id-kp-OCSPSigning), names the certificate asked about, echoes the nonce and is
// current (RFC 6960 §3.2).
import { createPublicKey, randomBytes, verify } from "node:crypto";
import http from "node:http";
import https from "node:https";
import {
  BasicOCSPResponse,
  CertID,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  TBSRequest,
} from "@peculiar/asn1-ocsp";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Extension } from "@peculiar/asn1-x509";
import { type CertInfo, isSignedBy, parseCertificate } from "../cert.js";
import { children, readTlv, whole } from "../der.js";
import { CERT_ID_HASHES, issuerHashes } from "./protocol.js";

const SHA1 = "1.3.14.3.2.26";
const SIGNATURE_DIGESTS: Record<string, string> = {
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
};
const OCSP_SIGNING = "1.3.6.1.5.5.7.3.9";

export interface OcspCheck {
  status: "good" | "revoked" | "unknown";
  revokedAt?: Date;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** The subject of the certificate that signed the answer. */
  signer: string;
}

export class OcspCheckError extends Error {}

/** A DER OCSP request about `cert` (issued by `issuer`), with a fresh nonce. */
export function buildOcspRequest(cert: CertInfo, issuer: CertInfo, nonce: Buffer): Buffer {
  const h = issuerHashes(issuer.subjectDer, issuer.spki, "sha1");
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: SHA1, parameters: null }),
    issuerNameHash: new OctetString(h.name),
    issuerKeyHash: new OctetString(h.key),
    serialNumber: new Uint8Array(Buffer.from(cert.serial.length % 2 ? `0${cert.serial}` : cert.serial, "hex")).buffer,
  });
  const tbs = new TBSRequest({
    requestList: [new Request({ reqCert: certId })],
    requestExtensions: [
      new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))) }),
    ],
  });
  return Buffer.from(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
}

function post(url: string, body: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === "https:" ? https : http).request(
      u,
      { method: "POST", headers: { "content-type": "application/ocsp-request", "content-length": body.length }, timeout: timeoutMs },
      (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on("data", (d: Buffer) => {
          size += d.length;
          if (size > 1024 * 1024) req.destroy(new OcspCheckError("the responder's answer is larger than 1 MiB"));
          else parts.push(d);
        });
        res.on("end", () =>
          res.statusCode === 200 ? resolve(Buffer.concat(parts)) : reject(new OcspCheckError(`the responder answered HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on("timeout", () => req.destroy(new OcspCheckError(`no answer within ${timeoutMs} ms`)));
    req.on("error", (err) => reject(err instanceof OcspCheckError ? err : new OcspCheckError(`cannot reach ${url}: ${err.message}`)));
    req.end(body);
  });
}

/** The certificate that signed the answer, if the CA stands behind it. */
async function trustedSigner(basicDer: Buffer, basic: BasicOCSPResponse, issuer: CertInfo, now: Date): Promise<CertInfo> {
  const digest = SIGNATURE_DIGESTS[basic.signatureAlgorithm.algorithm];
  if (!digest) throw new OcspCheckError(`unsupported signature algorithm ${basic.signatureAlgorithm.algorithm}`);
  const tbs = whole(basicDer, children(basicDer, readTlv(basicDer, 0))[0] as ReturnType<typeof readTlv>);
  const candidates = [issuer, ...(basic.certs ?? []).map((c) => parseCertificate(Buffer.from(AsnConvert.serialize(c)), "the OCSP responder certificate"))];
  for (const c of candidates) {
    if (!verify(digest, tbs, createPublicKey({ key: c.spki, format: "der", type: "spki" }), Buffer.from(basic.signature))) continue;
    if (c === issuer) return c;
    if (!c.issuerDer.equals(issuer.subjectDer) || !(await isSignedBy(c, issuer)))
      throw new OcspCheckError(`the answer is signed by ${c.subject}, which the CA did not issue`);
    if (!c.extKeyUsage.includes("OCSPSigning") && !c.extKeyUsage.includes(OCSP_SIGNING))
      throw new OcspCheckError(`the answer is signed by ${c.subject}, which is not an OCSP responder (no id-kp-OCSPSigning)`);
    if (c.notBefore > now || c.notAfter <= now)
      throw new OcspCheckError(`the responder certificate ${c.subject} is not valid now (until ${c.notAfter.toISOString()})`);
    return c;
  }
  throw new OcspCheckError("the answer's signature does not verify with the CA or any certificate it carries");
}

/** Asks `url` about `cert` and checks the answer; throws OcspCheckError with the reason otherwise. */
export async function checkOcsp(url: string, cert: CertInfo, issuer: CertInfo, now: Date, timeoutMs = 5000): Promise<OcspCheck> {
  const nonce = randomBytes(16);
  const der = await post(url, buildOcspRequest(cert, issuer, nonce), timeoutMs);
  let response: OCSPResponse;
  try {
    response = AsnConvert.parse(der, OCSPResponse);
  } catch {
    throw new OcspCheckError("the responder's answer is not an OCSP response");
  }
  if (response.responseStatus !== OCSPResponseStatus.successful)
    throw new OcspCheckError(`the responder answered ${OCSPResponseStatus[response.responseStatus]}`);
  if (response.responseBytes?.responseType !== id_pkix_ocsp_basic) throw new OcspCheckError("the answer is not a basic OCSP response");
  const basicDer = Buffer.from(response.responseBytes.response.buffer);
  const basic = AsnConvert.parse(basicDer, BasicOCSPResponse);
  const signer = await trustedSigner(basicDer, basic, issuer, now);
  const echoed = basic.tbsResponseData.responseExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  if (!echoed || !Buffer.from(echoed.extnValue.buffer).equals(Buffer.from(AsnConvert.serialize(new OctetString(nonce)))))
    throw new OcspCheckError("the answer does not echo our nonce (a replayed or cached answer)");
  const h = issuerHashes(issuer.subjectDer, issuer.spki, "sha1");
  const single = basic.tbsResponseData.responses.find(
    (r) =>
      CERT_ID_HASHES.get(r.certID.hashAlgorithm.algorithm) === "sha1" &&
      Buffer.from(r.certID.issuerKeyHash.buffer).equals(h.key) &&
      Buffer.from(r.certID.serialNumber).toString("hex").replace(/^0+/, "") === cert.serial,
  );
  if (!single) throw new OcspCheckError("the answer is about another certificate");
  if (single.thisUpdate.getTime() > now.getTime() + 5 * 60_000)
    throw new OcspCheckError(`the answer's thisUpdate ${single.thisUpdate.toISOString()} is in the future`);
  if (single.nextUpdate && single.nextUpdate <= now)
    throw new OcspCheckError(`the answer is stale: its nextUpdate ${single.nextUpdate.toISOString()} has passed`);
  const s = single.certStatus;
  const status = s.good !== undefined ? "good" : s.revoked ? "revoked" : "unknown";
  return {
    status,
    ...(s.revoked ? { revokedAt: s.revoked.revocationTime } : {}),
    thisUpdate: single.thisUpdate,
    ...(single.nextUpdate ? { nextUpdate: single.nextUpdate } : {}),
    signer: signer.subject,
  };
}
