// An index.jsonl that lost lines (cut short, emptied, an older copy put back) shows, certificate
// by certificate, what a crash before the index append shows: a certificate without a record,
// which `doctor --fix` revokes. A crash only ever loses an append the journal never had, though,
// and the summary remembers what the journal did have: the bytes of its complete lines and their
// SHA-256. A journal shorter than that, or whose first bytes no longer hash the same, that no
// longer has records the summary holds, was damaged. Such a summary is kept (readers build their
// view in memory) until those records are back: it is the evidence, and it holds a copy of each
// lost record (its `list --json` element is the record's line, the run's two values aside).
import { createHash, type Hash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { MtlsError } from "../errors.js";
import type { CertRecord } from "./index-file.js";
import { cellTextOf, type IndexView, REVOKED, rowsOfJournal, summaryPath } from "./index-summary.js";
import { type OldSummary, openAny, partsOf, serialsOf } from "./summary-extend.js";
import { elementRecord, elementStarts } from "./summary-revise.js";

/** A certificate the summary holds whose record the journal lost (or whose revocation it lost). */
export interface LostRecord {
  serial: string;
  /** Revoked, as the summary has it. */
  revoked: boolean;
  /** Its row in the summary. */
  row: number;
}

/** How the index journal differs from what its summary covered, when it lost records. */
export interface IndexDamage {
  /** The journal, as errors name it. */
  index: string;
  /** The journal's size now, and the bytes of complete lines the summary covered. */
  size: number;
  covered: number;
  /** Lost certificates, in issue order. */
  lost: LostRecord[];
}

/**
 * The hash of the lines `old` (a summary of this format) covers, when `journal` still begins
 * with them (it only grew); undefined when it is shorter or they changed.
 */
export function coveredPrefix(old: OldSummary, journal: Buffer): Hash | undefined {
  const { covered, hash } = old.trailer.facts;
  if (journal.length < covered) return undefined;
  const hasher = createHash("sha256").update(journal.subarray(0, covered));
  return hasher.copy().digest("hex") === hash ? hasher : undefined;
}

/**
 * The damage of `journal` (named `name`), which no longer begins with the lines `old` covers,
 * when it lost records `old` holds; `now`: the status of each serial the journal has. Undefined
 * when it lost none: changed otherwise (rewritten, compacted), which is no damage.
 */
export function damageOf(old: OldSummary, journal: Buffer, name: string, now: ReadonlyMap<string, string>): IndexDamage | undefined {
  const lost = lostRows(old, now);
  return lost.length ? { index: name, size: journal.length, covered: old.trailer.facts.covered, lost } : undefined;
}

/** Each serial's status in `view`, read from its columns and first cells (no object per record). */
export function statusesOf(view: IndexView): Map<string, string> {
  const cells = view.cells();
  const out = new Map<string, string>();
  for (let i = 0; i < view.count; i++) out.set(cellTextOf(cells, i, 0), ((view.flags[i] as number) & REVOKED) !== 0 ? "revoked" : "valid");
  return out;
}

/** The summary's rows the journal (its records' status by serial: `now`) lost; none when the summary is damaged. */
function lostRows(old: OldSummary, now: ReadonlyMap<string, string>): LostRecord[] {
  let parts: ReturnType<typeof partsOf>;
  try {
    parts = partsOf(old.view, old.trailer);
  } catch (err) {
    if ((err as MtlsError).code === "ERR_STORE_CORRUPT") return []; // a damaged summary is no evidence
    throw err;
  }
  const out: LostRecord[] = [];
  for (const [serial, row] of serialsOf(parts)) {
    const revoked = ((parts.flags[row] as number) & REVOKED) !== 0;
    const status = now.get(serial);
    // Revocation is monotonic: a record the journal still calls valid lost its revocation line.
    if (status === undefined || (revoked && status !== "revoked")) out.push({ serial, revoked, row });
  }
  return out;
}

/** A lost record with the summary's copy of it, when its element reads back as a record. */
export type LostWithRecord = LostRecord & { record?: CertRecord };

/** The damage as doctor reports it: with the summary's name and its copies of the lost records. */
export interface IndexDamageReport extends Omit<IndexDamage, "lost"> {
  summary: string;
  lost: LostWithRecord[];
}

/**
 * For doctor: the damage of the index journal at `indexPath` against its summary, each lost
 * record with the summary's copy of it. Undefined when there is no summary of this format or
 * nothing was lost. Reads and hashes the whole journal.
 */
export async function indexDamageAt(indexPath: string): Promise<IndexDamageReport | undefined> {
  const journal = await readFile(indexPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return Buffer.alloc(0);
    throw err;
  });
  const summary = summaryPath(indexPath);
  const old = openAny(summary);
  if (!old) return undefined;
  try {
    if (coveredPrefix(old, journal)) return undefined;
    const damage = damageOf(old, journal, indexPath, new Map(rowsOfJournal(journal, indexPath).map((r) => [r.serial, r.status])));
    if (!damage) return undefined;
    const p = { pieceLen: old.view.json().pieceLen, flags: old.view.flags };
    const starts = elementStarts(p.pieceLen);
    const lost = damage.lost.map((l) => {
      const record = elementRecord(old.src, p, starts, l.row);
      return record?.serial === l.serial ? { ...l, record } : l;
    });
    return { ...damage, summary, lost };
  } finally {
    old.src.close();
  }
}
