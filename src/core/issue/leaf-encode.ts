// Partner certificates encoded directly in DER. Every partner leaf has the same profile, so only
// the serial, validity, subject, key, key identifiers and SANs vary; encoding them here instead
// of through @peculiar/x509 (whose asn1js encode-then-parse dominated batch issuance) makes a
// certificate cost little more than its signature. A unit test holds the TBSCertificate
// byte-for-byte equal to what @peculiar/x509 produces for the same inputs.
import { createHash, type KeyObject, sign, webcrypto } from "node:crypto";
import { isIP } from "node:net";
import { children, ecdsaRawToDer, NULL, octets, oid, readTlv, seq, time, tlv, uint } from "../der.js";
import { type KeyType, keyAlgorithms, signingDigest } from "../keys.js";
import { encodePem } from "../pem.js";
import { type CertInfo, normalizeSerial, sha256Fingerprint } from "../pki.js";
import type { San } from "../sans.js";
import type { Signer } from "../x509/signer.js";

const BASIC_CONSTRAINTS_LEAF = Buffer.from("300c0603551d130101ff04023000", "hex");
const KEY_USAGE_DIGITAL_SIGNATURE = Buffer.from("300e0603551d0f0101ff040403020780", "hex");
const EKU_OIDS: Record<string, string> = { clientAuth: "1.3.6.1.5.5.7.3.2", serverAuth: "1.3.6.1.5.5.7.3.1" };

export function signatureAlgorithmDer(type: KeyType): Buffer {
  if (type === "ec-p256") return seq(oid("1.2.840.10045.4.3.2"));
  if (type === "ec-p384") return seq(oid("1.2.840.10045.4.3.3"));
  return seq(oid("1.2.840.113549.1.1.11"), NULL);
}

const extension = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []), octets(value));

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

function generalName(s: San): Buffer {
  switch (s.type) {
    case "dns":
      return tlv(0x82, Buffer.from(s.value, "ascii"));
    case "uri":
      return tlv(0x86, Buffer.from(s.value, "ascii"));
    case "email":
      return tlv(0x81, Buffer.from(s.value, "ascii"));
    case "ip": {
      if (isIP(s.value) === 4) return tlv(0x87, Buffer.from(s.value.split(".").map(Number)));
      // Expand "::" and write the 8 groups.
      const [head = "", tail = ""] = s.value.split("::");
      const h = head ? head.split(":") : [];
      const t = s.value.includes("::") ? (tail ? tail.split(":") : []) : [];
      const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
      return tlv(0x87, Buffer.from(groups.flatMap((g) => [Number.parseInt(g, 16) >> 8, Number.parseInt(g, 16) & 0xff])));
    }
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
  /** The CA's Signer (a file or token key); or signingKey / signingKeyObject. */
  signer?: Signer;
  signingKey?: CryptoKey;
  /** When given, signs synchronously with node:crypto (no thread-pool round trip). */
  signingKeyObject?: KeyObject;
  signingKeyType: KeyType;
}

export function leafTbs(p: LeafParams): Buffer {
  const alg = signatureAlgorithmDer(p.signingKeyType);
  const exts: Buffer[] = [BASIC_CONSTRAINTS_LEAF, KEY_USAGE_DIGITAL_SIGNATURE];
  if (p.extKeyUsage.length) exts.push(extension("2.5.29.37", false, seq(...p.extKeyUsage.map((u) => oid(EKU_OIDS[u] ?? u)))));
  exts.push(extension("2.5.29.14", false, octets(keyIdentifier(p.spki))));
  exts.push(extension("2.5.29.35", false, seq(tlv(0x80, Buffer.from(p.issuerKeyId, "hex")))));
  if (p.sans.length) exts.push(extension("2.5.29.17", p.subjectEmpty, seq(...p.sans.map(generalName))));
  if (p.crlUrl) exts.push(extension("2.5.29.31", false, seq(seq(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(p.crlUrl, "ascii"))))))));
  if (p.ocspUrl) exts.push(extension("1.3.6.1.5.5.7.1.1", false, seq(seq(oid("1.3.6.1.5.5.7.48.1"), tlv(0x86, Buffer.from(p.ocspUrl, "ascii"))))));
  const whole = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
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
  const alg = signatureAlgorithmDer(p.signingKeyType);
  const tbs = leafTbs(p);
  let sig: Buffer;
  if (p.signingKeyObject) {
    // ECDSA comes out DER-encoded (dsaEncoding "der" is node's default), RSA as PKCS#1 v1.5.
    sig = sign(signingDigest(p.signingKeyType), tbs, p.signingKeyObject);
  } else if (p.signer) {
    sig = Buffer.from(await p.signer.sign(tbs));
  } else {
    if (!p.signingKey) throw new Error("createLeaf needs a signer or a signing key");
    const raw = new Uint8Array(await webcrypto.subtle.sign(keyAlgorithms(p.signingKeyType).sign as AlgorithmIdentifier, p.signingKey, tbs));
    sig = p.signingKeyType.startsWith("ec-") ? ecdsaRawToDer(raw) : Buffer.from(raw);
  }
  const der = seq(tbs, alg, tlv(0x03, Buffer.concat([Buffer.from([0]), sig])));
  const whole = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
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
