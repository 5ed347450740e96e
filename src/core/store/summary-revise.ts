// Revocations in a summary's extension (#21). A revocation appends a line for a certificate the
// summary already has; rebuilding the summary of 100,000 certificates for it took the next reader
// ~1.5 s. Instead its row is revised where it is: the revoked flag, the `list --json` element
// rendered from the new line, and the status rows chosen again from every certificate of its
// partner (and, when it was its issuer's last unrevoked one, the issuer's next). Only that is
// revised: a line that is the summarised record revoked and nothing else (the element the new line
// renders without its revocation is byte for byte the summary's). Anything else is rebuilt. The
// result is byte for byte what a rebuild writes (doctor compares exactly that).
import type { CertRecord } from "./index-file.js";
import { DAYS_FIRST, ELEMENT_SEPARATOR, type IndexRow, REVOKED, readFresh, SERVER, type Source, toRow } from "./index-summary.js";
import { checkCertRecord } from "./records.js";
import { elementCutter, type SummaryParts, statusRowsOf } from "./summary-build.js";

/** The bytes `from`–`to` of the old element texts, and what replaces them. */
export interface ElementSplice {
  from: number;
  to: number;
  bytes: Buffer;
}

/**
 * How many elements a revision reads to find an issuer's next unrevoked certificate before it
 * leaves the summary to a rebuild (one issuer in a store reads one).
 */
const ISSUER_SEARCH = 1000;

/**
 * `base` (the summary in `src`) with the rows of `changed` revised: lines of `journal` for
 * certificates it has, at the row `indexOf` says. Undefined unless each is the revocation of an
 * unrevoked certificate with nothing else changed.
 */
export function revision(
  src: Source,
  base: SummaryParts,
  changed: readonly IndexRow[],
  indexOf: ReadonlyMap<string, number>,
  journal: Buffer,
): { base: SummaryParts; splices: ElementSplice[] } | undefined {
  const starts = elementStarts(base.pieceLen);
  const flags = base.flags.slice();
  const pieceLen = base.pieceLen.slice();
  const cut = elementCutter();
  const splices: ElementSplice[] = [];
  const rows = new Map<number, IndexRow>();
  let jsonLength = base.jsonLength;
  for (const r of changed) {
    const i = indexOf.get(r.serial) as number;
    if (r.status !== "revoked" || ((base.flags[i] as number) & REVOKED) !== 0) return undefined;
    const line = journal.toString("utf8", r.at as number, (r.at as number) + (r.len as number));
    const { revokedAt: _at, revocationReason: _why, ...before } = JSON.parse(line) as CertRecord;
    const from = starts[i] as number;
    const to = starts[i + 1] as number;
    const [b0, b1, b2, bDays] = cut(before as CertRecord);
    const lens = [b0, b1, b2].map((p) => Buffer.byteLength(p));
    if (
      bDays !== (((base.flags[i] as number) & DAYS_FIRST) !== 0) ||
      lens.some((n, k) => n !== base.pieceLen[3 * i + k]) ||
      !readFresh(src, from, to - from).equals(Buffer.from(b0 + b1 + b2))
    )
      return undefined;
    const [p0, p1, p2, daysFirst] = cut(JSON.parse(line) as CertRecord);
    const bytes = Buffer.from(p0 + p1 + p2);
    [p0, p1, p2].forEach((p, k) => {
      pieceLen[3 * i + k] = Buffer.byteLength(p);
    });
    flags[i] = REVOKED | ((base.flags[i] as number) & SERVER) | (daysFirst ? DAYS_FIRST : 0);
    splices.push({ from, to, bytes });
    jsonLength += bytes.length - (to - from);
    const { at: _a, len: _l, ...row } = r;
    rows.set(i, row);
  }
  splices.sort((a, b) => a.from - b.from);
  const statusRows = revisedStatusRows(src, { ...base, flags }, starts, rows, indexOf);
  return statusRows && { base: { ...base, flags, pieceLen, jsonLength, statusRows }, splices };
}

/** Where each row's element starts in the texts, and (at n) where they end. */
export function elementStarts(pieceLen: Uint32Array): Float64Array {
  const n = pieceLen.length / 3;
  const starts = new Float64Array(n + 1);
  for (let i = 0; i < n; i++)
    starts[i + 1] = (starts[i] as number) + (pieceLen[3 * i] as number) + (pieceLen[3 * i + 1] as number) + (pieceLen[3 * i + 2] as number);
  return starts;
}

/**
 * The record of row `i` as its element in `src` gives it (the status from `flags`, which the
 * element leaves to the run); undefined when the element is no record (a damaged summary).
 */
export function elementRecord(src: Source, p: Pick<SummaryParts, "pieceLen" | "flags">, starts: Float64Array, i: number): CertRecord | undefined {
  const [l0, l1, l2] = [0, 1, 2].map((k) => p.pieceLen[3 * i + k] as number) as [number, number, number];
  const b = readFresh(src, starts[i] as number, l0 + l1 + l2);
  const [p0, p1, p2] = [b.toString("utf8", ELEMENT_SEPARATOR.length, l0), b.toString("utf8", l0, l0 + l1), b.toString("utf8", l0 + l1)];
  const flags = p.flags[i] as number;
  const status = flags & REVOKED ? "revoked" : "valid";
  let record: CertRecord & { daysLeft?: unknown };
  try {
    record = { ...JSON.parse(flags & DAYS_FIRST ? `${p0}0${p1}""${p2}` : `${p0}""${p1}0${p2}`), status };
  } catch {
    return undefined;
  }
  // The run's value, not the record's: the record's own keys keep their order (its line again).
  delete record.daysLeft;
  return checkCertRecord(record as unknown as Record<string, unknown>) === undefined ? record : undefined;
}

/** Row `i` as its element in `src` gives it; undefined when the element is no record (a damaged summary: rebuilt). */
function elementRow(src: Source, p: SummaryParts, starts: Float64Array, i: number): IndexRow | undefined {
  const record = elementRecord(src, p, starts, i);
  if (!record) return undefined;
  const { at: _a, len: _l, ...row } = toRow(record, 0, 0);
  return row;
}

/**
 * The status rows of `p` (flags revised, rows `revised` by index) as statusRowsOf would choose
 * them from every row: from the old ones, every row of a partner one of whose rows was revised,
 * and an issuer's next unrevoked certificate when its last one was revoked. Undefined when that
 * one is not found within ISSUER_SEARCH elements, or an element read is no record.
 */
function revisedStatusRows(
  src: Source,
  p: SummaryParts,
  starts: Float64Array,
  revised: ReadonlyMap<number, IndexRow>,
  indexOf: ReadonlyMap<string, number>,
): IndexRow[] | undefined {
  const old = p.statusRows.map((r) => [indexOf.get(r.serial) as number, r] as const);
  // A revised row that decides nothing (not its partner's newest, newest unrevoked, latest issued
  // or first, nor its issuer's last unrevoked) cannot come to: revoking it changes no choice.
  if (!old.some(([i]) => revised.has(i))) return p.statusRows;
  const rows = new Map<number, IndexRow>(old.map(([i, r]) => [i, revised.get(i) ?? r]));
  const partners = new Set<number>();
  for (const i of revised.keys()) if (((p.flags[i] as number) & SERVER) === 0) partners.add(p.partnerOf[i] as number);
  for (let i = 0; i < p.notAfterMs.length; i++) {
    if (rows.has(i) || !partners.has(p.partnerOf[i] as number) || ((p.flags[i] as number) & SERVER) !== 0) continue;
    const row = elementRow(src, p, starts, i);
    if (!row) return undefined;
    rows.set(i, row);
  }
  // Each issuer's last unrevoked certificate is among the old status rows (the first of the
  // latest, in issue order); one revised away gives way to the issuer's next.
  const lastOf = new Map<string, number>();
  for (const [i, r] of old) {
    const last = lastOf.get(r.issuer);
    if (r.status !== "revoked" && (last === undefined || (p.notAfterMs[i] as number) > (p.notAfterMs[last] as number))) lastOf.set(r.issuer, i);
  }
  const lost = [...lastOf].filter(([, i]) => revised.has(i)).map(([issuer]) => issuer);
  if (lost.length) {
    const unrevoked: number[] = [];
    for (let i = 0; i < p.notAfterMs.length; i++) if (((p.flags[i] as number) & REVOKED) === 0) unrevoked.push(i);
    unrevoked.sort((a, b) => (p.notAfterMs[b] as number) - (p.notAfterMs[a] as number) || a - b);
    const wanted = new Set(lost);
    for (let k = 0; k < unrevoked.length && wanted.size > 0; k++) {
      if (k >= ISSUER_SEARCH) return undefined;
      const i = unrevoked[k] as number;
      const row = rows.get(i) ?? elementRow(src, p, starts, i);
      if (!row) return undefined;
      if (!wanted.delete(row.issuer)) continue;
      rows.set(i, row);
    }
  }
  return statusRowsOf([...rows].sort((a, b) => a[0] - b[0]).map(([, r]) => r));
}
