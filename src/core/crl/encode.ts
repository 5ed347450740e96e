// CRL encoding (decoding is in decode.ts). @peculiar/x509's X509CrlGenerator is quadratic in the
// number of entries (10k: ~6 s, 100k: > 20 min) and its PEM label is one OpenSSL refuses, so we
// encode the TBSCertList ourselves; the hot loop over revoked entries is plain DER with the
// per-reason extension bytes computed once. The three extensions (reason code, CRL number, AKI)
// are a few bytes of DER each: building them with @peculiar/asn1-x509 cost every command that
// publishes a CRL ~15 ms of start-up for loading the schema library (#21).
import type { CertInfo } from "../cert.js";
import { oid, seq, time, tlv, uint } from "../der.js";
import type { KeyType } from "../keys.js";
import type { RevocationReason } from "../store/index-file.js";
import { authorityKeyIdentifierValue } from "../x509/algorithm.js";
import { cryptoKeySigner, type Signer, signAndWrap } from "../x509/signer.js";
import { REASON_CODES } from "./decode.js";

export { type ParsedCrl, type ParsedCrlEntry, parseCrl, parseCrlSerials, REASON_CODES, verifyCrlSignature } from "./decode.js";

const id_ce_cRLReasons = "2.5.29.21";
const id_ce_cRLNumber = "2.5.29.20";
const id_ce_authorityKeyIdentifier = "2.5.29.35";

/** RFC 5280 §4.1: Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }. */
const extension = (id: string, value: Uint8Array): Buffer => seq(oid(id), tlv(0x04, value));

/** crlEntryExtensions for each reason, built once. RFC 5280: "unspecified" is expressed by omission. */
const reasonExtensions = new Map<number, Buffer>();
function entryExtensions(code: number): Buffer {
  let ext = reasonExtensions.get(code);
  if (!ext) {
    ext = code === 0 ? Buffer.alloc(0) : seq(extension(id_ce_cRLReasons, tlv(0x0a, Buffer.from([code]))));
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
  const extensions = tlv(0xa0, seq(extension(id_ce_authorityKeyIdentifier, aki), extension(id_ce_cRLNumber, uint(p.number))));
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
