// The X.509 building blocks every signed object shares (certificates, CRLs, OCSP responses):
// written once here, used by leaf-encode, crl/encode and ocsp/protocol.
import { createHash } from "node:crypto";
import { children, NULL, oid, readTlv, seq, tlv } from "../der.js";
import type { KeyType } from "../keys.js";

/** The signature AlgorithmIdentifier (DER) for a CA key of `type`: ecdsa-with-SHA256/384 or sha256WithRSAEncryption. */
export function signatureAlgorithmDer(type: KeyType): Buffer {
  if (type === "ec-p256") return seq(oid("1.2.840.10045.4.3.2"));
  if (type === "ec-p384") return seq(oid("1.2.840.10045.4.3.3"));
  return seq(oid("1.2.840.113549.1.1.11"), NULL);
}

/** The subjectPublicKey BIT STRING's bits: what key identifiers and OCSP key hashes digest. */
export function publicKeyBits(spki: Uint8Array): Buffer {
  const bits = children(spki, readTlv(spki, 0))[1];
  if (!bits) throw new Error("SPKI without subjectPublicKey");
  return Buffer.from(spki.subarray(bits.start + 1, bits.end));
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
export function keyIdentifier(spki: Uint8Array): Buffer {
  return createHash("sha1").update(publicKeyBits(spki)).digest();
}

/** The AuthorityKeyIdentifier extension value (keyIdentifier only), as certificates and CRLs carry it. */
export const authorityKeyIdentifierValue = (keyId: Uint8Array): Buffer => seq(tlv(0x80, keyId));

/** X.509 times have whole seconds: what a certificate or CRL says once encoded. */
export const wholeSeconds = (d: Date): Date => new Date(Math.floor(d.getTime() / 1000) * 1000);

/** The signed object: SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }. */
export function wrapSigned(tbs: Uint8Array, algorithm: Uint8Array, signature: Uint8Array): Buffer {
  return seq(tbs, algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
}
