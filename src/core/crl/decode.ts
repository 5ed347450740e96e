// CRL decoding with our DER reader, without a general ASN.1 parser: 100,000 entries take
// milliseconds, and the commands that only read CRLs (crl show, status, inspect) load no ASN.1
// library at all.
import { createPublicKey, verify } from "node:crypto";
import type { CertInfo } from "../cert.js";
import { SIGNATURE_HASHES } from "../csr.js";
import { body, children, readOid, readTime, readTlv, type Tlv, whole } from "../der.js";
import type { RevocationReason } from "../store/index-file.js";

const id_ce_cRLReasons = "2.5.29.21";
const id_ce_cRLNumber = "2.5.29.20";
const id_ce_authorityKeyIdentifier = "2.5.29.35";

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
  const entries: ParsedCrlEntry[] = [];
  return { ...parseCrlWith(der, (offset) => entries.push(readCrlEntry(der, offset))), entries };
}

/**
 * The CRL with its serials only (`entries` stays empty): what checking that nothing published is
 * lost needs, at a fraction of parseCrl's work on a large CRL (no dates, no reason extensions).
 */
export function parseCrlSerials(der: Uint8Array): ParsedCrl & { serials: string[] } {
  const serials: string[] = [];
  return { ...parseCrlWith(der, (offset) => serials.push(serialHex(der, readTlv(der, readTlv(der, offset).start)))), serials };
}

/**
 * The CRL with where each entry starts (`entries` stays empty), every entry checked: a caller that
 * shows a few of a million entries reads them with readCrlEntry instead of holding them all.
 */
export function parseCrlIndexed(der: Uint8Array): ParsedCrl & { entryOffsets: Uint32Array } {
  let offsets = new Uint32Array(1024);
  let n = 0;
  const crl = parseCrlWith(der, (offset) => {
    readCrlEntry(der, offset);
    if (n === offsets.length) {
      const grown = new Uint32Array(n * 2);
      grown.set(offsets);
      offsets = grown;
    }
    offsets[n++] = offset;
  });
  return { ...crl, entryOffsets: offsets.subarray(0, n) };
}

function serialHex(der: Uint8Array, t: Tlv): string {
  const hex = Buffer.from(der.buffer, der.byteOffset + t.start, t.end - t.start).toString("hex");
  let i = 0;
  while (i < hex.length - 1 && hex[i] === "0") i++;
  return hex.slice(i);
}

/** The revokedCertificates entry whose TLV starts at `offset`. */
export function readCrlEntry(der: Uint8Array, offset: number): ParsedCrlEntry {
  const [serialT, dateT, extsT] = children(der, readTlv(der, offset));
  if (!serialT || !dateT) throw new Error("bad CRL entry");
  const reasonValue = findExtension(der, extsT, id_ce_cRLReasons);
  const code = reasonValue ? (reasonValue[reasonValue.length - 1] as number) : 0;
  return { serial: serialHex(der, serialT), revokedAt: readTime(der, dateT), reason: REASON_NAMES.get(code) ?? String(code) };
}

function parseCrlWith(der: Uint8Array, onEntry: (offset: number) => void): ParsedCrl {
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
    // Walked TLV by TLV rather than through children(): a million entries need no array of them.
    const list = parts[i++] as Tlv;
    for (let o = list.start; o < list.end; ) {
      const entry = readTlv(der, o);
      if (entry.end > list.end) throw new Error("DER: an element overruns its parent");
      onEntry(o);
      o = entry.end;
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

/**
 * Checks the CRL's signature with the issuer certificate's public key, by the algorithm the CRL
 * names. node:crypto rather than WebCrypto: the commands that read CRLs (status, crl show)
 * otherwise load WebCrypto for this one check (#21), and ECDSA needs no r||s conversion.
 */
export async function verifyCrlSignature(crl: ParsedCrl, issuer: CertInfo): Promise<boolean> {
  const hash = SIGNATURE_HASHES[crl.signatureAlgorithm];
  if (!hash) return false;
  try {
    return verify(hash, crl.tbs, createPublicKey({ key: issuer.spki, format: "der", type: "spki" }), crl.signature);
  } catch {
    return false;
  }
}
