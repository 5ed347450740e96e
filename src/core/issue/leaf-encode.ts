// Partner certificates encoded directly in DER. Every partner leaf has the same profile, so only
// the serial, validity, subject, key, key identifiers and SANs vary; encoding them here instead
// of through @peculiar/x509 (whose asn1js encode-then-parse dominated batch issuance) makes a
// certificate cost little more than its signature. A unit test holds the TBSCertificate
// byte-for-byte equal to what @peculiar/x509 produces for the same inputs.
import type { KeyObject } from "node:crypto";
import { type CertInfo, normalizeSerial, sha256Fingerprint } from "../cert.js";
import { octets, oid, seq, time, tlv, uint } from "../der.js";
import { ipBytes } from "../ip.js";
import type { KeyType } from "../keys.js";
import { encodePem } from "../pem.js";
import type { San } from "../sans.js";
import { authorityKeyIdentifierValue, keyIdentifier, publicKeyBits, signatureAlgorithmDer, wholeSeconds } from "../x509/algorithm.js";
import { cryptoKeySigner, keyObjectSigner, type Signer, signAndWrap } from "../x509/signer.js";

const BASIC_CONSTRAINTS_LEAF = Buffer.from("300c0603551d130101ff04023000", "hex");
const KEY_USAGE_DIGITAL_SIGNATURE = Buffer.from("300e0603551d0f0101ff040403020780", "hex");
const EKU_OIDS: Record<string, string> = { clientAuth: "1.3.6.1.5.5.7.3.2", serverAuth: "1.3.6.1.5.5.7.3.1" };

// Written once in core/x509; re-exported for the modules that import them from here.
export { keyIdentifier, publicKeyBits, signatureAlgorithmDer };

const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), octets(value));

function generalName(s: San): Buffer {
  switch (s.type) {
    case "dns":
      return tlv(0x82, Buffer.from(s.value, "ascii"));
    case "uri":
      return tlv(0x86, Buffer.from(s.value, "ascii"));
    case "email":
      return tlv(0x81, Buffer.from(s.value, "ascii"));
    case "ip":
      return tlv(0x87, ipBytes(s.value));
  }
}

export interface LeafParams {
  serial: string;
  /** The subject Name, DER. */
  subjectDer: Uint8Array;
  subjectEmpty: boolean;
  /** The issuer's subject Name (DER) and subject key identifier (hex). */
  issuerDer: Uint8Array;
  issuerKeyId: string;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
  sans: San[];
  extKeyUsage: string[];
  crlUrl?: string;
  /** The OCSP responder, written as Authority Information Access (RFC 5280 §4.2.2.1). */
  ocspUrl?: string;
  /** A key in memory; a token key has none and signs through `signer`. */
  signingKey?: CryptoKey;
  /** When given, signs synchronously with node:crypto (no thread-pool round trip). */
  signingKeyObject?: KeyObject;
  signingKeyType: KeyType;
  /** Signs instead of the key fields above (a CA key's Signer: a file key or a token key). */
  signer?: Signer;
}

/** The signer of a leaf: the one given, or one over the key fields (its spki is not needed to sign). */
const signerFor = (p: LeafParams): Signer =>
  p.signer ??
  (p.signingKeyObject
    ? keyObjectSigner(p.signingKeyObject, p.signingKeyType, new Uint8Array())
    : p.signingKey
      ? cryptoKeySigner(p.signingKey, p.signingKeyType, new Uint8Array())
      : missingKey());

function missingKey(): never {
  throw new Error("a leaf needs a signer or a signing key");
}

export function leafTbs(p: LeafParams): Buffer {
  const alg = p.signer?.algorithm ?? signatureAlgorithmDer(p.signingKeyType);
  const exts: Buffer[] = [BASIC_CONSTRAINTS_LEAF, KEY_USAGE_DIGITAL_SIGNATURE];
  if (p.extKeyUsage.length) exts.push(extension("2.5.29.37", false, seq(...p.extKeyUsage.map((u) => oid(EKU_OIDS[u] ?? u)))));
  exts.push(extension("2.5.29.14", false, octets(keyIdentifier(p.spki))));
  exts.push(extension("2.5.29.35", false, authorityKeyIdentifierValue(Buffer.from(p.issuerKeyId, "hex"))));
  if (p.sans.length) exts.push(extension("2.5.29.17", p.subjectEmpty, seq(...p.sans.map(generalName))));
  if (p.crlUrl) exts.push(extension("2.5.29.31", false, seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(p.crlUrl, "ascii"))))))));
  if (p.ocspUrl) exts.push(extension("1.3.6.1.5.5.7.1.1", false, seq(seq(oid("1.3.6.1.5.5.7.48.1"), tlv(0x86, Buffer.from(p.ocspUrl, "ascii"))))));
  const whole = wholeSeconds;
  return seq(
    Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]), // [0] EXPLICIT version v3
    uint(p.serial),
    alg,
    Buffer.from(p.issuerDer),
    seq(time(whole(p.notBefore)), time(whole(p.notAfter))),
    Buffer.from(p.subjectDer),
    Buffer.from(p.spki),
    tlv(0xa3, seq(...exts)),
  );
}

/** Signs a partner leaf and describes it without parsing it back. */
export async function createLeaf(p: LeafParams & { subjectText: string; commonNames: string[]; issuerText: string }): Promise<CertInfo> {
  const tbs = leafTbs(p);
  const der = await signAndWrap(signerFor(p), tbs);
  const whole = wholeSeconds;
  return {
    der,
    pem: encodePem("CERTIFICATE", der),
    serial: normalizeSerial(p.serial),
    subject: p.subjectText,
    commonNames: p.commonNames,
    issuer: p.issuerText,
    subjectDer: Buffer.from(p.subjectDer),
    issuerDer: Buffer.from(p.issuerDer),
    notBefore: whole(p.notBefore),
    notAfter: whole(p.notAfter),
    fingerprint: sha256Fingerprint(der),
    spki: Buffer.from(p.spki),
    sans: p.sans,
    isCa: false,
    keyUsage: ["digitalSignature"],
    extKeyUsage: p.extKeyUsage,
    subjectKeyId: keyIdentifier(p.spki).toString("hex"),
    authorityKeyId: p.issuerKeyId,
    crlUrls: p.crlUrl ? [p.crlUrl] : [],
    ...(p.ocspUrl ? { ocspUrls: [p.ocspUrl] } : {}),
  };
}
