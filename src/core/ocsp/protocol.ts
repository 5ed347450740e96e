// OCSP messages on the responder's side (RFC 6960, with the RFC 5019 lightweight profile).
// Encoded and decoded with our DER module rather than @peculiar/asn1-ocsp: measured on 10,000
// certificates, the schema library spent 1.1 ms parsing a request and 1.4 ms building an answer,
// which held the responder to ~340 answers/s (openssl ocsp: ~1,900/s on the same data). The
// client side (client.ts) keeps the library, where speed does not matter. Requests come from
// anyone who can reach the responder, so the parser is strict and bounded: a request is read
// only if every TLV is where RFC 6960 puts it and spans exactly its parent.
import { createHash, type KeyObject, sign } from "node:crypto";
import { REASON_CODES } from "../crl/encode.js";
import { children, generalizedTime, octets, oid, readOid, readTlv, seq, type Tlv, tlv } from "../der.js";
import { type KeyType, signingDigest } from "../keys.js";
import { normalizeSerial } from "../pki.js";
import type { RevocationReason } from "../store/index-file.js";
import { keyIdentifier, publicKeyBits, signatureAlgorithmDer, wholeSeconds } from "../x509/algorithm.js";

/** CertID hash algorithms a responder must accept: SHA-1 (RFC 5019) and the SHA-2 family. */
export const CERT_ID_HASHES = new Map<string, "sha1" | "sha256" | "sha384" | "sha512">([
  ["1.3.14.3.2.26", "sha1"],
  ["2.16.840.1.101.3.4.2.1", "sha256"],
  ["2.16.840.1.101.3.4.2.2", "sha384"],
  ["2.16.840.1.101.3.4.2.3", "sha512"],
]);
const HASH_LENGTHS = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 } as const;

export const OID_OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2";
const OID_OCSP_BASIC = "1.3.6.1.5.5.7.48.1.1";
/** RFC 8954 §2.1: a nonce is 1 to 32 octets; a longer one is refused rather than echoed. */
const MAX_NONCE_OCTETS = 32;
/** More requests than this in one message is not a gateway's request but an attempt to make us sign a lot. */
const MAX_QUERIES = 16;

export interface OcspQuery {
  hash: "sha1" | "sha256" | "sha384" | "sha512";
  issuerNameHash: Buffer;
  issuerKeyHash: Buffer;
  serial: string;
  /** The CertID exactly as the client sent it (DER): echoed in the answer, which clients compare. */
  certId: Buffer;
}

export interface ParsedOcspRequest {
  queries: OcspQuery[];
  /** The nonce extension's extnValue (an OCTET STRING's DER), echoed verbatim. */
  nonce?: Buffer;
}

export class MalformedOcspRequest extends Error {}

function expect(buf: Uint8Array, t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new MalformedOcspRequest(`${what} is missing or of the wrong type`);
  return t;
}

/** The TLVs inside `t`, read strictly (throws MalformedOcspRequest on any encoding fault). */
function kids(buf: Uint8Array, t: Tlv): Tlv[] {
  try {
    return children(buf, t);
  } catch (err) {
    throw new MalformedOcspRequest((err as Error).message);
  }
}

function parseCertId(buf: Uint8Array, t: Tlv): OcspQuery {
  const [alg, nameHash, keyHash, serial, ...rest] = kids(buf, expect(buf, t, 0x30, "CertID"));
  if (rest.length) throw new MalformedOcspRequest("CertID has extra fields");
  const [algOid, params, ...more] = kids(buf, expect(buf, alg, 0x30, "CertID hashAlgorithm"));
  // The parameters are absent or NULL (RFC 5754 §2); anything else is not a hash we know.
  if (more.length || (params && (params.tag !== 0x05 || params.end !== params.start))) throw new MalformedOcspRequest("bad hashAlgorithm parameters");
  const hash = CERT_ID_HASHES.get(readOid(buf, expect(buf, algOid, 0x06, "hash algorithm")));
  if (!hash) throw new MalformedOcspRequest("unsupported CertID hash algorithm");
  const n = expect(buf, nameHash, 0x04, "issuerNameHash");
  const k = expect(buf, keyHash, 0x04, "issuerKeyHash");
  if (n.end - n.start !== HASH_LENGTHS[hash] || k.end - k.start !== HASH_LENGTHS[hash]) throw new MalformedOcspRequest("issuer hashes of the wrong length");
  const s = expect(buf, serial, 0x02, "serialNumber");
  if (s.end - s.start < 1 || s.end - s.start > 21) throw new MalformedOcspRequest("bad serial number in CertID");
  return {
    hash,
    issuerNameHash: Buffer.from(buf.subarray(n.start, n.end)),
    issuerKeyHash: Buffer.from(buf.subarray(k.start, k.end)),
    serial: normalizeSerial(Buffer.from(buf.subarray(s.start, s.end)).toString("hex")),
    certId: Buffer.from(buf.subarray(t.offset, t.end)),
  };
}

/** The nonce among [2] EXPLICIT requestExtensions, validated as RFC 8954 asks. */
function findNonce(buf: Uint8Array, exts: Tlv): Buffer | undefined {
  for (const ext of kids(buf, expect(buf, kids(buf, exts)[0], 0x30, "requestExtensions"))) {
    const parts = kids(buf, expect(buf, ext, 0x30, "Extension"));
    if (readOid(buf, expect(buf, parts[0], 0x06, "extnID")) !== OID_OCSP_NONCE) continue;
    const value = expect(buf, parts.at(-1), 0x04, "the nonce extension's value");
    let inner: Tlv;
    try {
      inner = readTlv(buf, value.start);
    } catch {
      throw new MalformedOcspRequest("the nonce is not an OCTET STRING");
    }
    if (inner.tag !== 0x04 || inner.end !== value.end) throw new MalformedOcspRequest("the nonce is not an OCTET STRING");
    if (inner.end - inner.start < 1 || inner.end - inner.start > MAX_NONCE_OCTETS)
      throw new MalformedOcspRequest(`the nonce must be 1 to ${MAX_NONCE_OCTETS} octets`);
    return Buffer.from(buf.subarray(value.start, value.end));
  }
  return undefined;
}

export function parseOcspRequest(der: Uint8Array): ParsedOcspRequest {
  let outer: Tlv;
  try {
    outer = readTlv(der, 0);
  } catch (err) {
    throw new MalformedOcspRequest(`not an OCSP request (${(err as Error).message})`);
  }
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new MalformedOcspRequest("not an OCSP request (trailing data or not a SEQUENCE)");
  const tbs = expect(der, kids(der, outer)[0], 0x30, "tbsRequest");
  let list: Tlv | undefined;
  let nonce: Buffer | undefined;
  for (const part of kids(der, tbs)) {
    if (part.tag === 0x30 && !list) list = part;
    else if (part.tag === 0xa2 && list) nonce = findNonce(der, part);
    else if ((part.tag === 0xa0 || part.tag === 0xa1) && !list)
      continue; // version, requestorName
    else throw new MalformedOcspRequest("unexpected field in tbsRequest");
  }
  const requests = kids(der, expect(der, list, 0x30, "requestList"));
  if (!requests.length || requests.length > MAX_QUERIES) throw new MalformedOcspRequest(`a request must ask about 1 to ${MAX_QUERIES} certificates`);
  const queries = requests.map((r) => parseCertId(der, kids(der, expect(der, r, 0x30, "Request"))[0] as Tlv));
  return nonce ? { queries, nonce } : { queries };
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
  /** The CertID as asked (DER). */
  certId: Buffer;
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
  nonce?: Buffer;
}

function certStatus(s: OcspCertStatus): Buffer {
  if (s.status === "good") return Buffer.from([0x80, 0x00]); // [0] IMPLICIT NULL
  if (s.status === "unknown") return Buffer.from([0x82, 0x00]); // [2] IMPLICIT NULL
  // RFC 5280 §5.3.1: unspecified is expressed by leaving the reason out.
  const reason = s.reason === "unspecified" ? [] : [tlv(0xa0, tlv(0x0a, Buffer.from([REASON_CODES[s.reason]])))];
  return tlv(0xa1, Buffer.concat([generalizedTime(wholeSeconds(s.revokedAt)), ...reason]));
}

/** A signed, successful OCSP response (DER). */
export function buildOcspResponse(p: BuildResponseParams): Buffer {
  const keyHash = keyIdentifier(p.signer.spki); // ResponderID byKey: SHA-1 of the key's bits
  const [thisUpdate, nextUpdate] = [generalizedTime(wholeSeconds(p.thisUpdate)), tlv(0xa0, generalizedTime(wholeSeconds(p.nextUpdate)))];
  const responses = p.answers.map((a) => seq(a.certId, certStatus(a.status), thisUpdate, nextUpdate));
  const tbs = seq(
    tlv(0xa2, octets(keyHash)), // responderID byKey
    generalizedTime(wholeSeconds(p.producedAt)),
    seq(...responses),
    ...(p.nonce ? [tlv(0xa1, seq(seq(oid(OID_OCSP_NONCE), octets(p.nonce))))] : []),
  );
  // Signed synchronously with the delegated responder's in-memory key, not through an async
  // Signer: this is the responder's hot path, and responder keys never live on a token.
  const signature = sign(signingDigest(p.signer.keyType), tbs, p.signer.key);
  const basic = seq(
    tbs,
    signatureAlgorithmDer(p.signer.keyType),
    tlv(0x03, Buffer.concat([Buffer.from([0]), signature])),
    tlv(0xa0, seq(...[p.signer.certDer, ...p.signer.chainDer].map((c) => Buffer.from(c)))),
  );
  return seq(tlv(0x0a, Buffer.from([0])), tlv(0xa0, seq(oid(OID_OCSP_BASIC), octets(basic))));
}

const ERROR_STATUS = { malformedRequest: 1, internalError: 2, tryLater: 3, unauthorized: 6 } as const;
export type OcspErrorStatus = keyof typeof ERROR_STATUS;

/** An unsigned error response: RFC 6960 §2.3 has no responseBytes for these. */
export function buildOcspError(status: OcspErrorStatus): Buffer {
  return seq(tlv(0x0a, Buffer.from([ERROR_STATUS[status]])));
}
