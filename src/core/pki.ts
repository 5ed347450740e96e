// The adapter for @peculiar/x509 (and the reflect-metadata polyfill it needs). Nothing else in
// the project imports either, so the rest of the core deals in bytes, strings and CryptoKeys.
// Both load on first use: together they cost ~45 ms of start-up, and only the commands that
// create certificates or CSRs with them need them (reading is in cert.ts, csr.ts, name.ts; #21).
import { webcrypto } from "node:crypto";
import type * as X509 from "@peculiar/x509";
import { type CertInfo, EKU_NAMES, parseCertificate } from "./cert.js";
import { ecdsaDerToRaw } from "./der.js";
import { type KeyType, keyAlgorithms } from "./keys.js";
import type { DistinguishedName } from "./name.js";
import type { San } from "./sans.js";
import { wholeSeconds } from "./x509/algorithm.js";
import type { Signer } from "./x509/signer.js";

// Crypto provider: Node's built-in WebCrypto rather than @peculiar/webcrypto. Measured on our
// machines (shared/notes/libraries.md §2): both support every algorithm we use (ECDSA P-256/384,
// RSASSA-PKCS1-v1_5) and OpenSSL accepts both outputs; @peculiar/webcrypto adds ~130 ms to every
// command's start-up and its CryptoKeys do not convert to Node KeyObjects, while its ~1.3x
// issuance throughput is irrelevant next to file I/O. So: no extra dependency.
type X509Lib = typeof X509.default;
let loaded: Promise<X509Lib> | undefined;
function loadX509(): Promise<X509Lib> {
  loaded ??= (async () => {
    await import("reflect-metadata");
    // x509 is CommonJS: its module.exports is the default export (bundled, the only one).
    const x509 = (await import("@peculiar/x509")).default;
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  })();
  return loaded;
}

export type { CertInfo } from "./cert.js";
export { EXTENSION_NAMES, isSignedBy, normalizeSerial, parseCertificate, sha256Fingerprint } from "./cert.js";
export { type CsrInfo, parseCsr } from "./csr.js";
export { commonNamesFromText, type DistinguishedName, describeName, type NameInfo } from "./name.js";

/** A copy backed by a plain ArrayBuffer, the only kind the WebCrypto and ASN.1 typings accept. */
const ab = (b: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(b);

const EKU_OIDS = Object.fromEntries(Object.entries(EKU_NAMES).map(([k, v]) => [v, k]));

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

function toName(x509: X509Lib, dn: DistinguishedName): X509.Name {
  if (dn.der) return new x509.Name(ab(dn.der));
  return new x509.Name((dn.rdns ?? []).map(([attr, value]) => ({ [attr]: [value] })));
}

/** Signs a certificate with the extensions of the given profile (RFC 5280 §4.2). */
export async function createCertificate(p: CreateCertificateParams): Promise<CertInfo> {
  const x509 = await loadX509();
  const publicKey = new x509.PublicKey(ab(p.spki));
  const subjectName = toName(x509, p.subject);
  const issuerName = p.issuer ? new x509.Name(ab(p.issuer.subjectDer)) : subjectName;
  const ski = await x509.SubjectKeyIdentifierExtension.create(publicKey);
  // AKI must equal the issuer's SKI as written in the issuer's certificate.
  const akiKeyId = p.issuer
    ? (p.issuer.subjectKeyId ?? (await x509.SubjectKeyIdentifierExtension.create(new x509.PublicKey(ab(p.issuer.spki)))).keyId)
    : ski.keyId;
  const extensions: X509.Extension[] = [];
  if (p.profile.kind === "leaf") {
    extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
    if (p.profile.extKeyUsage.length) {
      extensions.push(new x509.ExtendedKeyUsageExtension(p.profile.extKeyUsage.map((u) => EKU_OIDS[u] ?? u) as X509.ExtendedKeyUsageType[], false));
    }
  } else {
    extensions.push(new x509.BasicConstraintsExtension(true, p.profile.pathLen, true));
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true));
  }
  extensions.push(ski, new x509.AuthorityKeyIdentifierExtension(akiKeyId));
  if (p.sans?.length) {
    const names = p.sans.map((s) => ({ type: s.type === "uri" ? "url" : s.type, value: s.value }) as X509.JsonGeneralName);
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
  return parseCertificate(new Uint8Array(cert.rawData));
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
  const x509 = await loadX509();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: toName(x509, p.subject),
    keys: p.keys,
    signingAlgorithm: keyAlgorithms(p.keyType).sign,
    extensions: p.sans?.length
      ? [new x509.SubjectAlternativeNameExtension(p.sans.map((s) => ({ type: s.type === "uri" ? "url" : s.type, value: s.value }) as X509.JsonGeneralName))]
      : [],
  });
  return `${csr.toString("pem")}\n`;
}
