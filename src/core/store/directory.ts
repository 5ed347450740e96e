// The directory store: the Storage interface over a PKI directory, in the layout and formats
// the README documents ("Store layout"). Writes go through StoreWriter (temp + fsync + rename,
// journal appends last), so a commit is all-or-nothing and a crash leaves what doctor repairs.
import { lstat, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { type AuditEntry, stageAudit } from "../audit/audit.js";
import { fsError } from "../errors.js";
import { completeLength, type DurableStepHook, ensureDir, readJournal, readText, StoreWriter } from "./fs.js";
import { type StagedJournal, stageJournal } from "./journal-staging.js";
import { isStoreKey, type JournalName, journalFile } from "./keys.js";
import { type Layout, layoutOf } from "./layout.js";
import { withLock } from "./lock.js";
import type { PutOptions, Storage, StorageTransaction } from "./storage.js";
import { openStore } from "./store.js";

export interface DirectoryStorageOptions {
  /** How long lock() waits for another process (milliseconds). */
  lockTimeoutMs?: number;
  /** Test-only: runs before every durable write (see DurableStepHook). */
  onDurableStep?: DurableStepHook;
}

/** Local files a transaction may write outside the store, in the same all-or-nothing commit. */
export interface LocalFileStaging {
  putFile(path: string, data: string | Uint8Array, opts?: { mode?: number; exclusive?: boolean }): void;
}

export class DirectoryStorage implements Storage {
  readonly layout: Layout;

  constructor(
    dir: string,
    private readonly opts: DirectoryStorageOptions = {},
  ) {
    this.layout = layoutOf(dir);
  }

  get location(): string {
    return this.layout.root;
  }

  /** The hook writers outside the store (publish copies, --out files) must honour too. */
  get durableStep(): DurableStepHook | undefined {
    return this.opts.onDurableStep;
  }

  /** The file behind a key: the only place a key becomes a path. */
  pathOf(key: string): string {
    if (!isStoreKey(key)) throw new Error(`not a store key: ${JSON.stringify(key)}`);
    return join(this.layout.root, key);
  }

  journalPath(name: JournalName): string {
    return join(this.layout.root, journalFile[name]);
  }

  async exists(): Promise<boolean> {
    return (await lstat(this.layout.config).catch(() => undefined)) !== undefined;
  }

  async open(): Promise<string> {
    await openStore(this.layout.root);
    return readText(this.layout.config);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const path = this.pathOf(key);
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw fsError(err, path, "read");
    }
  }

  async readJournal(name: JournalName): Promise<string> {
    return (await readJournal(this.journalPath(name))).text;
  }

  lock<T>(purpose: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.layout.lock, fn, { purpose, ...(this.opts.lockTimeoutMs ? { timeoutMs: this.opts.lockTimeoutMs } : {}) });
  }

  begin(): DirectoryTransaction {
    return new DirectoryTransaction(this);
  }
}

export class DirectoryTransaction implements StorageTransaction, LocalFileStaging {
  private readonly writer: StoreWriter;
  private readonly journals: StagedJournal[] = [];
  private auditEntries: AuditEntry[] = [];
  private auditAt: { time: Date; actor: string } | undefined;
  /** Directories of the store that staged blobs go into, created at commit if missing. */
  private readonly dirs = new Map<string, number>();

  constructor(private readonly store: DirectoryStorage) {
    this.writer = new StoreWriter(store.durableStep);
  }

  put(key: string, data: string | Uint8Array, opts: PutOptions = {}): void {
    const mode = opts.secret ? 0o600 : 0o644;
    this.dirs.set(dirname(this.store.pathOf(key)), key.startsWith("private/") ? 0o700 : 0o755);
    if (opts.exclusive) this.writer.create(this.store.pathOf(key), data, mode);
    else this.writer.put(this.store.pathOf(key), data, mode);
  }

  putFile(path: string, data: string | Uint8Array, opts: { mode?: number; exclusive?: boolean } = {}): void {
    if (opts.exclusive) this.writer.create(path, data, opts.mode ?? 0o644);
    else this.writer.put(path, data, opts.mode ?? 0o644);
  }

  append(journal: JournalName, text: string): void {
    stageJournal(this.journals, "append", journal, text);
  }

  rewrite(journal: JournalName, text: string): void {
    stageJournal(this.journals, "rewrite", journal, text);
  }

  async audit(entries: AuditEntry[], at: { time: Date; actor: string }): Promise<void> {
    this.auditEntries = [...this.auditEntries, ...entries];
    this.auditAt = at;
  }

  async commit(): Promise<void> {
    // Journal offsets are taken now, under the lock: anything after the last newline is a
    // torn append of a crashed writer, which this commit overwrites.
    for (const [dir, mode] of this.dirs) await ensureDir(dir, mode);
    const pending = new Map<JournalName, { rewrite?: string; append: string }>();
    for (const j of this.journals) {
      const cur = pending.get(j.journal) ?? { append: "" };
      if (j.kind === "rewrite") pending.set(j.journal, { rewrite: j.text, append: "" });
      else if (cur.rewrite !== undefined) pending.set(j.journal, { rewrite: cur.rewrite + j.text, append: "" });
      else pending.set(j.journal, { append: cur.append + j.text });
    }
    // Order (README "Durable order of writes"): blobs, then the appends: the revocation journal,
    // the audit log, and the index last, as the commit point of an issue.
    const writeJournal = async (name: JournalName) => {
      const j = pending.get(name);
      const path = this.store.journalPath(name);
      if (j?.rewrite !== undefined) this.writer.put(path, j.rewrite, 0o644);
      else if (j?.append) this.writer.append(path, j.append, await completeLength(path), 0o644);
    };
    await writeJournal("revocations");
    await writeJournal("probe-certs");
    if (this.auditAt && this.auditEntries.length) await stageAudit(this.writer, this.store.layout, this.auditEntries, this.auditAt.time, this.auditAt.actor);
    await writeJournal("index");
    await this.writer.commit();
  }
}
