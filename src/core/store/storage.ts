// The storage interface under a PKI session. The directory store (directory.ts) is one
// implementation; a database is another. Commands and core logic see only this and the session
// (core/session.ts), never which one is underneath.
//
// The model is small on purpose:
// - blobs: opaque bytes under a key (certificates, keys, CRLs, config.json, partners.json);
// - journals: append-only text, one JSON record per line (the index, revocations, probe certs);
// - the audit log: a hash-chained journal the storage appends to, chaining each record onto the
//   last one it holds (see core/audit/audit.ts for the record and chain format);
// - one exclusive lock per store, and transactions that commit all their writes or none.
// Reads outside a transaction see the last committed state; writes are only ever staged in a
// transaction and become visible together at commit.
import type { AuditEntry } from "../audit/audit.js";
import type { IndexPart, IndexView } from "./index-summary.js";
import type { JournalName } from "./keys.js";

export type { JournalName } from "./keys.js";

export interface PutOptions {
  /** Private key material: readable by the owner only (a directory store writes it 0600). */
  secret?: boolean;
  /** The key must not exist yet: the commit fails with ERR_EXISTS rather than replace it. */
  exclusive?: boolean;
}

export interface Storage {
  /** Where the store is, for messages only ("/srv/pki", "postgres://db/mtls"). Never parsed. */
  readonly location: string;
  /** Whether a PKI exists here (config.json is present). */
  exists(): Promise<boolean>;
  /**
   * Checks the store can be used as it is (a directory store refuses planted symlinks) and
   * returns config.json's text. Fails with ERR_NO_PKI (exit 5) when there is no PKI.
   */
  open(): Promise<string>;
  /**
   * A blob's bytes, or undefined when there is none under `key`. A directory store refuses a
   * symbolic link planted in the store rather than follow it.
   */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * A secret blob (a private key): as get(), but a directory store also refuses a file that is
   * not regular or that other users can read (exit 5, naming the file and the chmod that fixes it).
   */
  getSecret(key: string): Promise<Uint8Array | undefined>;
  /** Every key under `prefix` ("certs/", "ca/"), sorted; journals are not blobs and never listed. */
  list(prefix: string): Promise<string[]>;
  /** How messages name a key: its file in a directory store, "postgres://…#key" in the database. */
  where(key: string): string;
  /**
   * The file a gateway or web server may read a blob from (a CA bundle, a CRL) when the storage
   * keeps one on local disk; undefined for a store with no such file (the caller then writes a copy).
   */
  localPath(key: string): string | undefined;
  /** A journal's complete lines (a line cut short by a crash is left out); "" when empty. */
  readJournal(name: JournalName): Promise<string>;
  /**
   * Optional, for long-running readers (the OCSP responder, the CRL server): a cheap token that
   * changes whenever the blob under `key` changes, so a reader re-reads only then. A storage
   * without one, or one answering undefined (it cannot tell yet), is simply re-read each time.
   */
  version?(key: string): string | undefined;
  /** As version(), for a journal. */
  journalVersion?(name: JournalName): string | undefined;
  /** Optional, for display (`ca show`): a blob's permission bits where the storage has them (a file's mode). */
  mode?(key: string): Promise<number | undefined>;
  /**
   * Optional, for `list` and `status` over many certificates: the index's summary (columns, the
   * rendered cells and --json elements, see index-summary.ts). A directory store keeps it as a
   * file next to the journal (index.jsonl.summary), a database as rows; `parts` say what the
   * reader will use besides the columns (a database fetches only that). A storage without it is
   * answered by building the summary in memory from readJournal("index") (see openIndexRows).
   */
  indexView?(parts: readonly IndexPart[]): Promise<IndexView>;
  /**
   * Removes one blob at once, outside any transaction: a CA key file whose key a token now holds,
   * after the commit that recorded the token key. A directory store unlinks the file; a database
   * deletes the row in a transaction of its own, under the store lock.
   */
  remove(key: string): Promise<void>;
  /**
   * Optional: finishes a commit a crash interrupted (completed or undone as one unit), under the
   * lock, when one is pending; nothing else (a directory store: one lstat). A storage whose
   * commits are atomic by themselves (a database) has none.
   */
  recover?(): Promise<void>;
  /**
   * Runs `fn` holding the store's exclusive lock; `purpose` is shown to whoever waits for it.
   * Fails with ERR_LOCKED (exit 5) when the lock is not free within the timeout.
   */
  lock<T>(purpose: string, fn: () => Promise<T>, opts?: LockOptions): Promise<T>;
  /**
   * Runs `fn` holding a lock of its own, apart from the store lock: work that must never run twice
   * at once but must not keep the store from changing meanwhile (notify's deliveries, which wait
   * on other servers). Fails with ERR_LOCKED (exit 5) as lock() does.
   */
  lockAside<T>(name: AsideLock, purpose: string, fn: () => Promise<T>): Promise<T>;
  /** Starts staging writes. Call under lock(); an uncommitted transaction is simply dropped. */
  begin(): StorageTransaction;
}

export interface LockOptions {
  /**
   * Whether a commit a crash interrupted is finished before `fn` runs (the default). `doctor`
   * turns it off to report it, and `doctor --fix` finishes it itself.
   */
  recover?: boolean;
}

/** The locks a store keeps besides its own (see Storage.lockAside). */
export type AsideLock = "notify";

/** What reading the store needs: the storage itself, or a transaction's view of it (Tx). */
export type StoreReader = Pick<Storage, "get" | "getSecret" | "readJournal" | "list" | "where">;

export interface StorageTransaction {
  /** Stages a blob write (replace, or create with `exclusive`). */
  put(key: string, data: string | Uint8Array, opts?: PutOptions): void;
  /** Stages lines (each ending in "\n") to append to a journal, after the blobs in commit order. */
  append(journal: JournalName, text: string): void;
  /** Stages a journal's whole content (compaction, a repair), replacing it. */
  rewrite(journal: JournalName, text: string): void;
  /**
   * Stages audit records, chained after the last record the store holds. `time` and `actor`
   * are the session's; the storage assigns the sequence number and the hash link.
   */
  audit(entries: AuditEntry[], at: { time: Date; actor: string }): Promise<void>;
  /**
   * Applies every staged write, or none: on failure the store is as it was before. The journal
   * appends (the index last among them) are the commit point of a change.
   */
  commit(): Promise<void>;
  /**
   * Optional, for a storage whose commit cannot take in files outside the store (a database):
   * commits the staged new certificate files on their own, ahead of the rest, so that files written
   * outside before the rest commits never hold a certificate the store lacks. Returns what removes
   * them again when the rest fails; a crash in between, or a failure that also stops the removal
   * (a lost connection), leaves certificates without an index line, which `mtls doctor --fix` revokes.
   */
  commitCertificates?(): Promise<EarlyCertificates>;
}

/** Certificates a storage committed ahead of the rest of a change (StorageTransaction.commitCertificates). */
export interface EarlyCertificates {
  serials: string[];
  /** Removes them again, in a transaction of its own. */
  undo(): Promise<void>;
}
