// A storage's check of itself, for `mtls doctor`: what a crash, a careless hand or a umask
// leaves in the medium that holds the store (temporaries, torn journal tails, file modes, a
// stale lock, a cache that disagrees with its journal), as opposed to what the records say,
// which doctor checks through the Storage interface whatever holds them.
//
// The directory storage implements it (directory-health.ts), and so does the database store
// (sql/health.ts: its derived tables against the journals); a storage without one simply has no
// storage-level problems to report.

import { DirectoryStorage } from "./directory.js";
import { DirectoryHealth } from "./directory-health.js";
import type { CertRecord } from "./index-file.js";
import { SqlHealth } from "./sql/health.js";
import { SqlStorage } from "./sql/storage.js";
import type { Storage } from "./storage.js";
import type { IndexDamageReport } from "./summary-damage.js";

/** The storage-level checks, by the names doctor reports them under. */
export type StorageCheck = "lock" | "commit" | "leftovers" | "journal" | "modes" | "index-summary" | "database";

/** One problem of the medium, with the structured facts its repair needs (never parsed back from `message`). */
export interface StorageProblem {
  check: StorageCheck;
  message: string;
  hint: string;
  fixable: boolean;
  /** Where it is, for display (a file of a directory store). */
  path?: string;
  /** The certificate a database row is about. */
  serial?: string;
  /** A torn journal: the byte offset its complete lines end at. */
  line?: number;
  /** Modes: the one found and the one a repair sets. */
  mode?: number;
  wantMode?: number;
}

export interface StorageHealth {
  /** The store's lock as this command finds it, before taking it (taking it replaces a stale one). */
  lockProblems(): Promise<StorageProblem[]>;
  /**
   * Finishes a commit a crash interrupted (completes or undoes it), before anything else is read:
   * the problem it was, fixed; none when no commit is pending. Under the store lock.
   */
  recoverCommit?(): Promise<StorageProblem[]>;
  /**
   * Everything else wrong with the medium. `records` are the index's live records when the index
   * could be read (a cache of it is checked against them); absent otherwise.
   */
  health(p: { records?: readonly CertRecord[] }): Promise<StorageProblem[]>;
  /**
   * The records the index journal lost, by its storage's own evidence (summary-damage.ts): a
   * storage whose journal cannot lose committed lines (the database) has none.
   */
  indexDamage?(): Promise<IndexDamageReport | undefined>;
  /**
   * True for a storage whose index journal cannot lose committed lines (the database): a
   * certificate without an index line there is always a failed or crashed command's, however many.
   */
  readonly indexKeepsLines?: boolean;
  /**
   * Repairs fixable problems this storage reported, under the store lock and before the doctor's
   * commit. Never destroys: removes only its own temporaries (by exact name) and caches.
   */
  repair(problems: readonly StorageProblem[]): Promise<void>;
  /**
   * After a commit copied the blob `from` to `to` (a repair moving it aside): removes `from`, but
   * only while `to` holds exactly the same bytes.
   */
  discardMoved(from: string, to: string): Promise<void>;
}

/** The health check of `storage`, when its kind has one. */
export function storageHealthOf(storage: Storage): StorageHealth | undefined {
  if (storage instanceof DirectoryStorage) return new DirectoryHealth(storage);
  if (storage instanceof SqlStorage) return new SqlHealth(storage);
  return undefined;
}
