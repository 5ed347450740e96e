// Reading certificates without @peculiar/x509. Loading x509 (with reflect-metadata, tsyringe and
// the ASN.1 schemas) costs ~45 ms per process on the project machine, as much as Node's own
// start-up, and most commands only need to read the CA certificates: here OpenSSL (node:crypto)
// checks that the bytes are a certificate and our DER reader takes the fields out. The strings
// come out exactly as x509 writes them (test/unit/cert-read.test.ts compares the two), because
// subjects are stored in the index and compared later.

import { createHash, createPublicKey, X509Certificate } from "node:crypto";
import { children, readInner, readOid, readTime, readTlv, type Tlv, whole } from "./der.js";
import { inputError } from "./errors.js";
import { formatIp } from "./ip.js";
import { readName } from "./name.js";
import { encodePem } from "./pem.js";
import type { San } from "./sans.js";

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

export const sha256Fingerprint = (der: Uint8Array): string => `sha256:${createHash("sha256").update(der).digest("hex")}`;

/** Serial numbers compare as lowercase hex without leading zeros (OpenSSL prints upper case). */
export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/[:\s]/g, "").replace(/^0+/, "");
  return s === "" ? "0" : s;
}

export const EKU_NAMES: Record<string, string> = {
  "1.3.6.1.5.5.7.3.1": "serverAuth",
  "1.3.6.1.5.5.7.3.2": "clientAuth",
  "1.3.6.1.5.5.7.3.3": "codeSigning",
  "1.3.6.1.5.5.7.3.4": "emailProtection",
  "1.3.6.1.5.5.7.3.8": "timeStamping",
  "1.3.6.1.5.5.7.3.9": "OCSPSigning",
};

/** RFC 5280 §4.2.1.3 bit order. */
const KEY_USAGE_BITS = ["digitalSignature", "nonRepudiation", "keyEncipherment", "dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign"];

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

const hexOf = (buf: Uint8Array, t: Tlv) => Buffer.from(buf.subarray(t.start, t.end)).toString("hex");

/** GeneralNames (RFC 5280 §4.2.1.6) of the types we issue; others are reported as unsupported. */
export function readGeneralNames(buf: Uint8Array, list: Tlv): { sans: San[]; unsupported: string[] } {
  const sans: San[] = [];
  const unsupported: string[] = [];
  for (const gn of children(buf, list)) {
    const text = () => Buffer.from(buf.subarray(gn.start, gn.end)).toString("latin1");
    if (gn.tag === 0x82) sans.push({ type: "dns", value: text() });
    else if (gn.tag === 0x86) sans.push({ type: "uri", value: text() });
    else if (gn.tag === 0x81) sans.push({ type: "email", value: text() });
    else if (gn.tag === 0x87) sans.push({ type: "ip", value: formatIp(buf.subarray(gn.start, gn.end)) });
    else unsupported.push(GENERAL_NAME_TYPES[gn.tag] ?? `[${gn.tag & 0x1f}]`);
  }
  return { sans, unsupported };
}

const GENERAL_NAME_TYPES: Record<number, string> = { 160: "otherName", 163: "x400Address", 164: "directoryName", 165: "ediPartyName", 136: "registeredID" };

type Extensions = Pick<CertInfo, "isCa" | "pathLen" | "keyUsage" | "extKeyUsage" | "subjectKeyId" | "authorityKeyId" | "crlUrls" | "sans">;

function readCrlUrls(buf: Uint8Array, value: Tlv): string[] {
  const urls: string[] = [];
  for (const dp of children(buf, value)) {
    const name = children(buf, dp).find((t) => t.tag === 0xa0);
    const full = name ? children(buf, name).find((t) => t.tag === 0xa0) : undefined;
    if (full) for (const s of readGeneralNames(buf, full).sans) if (s.type === "uri") urls.push(s.value);
  }
  return urls;
}

function readExtension(buf: Uint8Array, oid: string, value: Tlv, out: Extensions): void {
  if (oid === "2.5.29.19") {
    const parts = children(buf, value);
    const ca = parts.find((t) => t.tag === 0x01);
    const len = parts.find((t) => t.tag === 0x02);
    out.isCa = ca ? buf[ca.start] !== 0 : false;
    if (len) out.pathLen = Number.parseInt(hexOf(buf, len) || "0", 16);
  } else if (oid === "2.5.29.15") {
    if (value.tag !== 0x03) throw new Error("DER: keyUsage is a BIT STRING");
    const bits = buf.subarray(value.start + 1, value.end);
    out.keyUsage = KEY_USAGE_BITS.filter((_, i) => ((bits[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
  } else if (oid === "2.5.29.37") {
    out.extKeyUsage = children(buf, value).map((t) => {
      const o = readOid(buf, t);
      return EKU_NAMES[o] ?? o;
    });
  } else if (oid === "2.5.29.17") out.sans = readGeneralNames(buf, value).sans;
  else if (oid === "2.5.29.14") out.subjectKeyId = hexOf(buf, value);
  else if (oid === "2.5.29.35") {
    const id = children(buf, value).find((t) => t.tag === 0x80);
    if (id) out.authorityKeyId = hexOf(buf, id);
  } else if (oid === "2.5.29.31") out.crlUrls = readCrlUrls(buf, value);
}

function readExtensions(buf: Uint8Array, wrapper: Tlv | undefined): Extensions {
  const out: Extensions = { isCa: false, keyUsage: [], extKeyUsage: [], crlUrls: [], sans: [] };
  const list = wrapper ? children(buf, wrapper)[0] : undefined;
  for (const ext of list ? children(buf, list) : []) {
    const parts = children(buf, ext);
    const id = parts[0];
    const octets = parts[parts.length - 1];
    if (id?.tag !== 0x06 || octets?.tag !== 0x04) throw new Error("DER: bad Extension");
    readExtension(buf, readOid(buf, id), readInner(buf, octets), out);
  }
  return out;
}

// --- Certificates ---------------------------------------------------------------------------------

function readTbs(der: Buffer) {
  const [tbs] = children(der, readTlv(der, 0));
  if (tbs?.tag !== 0x30) throw new Error("DER: no TBSCertificate");
  const fields = children(der, tbs);
  const at = fields[0]?.tag === 0xa0 ? 1 : 0;
  const [serial, , issuer, validity, subject, spki] = fields.slice(at);
  if (serial?.tag !== 0x02 || !issuer || validity?.tag !== 0x30 || !subject || spki?.tag !== 0x30) throw new Error("DER: bad TBSCertificate");
  const [notBefore, notAfter] = children(der, validity);
  if (!notBefore || !notAfter) throw new Error("DER: bad Validity");
  return { serial, issuer, notBefore, notAfter, subject, spki, extensions: fields.find((t) => t.tag === 0xa3) };
}

/** Reads a certificate (DER). Throws an input error naming `what` when it is not one. */
const outerEnd = (der: Uint8Array): number | undefined => {
  try {
    return readTlv(der, 0).end;
  } catch {
    return undefined;
  }
};

export function parseCertificate(input: Uint8Array, what = "certificate"): CertInfo {
  const der = Buffer.from(input);
  // OpenSSL reads a certificate and ignores what follows it; the fingerprint, taken over every
  // byte, would then not be the one openssl and the partner compare.
  const end = der[0] === 0x30 && der.length > 1 ? outerEnd(der) : undefined;
  if (end !== undefined && end < der.length)
    throw inputError("ERR_CERT_PARSE", `${what} has ${der.length - end} bytes after the certificate`, "give the certificate alone (PEM or DER)");
  try {
    // OpenSSL's parser decides what is a certificate; the DER walk below only reads fields.
    new X509Certificate(der);
    const f = readTbs(der);
    const subject = readName(der, f.subject);
    const ext = readExtensions(der, f.extensions);
    return {
      der,
      pem: encodePem("CERTIFICATE", der),
      serial: normalizeSerial(hexOf(der, f.serial)),
      subject: subject.text,
      commonNames: subject.commonNames,
      issuer: readName(der, f.issuer).text,
      subjectDer: whole(der, f.subject),
      issuerDer: whole(der, f.issuer),
      notBefore: readTime(der, f.notBefore),
      notAfter: readTime(der, f.notAfter),
      fingerprint: sha256Fingerprint(der),
      spki: whole(der, f.spki),
      sans: ext.sans,
      isCa: ext.isCa,
      ...(ext.pathLen !== undefined ? { pathLen: ext.pathLen } : {}),
      keyUsage: ext.keyUsage,
      extKeyUsage: ext.extKeyUsage,
      ...(ext.subjectKeyId !== undefined ? { subjectKeyId: ext.subjectKeyId } : {}),
      ...(ext.authorityKeyId !== undefined ? { authorityKeyId: ext.authorityKeyId } : {}),
      crlUrls: ext.crlUrls,
    };
  } catch (err) {
    throw inputError("ERR_CERT_PARSE", `${what} is not a valid X.509 certificate`, undefined, err);
  }
}

/** True when `cert` carries a valid signature by the holder of `issuer`'s key (OpenSSL checks it). */
export async function isSignedBy(cert: CertInfo, issuer: CertInfo): Promise<boolean> {
  try {
    return new X509Certificate(cert.der).verify(createPublicKey({ key: issuer.spki, format: "der", type: "spki" }));
  } catch {
    return false;
  }
}
