// What `mtls inspect` reports about each object it finds, as plain data (the CLI renders it).
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { children, readOid, readTlv, type Tlv } from "../der.js";
import { describePublicKey } from "../keys.js";
import { encodePem } from "../pem.js";
import type { CertInfo, CsrInfo } from "../pki.js";
import { formatSan } from "../sans.js";
import { iso } from "../time.js";
import type { CrlEntryList } from "./crl-entries.js";

export interface PublicKeyFacts {
  /** "ec-p256", "rsa-2048", "ed25519" … */
  type: string;
  bits?: number;
  curve?: string;
  /** sha256 over the SubjectPublicKeyInfo DER (what `openssl pkey -pubout -outform DER | sha256sum` gives). */
  spkiSha256: string;
}

export interface CertificateFacts {
  type: "certificate";
  serial: string;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  sans: string[];
  publicKey: PublicKeyFacts;
  signatureAlgorithm: string;
  isCa: boolean;
  pathLen?: number;
  keyUsage: string[];
  extKeyUsage: string[];
  subjectKeyId?: string;
  authorityKeyId?: string;
  crlUrls: string[];
  selfSigned: boolean;
  fingerprint: string;
}

export interface CsrFacts {
  type: "csr";
  subject: string;
  sans: string[];
  unsupportedSans: string[];
  publicKey: PublicKeyFacts;
  requestedExtensions: string[];
  signatureValid: boolean;
}

export interface CrlFacts {
  type: "crl";
  issuer: string;
  number?: string;
  thisUpdate: string;
  nextUpdate?: string;
  signatureAlgorithm: string;
  authorityKeyId?: string;
  /** Read from the CRL as they are listed: see CrlEntryList. */
  entries: CrlEntryList;
  /** Set when a PKI is present: verified against which of its CAs. */
  signedBy?: string;
}

export interface PrivateKeyFacts {
  type: "private-key";
  encrypted: boolean;
  /** The PEM label or DER structure it came as: "PKCS#8", "RSA PRIVATE KEY" … */
  format: string;
  /** How an encrypted key is protected, when that can be read without the passphrase. */
  encryption?: string;
  /** Only for keys in the clear: their public half. The private key is never reported. */
  publicKey?: PublicKeyFacts;
  publicKeyPem?: string;
}

export interface Pkcs12Facts {
  type: "pkcs12";
  mac?: { algorithm: string; iterations: number; verified?: boolean };
  encryption: Array<{ name: string; iterations?: number; supported: boolean }>;
  /** Which profile the file matches, if one of mtls's: modern or legacy-des. */
  profile?: string;
  friendlyNames: string[];
  certificates: number;
  keys: Array<{ publicKey?: PublicKeyFacts }>;
  unreadable: string[];
}

export interface BundleFacts {
  type: "bundle";
  /** "zip" (a plain bundle: manifest readable) or "openpgp" (encrypted: only its envelope). */
  container: "zip" | "openpgp";
  armored?: boolean;
  bytes: number;
  manifest?: Record<string, unknown>;
  files?: Array<{ name: string; bytes: number }>;
  /** Key ids the message is encrypted to (hex, upper case as gpg prints them). */
  recipients?: string[];
}

export type InspectedObject = CertificateFacts | CsrFacts | CrlFacts | PrivateKeyFacts | Pkcs12Facts | BundleFacts;

const SIG_NAMES: Record<string, string> = {
  "1.2.840.10045.4.3.2": "ecdsa-with-SHA256",
  "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
  "1.2.840.10045.4.3.4": "ecdsa-with-SHA512",
  "1.2.840.10045.4.1": "ecdsa-with-SHA1",
  "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
  "1.2.840.113549.1.1.12": "sha384WithRSAEncryption",
  "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
  "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
  "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
  "1.2.840.113549.1.1.10": "rsassaPss",
  "1.3.101.112": "ED25519",
  "1.3.101.113": "ED448",
};

export const signatureName = (oid: string): string => SIG_NAMES[oid] ?? oid;

/** The outer signatureAlgorithm of a signed object (certificate, CRL, CSR). */
export function outerSignatureAlgorithm(der: Uint8Array): string {
  const alg = children(der, readTlv(der, 0))[1] as Tlv;
  return signatureName(readOid(der, children(der, alg)[0] as Tlv));
}

export function publicKeyFacts(spki: Uint8Array): PublicKeyFacts {
  const k = describePublicKey(spki);
  return {
    type: k.label,
    ...(k.bits ? { bits: k.bits } : {}),
    ...(k.curve ? { curve: k.curve } : {}),
    spkiSha256: `sha256:${createHash("sha256").update(spki).digest("hex")}`,
  };
}

export function certificateFacts(c: CertInfo): CertificateFacts {
  return {
    type: "certificate",
    serial: c.serial,
    subject: c.subject,
    issuer: c.issuer,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    sans: c.sans.map(formatSan),
    publicKey: publicKeyFacts(c.spki),
    signatureAlgorithm: outerSignatureAlgorithm(c.der),
    isCa: c.isCa,
    // A length past 2^53 constrains nothing a chain could reach: shown as no constraint, not Infinity.
    ...(c.pathLen !== undefined && Number.isSafeInteger(c.pathLen) ? { pathLen: c.pathLen } : {}),
    keyUsage: c.keyUsage,
    extKeyUsage: c.extKeyUsage,
    ...(c.subjectKeyId ? { subjectKeyId: c.subjectKeyId } : {}),
    ...(c.authorityKeyId ? { authorityKeyId: c.authorityKeyId } : {}),
    crlUrls: c.crlUrls,
    selfSigned: c.subjectDer.equals(c.issuerDer),
    fingerprint: c.fingerprint,
  };
}

export function csrFacts(c: CsrInfo): CsrFacts {
  return {
    type: "csr",
    subject: c.subject,
    sans: c.sans.map(formatSan),
    unsupportedSans: c.unsupportedSans,
    publicKey: publicKeyFacts(c.spki),
    requestedExtensions: c.requestedExtensions,
    signatureValid: c.signatureValid,
  };
}

/** A private key in the clear: its type and public half, and nothing of the key itself. */
export function clearKeyFacts(key: Parameters<typeof createPrivateKey>[0], format: string): PrivateKeyFacts {
  const spki = createPublicKey(createPrivateKey(key)).export({ format: "der", type: "spki" });
  return { type: "private-key", encrypted: false, format, publicKey: publicKeyFacts(spki), publicKeyPem: encodePem("PUBLIC KEY", spki) };
}
