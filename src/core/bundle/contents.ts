// What the files of a verified bundle must be: certificates that parse, a key that belongs to the
// certificate, a manifest that describes them. What a careful partner wants to know but that
// does not make the files unusable to keep (an expired certificate, a bundle made for another
// key) is a warning instead.
import { createPrivateKey, createPublicKey } from "node:crypto";
import { type CertInfo, normalizeSerial, parseCertificate } from "../cert.js";
import { decodePemBlocks, pemOrDer } from "../pem.js";
import { iso } from "../time.js";
import type { Manifest } from "./bundle.js";
import { badBundle } from "./manifest.js";
import type { ZipEntry } from "./zip.js";

/** Fingerprints compare as gpg prints them without spaces: upper-case hex. */
const sameFingerprint = (a: string, b: string) => a.replace(/\s+/g, "").toUpperCase() === b.replace(/\s+/g, "").toUpperCase();

const unreadable = (name: string, what: string) => badBundle("ERR_BUNDLE_CONTENT", `${name} in the bundle is not ${what}`);

function readCert(entry: ZipEntry): CertInfo {
  try {
    return parseCertificate(pemOrDer(entry.data, ["CERTIFICATE"], entry.name), entry.name);
  } catch {
    throw unreadable(entry.name, "a readable X.509 certificate");
  }
}

/** Every block of a PEM file of certificates (chain.pem, ca.pem), each one parsed. */
function readCerts(entry: ZipEntry): CertInfo[] {
  const blocks = decodePemBlocks(entry.data.toString("latin1"));
  if (blocks.length === 0 || blocks.some((b) => b.label !== "CERTIFICATE")) throw unreadable(entry.name, "a PEM file of certificates");
  return blocks.map((b) => readCert({ ...entry, data: b.der }));
}

function checkKey(entry: ZipEntry, cert: CertInfo): void {
  let spki: Buffer;
  try {
    spki = createPublicKey(createPrivateKey(entry.data.toString("utf8"))).export({ format: "der", type: "spki" });
  } catch {
    throw unreadable(entry.name, "a readable unencrypted private key");
  }
  if (!spki.equals(cert.spki)) throw badBundle("ERR_BUNDLE_MANIFEST", `${entry.name} does not belong to certificate.pem`);
}

/** The manifest's description of the certificate is the certificate's own. */
function checkDescribed(cert: CertInfo, m: Manifest): void {
  if (cert.fingerprint !== m.fingerprint) throw badBundle("ERR_BUNDLE_MANIFEST", "certificate.pem is not the certificate the manifest describes");
  const differs: string[] = [];
  if (normalizeSerial(m.serial) !== cert.serial) differs.push("serial");
  if (Date.parse(m.notBefore) !== cert.notBefore.getTime()) differs.push("notBefore");
  if (Date.parse(m.notAfter) !== cert.notAfter.getTime()) differs.push("notAfter");
  if (differs.length > 0) throw badBundle("ERR_BUNDLE_MANIFEST", `the manifest's ${differs.join(", ")} does not match certificate.pem`);
}

export interface ContentContext {
  now: Date;
  /** Primary key fingerprint (upper-case hex) of the key whose signature was verified. */
  signerFingerprint: string;
  /** Primary key fingerprint (upper-case hex) of the key that decrypted the bundle. */
  recipientFingerprint: string;
}

function warningsFor(cert: CertInfo, m: Manifest, c: ContentContext): string[] {
  const warnings: string[] = [];
  if (cert.notAfter.getTime() <= c.now.getTime())
    warnings.push(
      `the certificate in the bundle (serial ${cert.serial}) expired on ${iso(cert.notAfter)}: gateways will refuse it; ask the home party for a new one`,
    );
  else if (cert.notBefore.getTime() > c.now.getTime())
    warnings.push(
      `the certificate in the bundle (serial ${cert.serial}) is not valid before ${iso(cert.notBefore)}: check this machine's clock, or wait until then`,
    );
  if (m.recipientFingerprint !== undefined && !sameFingerprint(m.recipientFingerprint, c.recipientFingerprint))
    warnings.push(
      `the bundle was made for partner ${m.partnerId}'s key ${m.recipientFingerprint}, not for your key ${c.recipientFingerprint}: someone re-encrypted it to you; do not use it unless the home party confirms it is yours`,
    );
  if (!sameFingerprint(m.signerFingerprint, c.signerFingerprint))
    warnings.push(`the manifest names ${m.signerFingerprint} as its signer, but the bundle is signed by ${c.signerFingerprint}`);
  return warnings;
}

/**
 * certificate.pem is there, readable and the one the manifest describes; chain.pem begins with
 * it; ca.pem holds certificates; private-key.pem (if any) is its key. Returns the warnings.
 */
export function checkContents(files: ZipEntry[], m: Manifest, c: ContentContext): string[] {
  const byName = (name: string) => files.find((e) => e.name === name);
  const certEntry = byName("certificate.pem");
  if (!certEntry) throw badBundle("ERR_BUNDLE_MANIFEST", "the bundle has no certificate.pem");
  const cert = readCert(certEntry);
  checkDescribed(cert, m);
  const chain = byName("chain.pem");
  if (chain && !readCerts(chain)[0]?.der.equals(cert.der)) throw badBundle("ERR_BUNDLE_CONTENT", "chain.pem in the bundle does not begin with certificate.pem");
  const root = byName("ca.pem");
  if (root) readCerts(root);
  const key = byName("private-key.pem");
  if (key) checkKey(key, cert);
  return warningsFor(cert, m, c);
}
