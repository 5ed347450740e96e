// The adapter for @peculiar/x509 (and the reflect-metadata polyfill it needs). Nothing else in
// the project imports either, so the rest of the core deals in bytes, strings and CryptoKeys.
import "reflect-metadata";
import { createHash, webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { children, ecdsaDerToRaw, readTlv, whole } from "./der.js";
import { inputError } from "./errors.js";
import { type KeyType, keyAlgorithms } from "./keys.js";
import { encodePem } from "./pem.js";
import type { San } from "./sans.js";
import { wholeSeconds } from "./x509/algorithm.js";
import type { Signer } from "./x509/signer.js";

// Crypto provider: Node's built-in WebCrypto rather than @peculiar/webcrypto. Measured on our
// machines (shared/notes/libraries.md §2): both support every algorithm we use (ECDSA P-256/384,
// RSASSA-PKCS1-v1_5) and OpenSSL accepts both outputs; @peculiar/webcrypto adds ~130 ms to every
// command's start-up and its CryptoKeys do not convert to Node KeyObjects, while its ~1.3x
// issuance throughput is irrelevant next to file I/O. So: no extra dependency.
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export interface DistinguishedName {
  /** Relative distinguished names in encoding order, e.g. [["O", "Acme"], ["CN", "Acme Root CA"]]. */
  rdns?: Array<[string, string]>;
  /** An already encoded Name, copied byte for byte (a CSR's subject). */
  der?: Uint8Array;
}

export interface CertInfo {
  der: Buffer;
  pem: string;
  /** Lowercase hex without leading zero bytes, as stored in the index. */
  serial: string;
  subject: string;
  /** The subject's commonName values (usually one). */
  commonNames: string[];
  issuer: string;
  subjectDer: Buffer;
  issuerDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** "sha256:<hex>" over the DER. */
  fingerprint: string;
  spki: Buffer;
  sans: San[];
  isCa: boolean;
  pathLen?: number;
  keyUsage: string[];
  extKeyUsage: string[];
  subjectKeyId?: string;
  authorityKeyId?: string;
  crlUrls: string[];
  /** OCSP responders named in Authority Information Access. */
  ocspUrls?: string[];
}

/** A copy backed by a plain ArrayBuffer, the only kind the WebCrypto and ASN.1 typings accept. */
const ab = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

export const sha256Fingerprint = (der: Uint8Array): string => `sha256:${createHash("sha256").update(der).digest("hex")}`;

/** Serial numbers compare as lowercase hex without leading zeros (OpenSSL prints upper case). */
export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/[:\s]/g, "").replace(/^0+/, "");
  return s === "" ? "0" : s;
}

const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.4": "emailProtection",
  "1.3.6.1.5.5.7.3.8": "timeStamping",
  "1.3.6.1.5.5.7.3.9": "OCSPSigning",
};
const EKU_OIDS = Object.fromEntries(Object.entries(EKU_NAMES).map(([k, v]) => [v, k]));

const KEY_USAGE_NAMES: Array<[number, string]> = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
];

export const EXTENSION_NAMES: Record<string, string> = {
  "2.5.29.14": "subjectKeyIdentifier",
  "2.5.29.15": "keyUsage",
  "2.5.29.17": "subjectAltName",
  "2.5.29.19": "basicConstraints",
  "2.5.29.30": "nameConstraints",
  "2.5.29.31": "cRLDistributionPoints",
  "2.5.29.32": "certificatePolicies",
  "2.5.29.35": "authorityKeyIdentifier",
  "2.5.29.37": "extKeyUsage",
  "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
  "1.3.6.1.5.5.7.1.24": "tlsFeature",
};

function toSans(names: readonly x509.GeneralName[]): { sans: San[]; unsupported: string[] } {
  const sans: San[] = [];
  const unsupported: string[] = [];
  for (const n of names) {
    if (n.type === "dns") sans.push({ type: "dns", value: n.value });
    else if (n.type === "url") sans.push({ type: "uri", value: n.value });
    else if (n.type === "email") sans.push({ type: "email", value: n.value });
    else if (n.type === "ip") sans.push({ type: "ip", value: n.value });
    else unsupported.push(`${n.type}:${n.value}`);
  }
  return { sans, unsupported };
}

function parseX509(der: Uint8Array): x509.X509Certificate {
  return new x509.X509Certificate(ab(der));
}

/** Reads a certificate (DER). Throws an input error naming `what` when it is not one. */
export function parseCertificate(der: Uint8Array, what = "certificate"): CertInfo {
  let cert: x509.X509Certificate;
  try {
    cert = parseX509(der);
  } catch (err) {
    throw inputError("ERR_CERT_PARSE", `${what} is not a valid X.509 certificate`, undefined, err);
  }
  return describeCert(cert);
}

function describeCert(cert: x509.X509Certificate): CertInfo {
  const der = Buffer.from(cert.rawData);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
  const cdp = cert.getExtension(x509.CRLDistributionPointsExtension);
  const crlUrls: string[] = [];
  for (const dp of cdp?.distributionPoints ?? []) {
    for (const gn of dp.distributionPoint?.fullName ?? []) if (gn.uniformResourceIdentifier) crlUrls.push(gn.uniformResourceIdentifier);
  }
  return {
    der,
    pem: encodePem("CERTIFICATE", der),
    serial: normalizeSerial(cert.serialNumber),
    subject: cert.subject,
    commonNames: cert.subjectName.getField("CN"),
    issuer: cert.issuer,
    subjectDer: Buffer.from(cert.subjectName.toArrayBuffer()),
    issuerDer: Buffer.from(cert.issuerName.toArrayBuffer()),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    fingerprint: sha256Fingerprint(der),
    spki: Buffer.from(cert.publicKey.rawData),
    sans: san ? toSans(san.names.items).sans : [],
    isCa: bc?.ca ?? false,
    ...(bc?.pathLength !== undefined ? { pathLen: bc.pathLength } : {}),
    keyUsage: ku ? KEY_USAGE_NAMES.filter(([flag]) => (ku.usages & flag) !== 0).map(([, name]) => name) : [],
    extKeyUsage: (eku?.usages ?? []).map((u) => EKU_NAMES[String(u)] ?? String(u)),
    ...(ski ? { subjectKeyId: ski.keyId } : {}),
    ...(aki?.keyId ? { authorityKeyId: aki.keyId } : {}),
    crlUrls,
  };
}

/** True when `cert` carries a valid signature by the holder of `issuer`'s key. */
export async function isSignedBy(cert: CertInfo, issuer: CertInfo): Promise<boolean> {
  try {
    return await parseX509(cert.der).verify({ publicKey: new x509.PublicKey(ab(issuer.spki)), signatureOnly: true });
  } catch {
    return false;
  }
}

/** The CNs of a subject in its stored text form (the index of stores from before #12 keeps no other). */
export function commonNamesFromText(text: string): string[] {
  // Without a backslash or quote nothing is escaped, so "," and "+" are separators and a split is
  // exact: ~20x faster than parsing the Name, which matters for an index of 100,000 such records.
  if (!/[\\"]/.test(text))
    return text
      .split(/[,+]/)
      .map((p) => p.trim())
      .filter((p) => p.startsWith("CN="))
      .map((p) => p.slice(3));
  try {
    return new x509.Name(text).getField("CN");
  } catch {
    return [];
  }
}

/** A Name as encoded DER plus the text and CNs people see. */
export interface NameInfo {
  der: Buffer;
  text: string;
  commonNames: string[];
  empty: boolean;
}

export function describeName(dn: DistinguishedName): NameInfo {
  const name = toName(dn);
  return { der: Buffer.from(name.toArrayBuffer()), text: name.toString(), commonNames: name.getField("CN"), empty: name.toJSON().length === 0 };
}

export interface CsrInfo {
  subject: string;
  subjectDer: Buffer;
  /** True when the subject has no attributes at all. */
  subjectEmpty: boolean;
  spki: Buffer;
  sans: San[];
  /** SAN entries of types we do not issue (otherName, directoryName, registeredID ...). */
  unsupportedSans: string[];
  /** Every extension the CSR asks for, by name, e.g. "basicConstraints (CA:true)". */
  requestedExtensions: string[];
  signatureValid: boolean;
}

// asn1js refuses inputs past these limits instead of allocating without bound (hostile CSRs).
const PARSE_LIMITS = { berOptions: { maxNodes: 10_000, maxDepth: 64 } } as unknown as x509.ParseOptions;

/** Parses a PKCS#10 request (DER) and checks its self-signature. Throws an input error when unparsable. */
export async function parseCsr(der: Uint8Array, what: string): Promise<CsrInfo> {
  let csr: x509.Pkcs10CertificateRequest;
  let subjectDer: Buffer;
  let sans: San[] = [];
  let unsupported: string[] = [];
  const requested: string[] = [];
  try {
    csr = new x509.Pkcs10CertificateRequest(ab(der), PARSE_LIMITS);
    for (const ext of csr.extensions) {
      const name = EXTENSION_NAMES[ext.type] ?? ext.type;
      if (ext instanceof x509.SubjectAlternativeNameExtension) {
        ({ sans, unsupported } = toSans(ext.names.items));
      } else if (ext instanceof x509.BasicConstraintsExtension) {
        requested.push(`${name} (CA:${ext.ca})`);
      } else if (ext instanceof x509.ExtendedKeyUsageExtension) {
        requested.push(`${name} (${ext.usages.map((u) => EKU_NAMES[String(u)] ?? String(u)).join(", ")})`);
      } else {
        requested.push(name);
      }
    }
    // Touch the fields we rely on so a malformed body fails here, inside the try.
    void csr.subject;
    void csr.publicKey.rawData;
    // The subject exactly as the partner encoded it: re-serialising the parsed Name would
    // silently "repair" (and so hide) strings that are not what their ASN.1 type says.
    const info = children(der, readTlv(der, 0))[0];
    const subjectTlv = info ? children(der, info)[1] : undefined;
    if (!subjectTlv) throw new Error("no subject");
    subjectDer = whole(der, subjectTlv);
  } catch (err) {
    throw inputError("ERR_CSR_PARSE", `${what} is not a valid PKCS#10 certificate request`, "send a PEM or DER CSR, e.g. made with `openssl req -new`", err);
  }
  let signatureValid = false;
  try {
    signatureValid = await csr.verify();
  } catch {
    signatureValid = false;
  }

  return {
    subject: csr.subject,
    subjectDer,
    subjectEmpty: csr.subjectName.toJSON().length === 0,
    spki: Buffer.from(csr.publicKey.rawData),
    sans,
    unsupportedSans: unsupported,
    requestedExtensions: requested,
    signatureValid,
  };
}

export type CertProfile = { kind: "root"; pathLen: number } | { kind: "intermediate"; pathLen: number } | { kind: "leaf"; extKeyUsage: string[] };

export interface CreateCertificateParams {
  serial: string;
  subject: DistinguishedName;
  /** The issuing CA's certificate; omitted for a self-signed root. */
  issuer?: CertInfo;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER of the certified key. */
  spki: Uint8Array;
  /** A key in memory (a fresh CA key at init, a probe's throw-away CA); or `signer`. */
  signingKey?: CryptoKey;
  /** The CA's Signer (a file or token key): takes precedence over signingKey. */
  signer?: Signer;
  signingKeyType: KeyType;
  profile: CertProfile;
  sans?: San[];
  /** CRL Distribution Point URL written into the certificate. */
  crlUrl?: string;
  /** id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): for a delegated OCSP responder's own certificate. */
  ocspNoCheck?: boolean;
}

function toName(dn: DistinguishedName): x509.Name {
  if (dn.der) return new x509.Name(ab(dn.der));
  return new x509.Name((dn.rdns ?? []).map(([attr, value]) => ({ [attr]: [value] })));
}

/** Signs a certificate with the extensions of the given profile (RFC 5280 §4.2). */
export async function createCertificate(p: CreateCertificateParams): Promise<CertInfo> {
  const publicKey = new x509.PublicKey(ab(p.spki));
  const subjectName = toName(p.subject);
  const issuerName = p.issuer ? new x509.Name(ab(p.issuer.subjectDer)) : subjectName;
  const ski = await x509.SubjectKeyIdentifierExtension.create(publicKey);
  // AKI must equal the issuer's SKI as written in the issuer's certificate.
  const akiKeyId = p.issuer
    ? (p.issuer.subjectKeyId ?? (await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(ab(p.issuer.spki)))).keyId)
    : ski.keyId;
  const extensions: x509.Extension[] = [];
  if (p.profile.kind === "leaf") {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
    if (p.profile.extKeyUsage.length) {
      extensions.push(new x509.ExtendedKeyUsageExtension(p.profile.extKeyUsage.map((u) => EKU_OIDS[u] ?? u) as x509.ExtendedKeyUsageType[], false));
    }
  } else {
    extensions.push(new x509.BasicConstraintsExtension(true, p.profile.pathLen, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true));
  }
  extensions.push(ski, new x509.AuthorityKeyIdentifierExtension(akiKeyId));
  if (p.sans?.length) {
    const names = p.sans.map((s) => ({ type: s.type === "uri" ? "url" : s.type, value: s.value }) as x509.JsonGeneralName);
    // RFC 5280 §4.2.1.6: the SAN extension is critical when the subject is empty.
    const subjectEmpty = subjectName.toJSON().length === 0;
    extensions.push(new x509.SubjectAlternativeNameExtension(names, subjectEmpty));
  }
  if (p.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([p.crlUrl]));
  if (p.ocspNoCheck) extensions.push(new x509.Extension("1.3.6.1.5.5.7.48.1.5", false, new Uint8Array([0x05, 0x00])));
  const signing = p.signer ? signerAsWebCrypto(p.signer) : undefined;
  const signingKey = signing?.key ?? p.signingKey;
  if (!signingKey) throw new Error("createCertificate needs a signer or a signing key");
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: p.serial,
      subject: subjectName,
      issuer: issuerName,
      notBefore: wholeSeconds(p.notBefore),
      notAfter: wholeSeconds(p.notAfter),
      publicKey,
      signingKey,
      signingAlgorithm: keyAlgorithms(p.signingKeyType).sign,
      extensions,
    },
    signing?.crypto,
  );
  return describeCert(cert);
}

/**
 * A Signer dressed as the WebCrypto pair @peculiar/x509's generator calls: a key that only
 * carries its algorithm, and a provider whose sign() goes to the Signer (a token key cannot be
 * a Node CryptoKey). x509 wants WebCrypto's raw r||s for ECDSA and re-encodes it as DER.
 */
function signerAsWebCrypto(signer: Signer): { key: CryptoKey; crypto: Crypto } {
  const ec = signer.keyType.startsWith("ec-");
  const algorithm = ec
    ? { name: "ECDSA", namedCurve: signer.keyType === "ec-p384" ? "P-384" : "P-256" }
    : { name: "RSASSA-PKCS1-v1_5", hash: { name: "SHA-256" } };
  const key = { algorithm, type: "private", extractable: false, usages: ["sign"] } as unknown as CryptoKey;
  const size = signer.keyType === "ec-p384" ? 48 : 32;
  const crypto = {
    getRandomValues: <T extends ArrayBufferView | null>(a: T) => webcrypto.getRandomValues(a as never) as T,
    subtle: {
      sign: async (_alg: unknown, _key: unknown, tbs: BufferSource) => {
        const bytes = ArrayBuffer.isView(tbs) ? new Uint8Array(tbs.buffer, tbs.byteOffset, tbs.byteLength) : new Uint8Array(tbs);
        const sig = await signer.sign(bytes);
        const raw = ec ? ecdsaDerToRaw(sig, size) : Buffer.from(sig);
        return raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength);
      },
    },
  } as unknown as Crypto;
  return { key, crypto };
}

/** A PKCS#10 request, as a partner would make with `openssl req -new` (used by the demo). */
export async function createCsr(p: { subject: DistinguishedName; keys: CryptoKeyPair; keyType: KeyType; sans?: San[] }): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: toName(p.subject),
    keys: p.keys,
    signingAlgorithm: keyAlgorithms(p.keyType).sign,
    extensions: p.sans?.length
      ? [new x509.SubjectAlternativeNameExtension(p.sans.map((s) => ({ type: s.type === "uri" ? "url" : s.type, value: s.value }) as x509.JsonGeneralName))]
      : [],
  });
  return `${csr.toString("pem")}\n`;
}
