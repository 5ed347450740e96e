import { readJournal } from "./fs.js";
import type { CertRecord, RevocationReason } from "./index-file.js";
import { checkRevocation, corruptError, isRevocation, parseRecord } from "./records.js";

/** One line of revocations.jsonl: what every CRL of `issuer` must list, forever. */
export interface Revocation {
  serial: string;
  /** The CA id (core/ca/registry.ts) whose CRL lists it. */
  issuer: string;
  revokedAt: string;
  reason: RevocationReason;
  partnerId: string;
}

export interface RevocationsSnapshot {
  entries: Revocation[];
  validBytes: number;
}

/**
 * The revocation journal: append-only and never compacted (revocation here is final). CRLs are
 * built from it alone, so publishing does not read the certificate index. Appended before the
 * index in the same commit: a crash between the two leaves a certificate on the CRL that the
 * index still calls valid, the safe side, which `mtls doctor` reports.
 */
export async function readRevocations(path: string): Promise<RevocationsSnapshot> {
  const { text, validBytes } = await readJournal(path);
  return parseRevocations(text, validBytes, path);
}

/** The journal's complete lines, checked; `where` names it in errors. */
export function parseRevocations(complete: string, validBytes: number, where: string): RevocationsSnapshot {
  // One JSON.parse over the whole journal is ~25% faster than one per line at 100k entries;
  // the per-line pass only runs to name the line when the fast path fails.
  try {
    const body = complete.replace(/\n+$/, "").replace(/\n+/g, ",");
    const entries = JSON.parse(`[${body}]`) as unknown[];
    if (entries.every(isRevocation)) return { entries: entries as Revocation[], validBytes };
  } catch {}
  const { entries, bad } = scanRevocations(complete);
  if (bad[0]) throw corruptError(where, bad[0].line, bad[0].why);
  return { entries, validBytes };
}

/** Every line of the journal: the records, and the lines that are not records (for doctor). */
export function scanRevocations(text: string): { entries: Revocation[]; bad: Array<{ line: number; text: string; why: string }> } {
  const entries: Revocation[] = [];
  const bad: Array<{ line: number; text: string; why: string }> = [];
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    const parsed = parseRecord<Revocation>(line, checkRevocation);
    if ("bad" in parsed) bad.push({ line: i + 1, text: line, why: parsed.bad });
    else entries.push(parsed.record);
  });
  return { entries, bad };
}

export const serializeRevocations = (entries: readonly Revocation[]): string => entries.map((e) => `${JSON.stringify(e)}\n`).join("");

/**
 * Index entries marked revoked whose serial `journaled` lacks. Revocation appends the journal
 * first (the commit point) and the index after it in the same commit, so such an entry is never
 * a write in flight: the journal lost lines, or the file itself.
 */
export function revokedOnlyInIndex(records: readonly CertRecord[], journaled: ReadonlySet<string>): CertRecord[] {
  return records.filter((r) => r.status === "revoked" && !journaled.has(r.serial));
}

/** The journal entry an index entry marked revoked stands for; `at` when the entry has no time. */
export function revocationOfRecord(r: CertRecord, at: string): Revocation {
  return { serial: r.serial, issuer: r.issuer, revokedAt: r.revokedAt ?? at, reason: r.revocationReason ?? "unspecified", partnerId: r.partnerId };
}
