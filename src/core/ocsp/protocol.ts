// OCSP messages (RFC 6960, with the RFC 5019 lightweight profile): requests are parsed and
// responses built with @peculiar/asn1-ocsp, this module being its one adapter. Requests come
// from anyone who can reach the responder, so every field is checked before it is used.
import { createHash, type KeyObject, sign } from "node:crypto";
import {
  BasicOCSPResponse,
  type CertID,
  CertStatus,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  KeyHash,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  ResponderID,
  ResponseBytes,
  ResponseData,
  RevokedInfo,
  SingleResponse,
} from "@peculiar/asn1-ocsp";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, CRLReason, Extension } from "@peculiar/asn1-x509";
import { REASON_CODES } from "../crl/encode.js";
import { children, readTlv } from "../der.js";
import { signatureAlgorithmDer } from "../issue/leaf-encode.js";
import { type KeyType, signingDigest } from "../keys.js";
import { normalizeSerial } from "../pki.js";
import type { RevocationReason } from "../store/index-file.js";

/** CertID hash algorithms a responder must accept: SHA-1 (RFC 5019) and the SHA-2 family. */
export const CERT_ID_HASHES = new Map<string, "sha1" | "sha256" | "sha384" | "sha512">([
  ["1.3.14.3.2.26", "sha1"],
  ["2.16.840.1.101.3.4.2.1", "sha256"],
  ["2.16.840.1.101.3.4.2.2", "sha384"],
  ["2.16.840.1.101.3.4.2.3", "sha512"],
]);

/** RFC 8954 §2.1: a nonce is 1 to 32 octets; a longer one is refused rather than echoed. */
const MAX_NONCE_OCTETS = 32;
/** More requests than this in one message is not a gateway's request but an attempt to make us sign a lot. */
const MAX_QUERIES = 16;

export interface OcspQuery {
  hash: "sha1" | "sha256" | "sha384" | "sha512";
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  serial: string;
  /** The CertID exactly as the client sent it: echoed in the answer, which clients compare. */
  certId: CertID;
}

export interface ParsedOcspRequest {
  queries: OcspQuery[];
  /** The nonce extension's value (an OCTET STRING), echoed verbatim. */
  nonce?: ArrayBuffer;
}

export class MalformedOcspRequest extends Error {}

export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  let req: OCSPRequest;
  try {
    // The outer TLV must span the whole input: trailing bytes are not a request.
    if (readTlv(der, 0).end !== der.length) throw new Error("trailing data");
    req = AsnConvert.parse(Buffer.from(der), OCSPRequest);
  } catch (err) {
    throw new MalformedOcspRequest(`not an OCSP request (${(err as Error).message})`);
  }
  const list = req.tbsRequest.requestList;
  if (!list.length || list.length > MAX_QUERIES) throw new MalformedOcspRequest(`a request must ask about 1 to ${MAX_QUERIES} certificates`);
  const queries = list.map(({ reqCert }) => {
    const hash = CERT_ID_HASHES.get(reqCert.hashAlgorithm.algorithm);
    if (!hash) throw new MalformedOcspRequest(`unsupported CertID hash ${reqCert.hashAlgorithm.algorithm}`);
    const serialBytes = Buffer.from(reqCert.serialNumber);
    if (serialBytes.length === 0 || serialBytes.length > 21) throw new MalformedOcspRequest("bad serial number in CertID");
    return {
      hash,
      issuerNameHash: Buffer.from(reqCert.issuerNameHash.buffer),
      issuerKeyHash: Buffer.from(reqCert.issuerKeyHash.buffer),
      serial: normalizeSerial(serialBytes.toString("hex")),
      certId: reqCert,
    };
  });
  const nonceExt = req.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
  if (!nonceExt) return { queries };
  const value = nonceExt.extnValue.buffer;
  // extnValue holds an OCTET STRING whose content is the nonce (RFC 8954).
  let inner: number;
  try {
    const t = readTlv(new Uint8Array(value), 0);
    if (t.tag !== 0x04 || t.end !== value.byteLength) throw new Error();
    inner = t.end - t.start;
  } catch {
    throw new MalformedOcspRequest("the nonce is not an OCTET STRING");
  }
  if (inner < 1 || inner > MAX_NONCE_OCTETS) throw new MalformedOcspRequest(`the nonce must be 1 to ${MAX_NONCE_OCTETS} octets`);
  return { queries, nonce: value };
}

/** The subjectPublicKey bits of an SPKI: what CertID.issuerKeyHash and ResponderID.byKey hash. */
export function publicKeyBits(spki: Uint8Array): Buffer {
  const bits = children(spki, readTlv(spki, 0))[1];
  if (!bits) throw new Error("SPKI without subjectPublicKey");
  return Buffer.from(spki.subarray(bits.start + 1, bits.end));
}

/** The name and key hashes a CertID carries for an issuer, under one hash algorithm. */
export function issuerHashes(subjectDer: Uint8Array, spki: Uint8Array, hash: string): { name: Buffer; key: Buffer } {
  return {
    name: createHash(hash).update(subjectDer).digest(),
    key: createHash(hash).update(publicKeyBits(spki)).digest(),
  };
}

export type OcspCertStatus = { status: "good" } | { status: "unknown" } | { status: "revoked"; revokedAt: Date; reason: RevocationReason };

export interface OcspAnswer {
  certId: CertID;
  status: OcspCertStatus;
}

export interface OcspSigner {
  /** The delegated responder's certificate (DER), sent with every response. */
  certDer: Uint8Array;
  /**
   * The CAs between the responder and the root (DER): sent too, since a gateway verifies the
   * answer against its trust store alone, which holds the root (Apache's SSLOCSPEnable does).
   */
  chainDer: Uint8Array[];
  spki: Uint8Array;
  key: KeyObject;
  keyType: KeyType;
}

export interface BuildResponseParams {
  answers: OcspAnswer[];
  signer: OcspSigner;
  producedAt: Date;
  thisUpdate: Date;
  nextUpdate: Date;
  nonce?: ArrayBuffer;
}

const wholeSeconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

function certStatus(s: OcspCertStatus): CertStatus {
  if (s.status === "good") return new CertStatus({ good: null });
  if (s.status === "unknown") return new CertStatus({ unknown: null });
  const info = new RevokedInfo({ revocationTime: wholeSeconds(s.revokedAt) });
  // RFC 5280 §5.3.1: unspecified is expressed by leaving the reason out.
  if (s.reason !== "unspecified") info.revocationReason = new CRLReason(REASON_CODES[s.reason]);
  return new CertStatus({ revoked: info });
}

/** A signed, successful OCSP response (DER). */
export function buildOcspResponse(p: BuildResponseParams): Buffer {
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new KeyHash(createHash("sha1").update(publicKeyBits(p.signer.spki)).digest()) }),
    producedAt: wholeSeconds(p.producedAt),
    responses: p.answers.map(
      (a) =>
        new SingleResponse({
          certID: a.certId,
          certStatus: certStatus(a.status),
          thisUpdate: wholeSeconds(p.thisUpdate),
          nextUpdate: wholeSeconds(p.nextUpdate),
        }),
    ),
  });
  if (p.nonce) data.responseExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(p.nonce) })];
  const tbs = Buffer.from(AsnConvert.serialize(data));
  const signature = sign(signingDigest(p.signer.keyType), tbs, p.signer.key);
  const basic = new BasicOCSPResponse({
    tbsResponseData: data,
    signatureAlgorithm: AsnConvert.parse(signatureAlgorithmDer(p.signer.keyType), AlgorithmIdentifier),
    signature: new Uint8Array(signature).buffer,
    certs: [p.signer.certDer, ...p.signer.chainDer].map((der) => AsnConvert.parse(Buffer.from(der), Certificate)),
  });
  const response = new OCSPResponse({
    responseStatus: OCSPResponseStatus.successful,
    responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
  });
  return Buffer.from(AsnConvert.serialize(response));
}

export type OcspErrorStatus = "malformedRequest" | "internalError" | "tryLater" | "unauthorized";

/** An unsigned error response: RFC 6960 §2.3 has no responseBytes for these. */
export function buildOcspError(status: OcspErrorStatus): Buffer {
  return Buffer.from(AsnConvert.serialize(new OCSPResponse({ responseStatus: OCSPResponseStatus[status] })));
}
