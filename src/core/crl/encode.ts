// CRL encoding and decoding. @peculiar/x509's X509CrlGenerator is quadratic in the number of
// entries (10k: ~6 s, 100k: > 20 min) and its PEM label is one OpenSSL refuses, so we encode
// the TBSCertList ourselves. The extension values come from @peculiar/asn1-x509 (this is its one
// adapter module); the hot loop over revoked entries is plain DER with the per-reason extension
// bytes computed once.
import { webcrypto } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { CRLNumber, CRLReason, Extension, id_ce_authorityKeyIdentifier, id_ce_cRLNumber, id_ce_cRLReasons } from "@peculiar/asn1-x509";
import { body, children, ecdsaDerToRaw, readOid, readTime, readTlv, seq, type Tlv, time, tlv, whole } from "../der.js";
import { type KeyType, keyAlgorithms, keyTypeOf } from "../keys.js";
import type { CertInfo } from "../pki.js";
import type { RevocationReason } from "../store/index-file.js";
import { authorityKeyIdentifierValue } from "../x509/algorithm.js";
import { cryptoKeySigner, type Signer, signAndWrap } from "../x509/signer.js";

/** RFC 5280 §5.3.1 reason codes (certificateHold, 6, is deliberately not offered). */
export const REASON_CODES: Record<RevocationReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
};
const REASON_NAMES = new Map<number, string>([
  ...Object.entries(REASON_CODES).map(([k, v]) => [v, k] as [number, string]),
  [6, "certificateHold"],
  [8, "removeFromCRL"],
  [10, "aACompromise"],
]);

const extension = (id: string, value: ArrayBuffer, critical = false): Buffer =>
  Buffer.from(AsnConvert.serialize(new Extension({ extnID: id, critical, extnValue: new OctetString(value) })));

/** crlEntryExtensions for each reason, built once. RFC 5280: "unspecified" is expressed by omission. */
const reasonExtensions = new Map<number, Buffer>();
function entryExtensions(code: number): Buffer {
  let ext = reasonExtensions.get(code);
  if (!ext) {
    ext = code === 0 ? Buffer.alloc(0) : seq(extension(id_ce_cRLReasons, AsnConvert.serialize(new CRLReason(code))));
    reasonExtensions.set(code, ext);
  }
  return ext;
}

export interface CrlEntry {
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface BuildCrlParams {
  issuer: CertInfo;
  /** A key in memory; a token key has none and signs through `signer`. */
  signingKey?: CryptoKey;
  keyType: KeyType;
  /** Signs instead of signingKey (a CA key's Signer: a file key or a token key). */
  signer?: Signer;
  /** CRL Number: must increase with every CRL this issuer publishes (RFC 5280 §5.2.3). */
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}

const lengthOfLength = (n: number) => (n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5);

function writeHeader(buf: Buffer, at: number, tag: number, len: number): number {
  buf[at++] = tag;
  const ll = lengthOfLength(len);
  if (ll === 1) {
    buf[at++] = len;
    return at;
  }
  buf[at++] = 0x80 | (ll - 1);
  for (let i = ll - 2; i >= 0; i--) buf[at++] = (len >>> (8 * i)) & 0xff;
  return at;
}

/**
 * revokedCertificates: SEQUENCE OF SEQUENCE { serial INTEGER, revocationDate Time, extensions },
 * measured first and then written into a single buffer: at 100,000 entries this is the hot loop.
 */
function encodeEntries(entries: readonly CrlEntry[]): Buffer | undefined {
  const seen = new Set<string>();
  const items: Array<{ serial: string; serialLen: number; pad: boolean; when: Buffer; ext: Buffer; len: number }> = [];
  const timeCache = new Map<number, Buffer>();
  let total = 0;
  for (const e of entries) {
    if (seen.has(e.serial)) continue;
    seen.add(e.serial);
    const serial = e.serial.length % 2 ? `0${e.serial}` : e.serial;
    const pad = Number.parseInt(serial.slice(0, 2), 16) >= 0x80;
    const serialLen = serial.length / 2 + (pad ? 1 : 0);
    const t = Math.floor(e.revokedAt.getTime() / 1000);
    let when = timeCache.get(t);
    if (!when) {
      when = time(new Date(t * 1000));
      timeCache.set(t, when);
    }
    const ext = entryExtensions(REASON_CODES[e.reason]);
    const len = 1 + lengthOfLength(serialLen) + serialLen + when.length + ext.length;
    items.push({ serial, serialLen, pad, when, ext, len });
    total += 1 + lengthOfLength(len) + len;
  }
  if (items.length === 0) return undefined; // an empty revokedCertificates is non-conforming: omit it
  const buf = Buffer.allocUnsafe(1 + lengthOfLength(total) + total);
  let at = writeHeader(buf, 0, 0x30, total);
  for (const it of items) {
    at = writeHeader(buf, at, 0x30, it.len);
    at = writeHeader(buf, at, 0x02, it.serialLen);
    if (it.pad) buf[at++] = 0;
    at += buf.write(it.serial, at, "hex");
    at += it.when.copy(buf, at);
    at += it.ext.copy(buf, at);
  }
  return buf;
}

/** A signed X.509 v2 CRL (DER) with AKI and CRL Number, entries with reason codes. */
export async function buildCrl(p: BuildCrlParams): Promise<Buffer> {
  if (!p.signer && !p.signingKey) throw new Error("buildCrl needs a signer or a signing key");
  const signer = p.signer ?? cryptoKeySigner(p.signingKey as CryptoKey, p.keyType, p.issuer.spki);
  const alg = signer.algorithm;
  const revoked = encodeEntries(p.entries);
  const aki = authorityKeyIdentifierValue(Buffer.from(p.issuer.subjectKeyId ?? "", "hex"));
  const extensions = tlv(
    0xa0,
    seq(extension(id_ce_authorityKeyIdentifier, new Uint8Array(aki).buffer), extension(id_ce_cRLNumber, AsnConvert.serialize(new CRLNumber(p.number)))),
  );
  const tbs = seq(
    Buffer.from([0x02, 0x01, 0x01]), // v2
    alg,
    p.issuer.subjectDer,
    time(p.thisUpdate),
    time(p.nextUpdate),
    ...(revoked ? [revoked] : []),
    extensions,
  );
  return signAndWrap(signer, tbs);
}

export interface ParsedCrlEntry {
  serial: string;
  revokedAt: Date;
  reason: string;
}

export interface ParsedCrl {
  issuerDer: Buffer;
  thisUpdate: Date;
  nextUpdate?: Date;
  number?: string;
  authorityKeyId?: string;
  entries: ParsedCrlEntry[];
  tbs: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
}

function findExtension(der: Uint8Array, exts: Tlv | undefined, id: string): Buffer | undefined {
  if (!exts) return undefined;
  for (const ext of children(der, exts)) {
    const parts = children(der, ext);
    const first = parts[0];
    const value = parts[parts.length - 1];
    if (first && value && readOid(der, first) === id) return body(der, value);
  }
  return undefined;
}

/** Reads a CRL (DER) without a general ASN.1 parser, so 100,000 entries take milliseconds. */
export function parseCrl(der: Uint8Array): ParsedCrl {
  return parseCrlWith(der, true);
}

/**
 * The CRL with its serials only (`entries` stays empty): what checking that nothing published is
 * lost needs, at a fraction of parseCrl's work on a large CRL (no dates, no reason extensions).
 */
export function parseCrlSerials(der: Uint8Array): ParsedCrl & { serials: string[] } {
  const serials: string[] = [];
  return { ...parseCrlWith(der, false, serials), serials };
}

function serialHex(der: Uint8Array, t: Tlv): string {
  const hex = Buffer.from(der.buffer, der.byteOffset + t.start, t.end - t.start).toString("hex");
  let i = 0;
  while (i < hex.length - 1 && hex[i] === "0") i++;
  return hex.slice(i);
}

function parseCrlWith(der: Uint8Array, full: boolean, serials: string[] = []): ParsedCrl {
  const outer = readTlv(der, 0);
  const [tbsT, algT, sigT] = children(der, outer);
  if (!tbsT || !algT || !sigT) throw new Error("not a CertificateList");
  const parts = children(der, tbsT);
  let i = 0;
  if (parts[i]?.tag === 0x02) i++; // version
  i++; // signature algorithm
  const issuer = parts[i++];
  const thisT = parts[i++];
  if (!issuer || !thisT) throw new Error("truncated TBSCertList");
  const out: ParsedCrl = {
    issuerDer: whole(der, issuer),
    thisUpdate: readTime(der, thisT),
    entries: [],
    tbs: whole(der, tbsT),
    signatureAlgorithm: readOid(der, children(der, algT)[0] as Tlv),
    signature: body(der, sigT).subarray(1),
  };
  if (parts[i] && (parts[i]?.tag === 0x17 || parts[i]?.tag === 0x18)) out.nextUpdate = readTime(der, parts[i++] as Tlv);
  if (parts[i]?.tag === 0x30) {
    for (const entry of children(der, parts[i++] as Tlv)) {
      if (!full) {
        serials.push(serialHex(der, readTlv(der, entry.start)));
        continue;
      }
      const [serialT, dateT, extsT] = children(der, entry);
      if (!serialT || !dateT) throw new Error("bad CRL entry");
      const reasonValue = findExtension(der, extsT, id_ce_cRLReasons);
      const code = reasonValue ? (reasonValue[reasonValue.length - 1] as number) : 0;
      out.entries.push({
        serial: body(der, serialT)
          .toString("hex")
          .replace(/^0+(?=.)/, ""),
        revokedAt: readTime(der, dateT),
        reason: REASON_NAMES.get(code) ?? String(code),
      });
    }
  }
  const extsWrapper = parts[i]?.tag === 0xa0 ? parts[i] : undefined;
  const exts = extsWrapper ? children(der, extsWrapper)[0] : undefined;
  const num = findExtension(der, exts, id_ce_cRLNumber);
  if (num) out.number = BigInt(`0x${body(num, readTlv(num, 0)).toString("hex") || "0"}`).toString();
  const aki = findExtension(der, exts, id_ce_authorityKeyIdentifier);
  if (aki) {
    const keyId = children(aki, readTlv(aki, 0)).find((t) => t.tag === 0x80);
    if (keyId) out.authorityKeyId = body(aki, keyId).toString("hex");
  }
  return out;
}

/** Checks the CRL's signature with the issuer certificate's public key. */
export async function verifyCrlSignature(crl: ParsedCrl, issuer: CertInfo): Promise<boolean> {
  const type = keyTypeOf(issuer.spki);
  const alg = keyAlgorithms(type);
  try {
    const key = await webcrypto.subtle.importKey("spki", new Uint8Array(issuer.spki), alg.import, false, ["verify"]);
    const sig = type.startsWith("ec-") ? ecdsaDerToRaw(crl.signature, type === "ec-p384" ? 48 : 32) : crl.signature;
    return await webcrypto.subtle.verify(alg.sign as AlgorithmIdentifier, key, new Uint8Array(sig), new Uint8Array(crl.tbs));
  } catch {
    return false;
  }
}
