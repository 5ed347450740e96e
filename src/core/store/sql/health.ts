// The database store's check of itself for `mtls doctor` (store/health.ts): its certificate,
// revocation, audit and CRL-number tables are derived from the journal lines by the transaction
// that writes them, so a difference means a hand edit (or a bug); the repair rebuilds them from
// the journals, which are the record. The index summary it keeps for readers is checked against
// one built now, and removed when it differs.
import type { StorageHealth, StorageProblem } from "../health.js";
import type { SqlStorage } from "./storage.js";

export class SqlHealth implements StorageHealth {
  /** Committed journal lines are rows of committed transactions. */
  readonly indexKeepsLines = true;

  constructor(private readonly storage: SqlStorage) {}

  /** A session's advisory lock ends with its connection: the database never holds a stale one. */
  async lockProblems(): Promise<StorageProblem[]> {
    return [];
  }

  async health(): Promise<StorageProblem[]> {
    const problems: StorageProblem[] = (await this.storage.checkTables()).map((p) => ({
      check: "database",
      message: p.message,
      hint: p.hint,
      fixable: p.fixable,
      ...(p.serial ? { serial: p.serial } : {}),
    }));
    const summary = await this.storage.checkSummary();
    if (summary)
      problems.push({
        check: "index-summary",
        message: summary,
        hint: "--fix removes it; the next list or status builds it again from index.jsonl",
        fixable: true,
      });
    return problems;
  }

  async repair(problems: readonly StorageProblem[]): Promise<void> {
    if (problems.some((p) => p.check === "database" && p.fixable)) await this.storage.rebuildTables();
    if (problems.some((p) => p.check === "index-summary" && p.fixable)) await this.storage.dropSummary();
  }

  discardMoved(from: string, to: string): Promise<void> {
    return this.storage.discardMoved(from, to);
  }
}
