// The directory store: the Storage interface over a PKI directory, in the layout and formats
// the README documents ("Store layout"). Writes go through StoreWriter (temp + fsync + rename,
// journal appends last), so a commit is all-or-nothing and a crash leaves what doctor repairs.
import { existsSync, lstatSync, readFileSync } from "node:fs";
import { lstat, readdir, unlink } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import type { AuditEntry } from "../audit/audit.js";
import { envError, fsError } from "../errors.js";
import { stageAudit } from "./audit-file.js";
import { INTENT_FILE, type PendingCommit, pendingCommit, recoverCommit } from "./commit-intent.js";
import { PACK_FORMAT_VERSION, parseConfig, serializeConfig } from "./config.js";
import { completeLength, type DurableStepHook, ensureDurableDir, fileVersion, fsyncPath, readJournal, readText, StoreWriter } from "./fs.js";
import { type IndexView, openIndexView } from "./index-summary.js";
import { type StagedJournal, stageJournal } from "./journal-staging.js";
import { isStoreKey, type JournalName, journalFile } from "./keys.js";
import { type Layout, layoutOf } from "./layout.js";
import { withLock } from "./lock.js";
import { encodePack, isPackable, PACK_DIR, PACK_MIN_CERTS, PackIndex, packedSerial, packKey } from "./pack.js";
import type { AsideLock, LockOptions, PutOptions, Storage, StorageTransaction } from "./storage.js";
import { openStore } from "./store.js";
import { statIfThere, withStoreFile } from "./store-file.js";

export interface DirectoryStorageOptions {
  /** How long lock() waits for another process (milliseconds). */
  lockTimeoutMs?: number;
  /** Test-only: runs before every durable write (see DurableStepHook). */
  onDurableStep?: DurableStepHook;
}

/**
 * Local files a transaction may write outside the store, in the same all-or-nothing commit: once
 * the store's new files are durable, before anything refers to them (StoreWriter.writeOutside).
 */
export interface LocalFileStaging {
  putFile(path: string, data: string | Uint8Array, opts?: { mode?: number; exclusive?: boolean }): void;
}

export class DirectoryStorage implements Storage {
  readonly layout: Layout;
  /** Where each packed certificate is (pack.ts), built on the first read that needs it. */
  private readonly packs: PackIndex;

  constructor(
    dir: string,
    private readonly opts: DirectoryStorageOptions = {},
  ) {
    this.layout = layoutOf(dir);
    this.packs = new PackIndex(join(this.layout.root, PACK_DIR));
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
    return (await this.read(key, false))?.data;
  }

  async getSecret(key: string): Promise<Uint8Array | undefined> {
    return (await this.read(key, true))?.data;
  }

  /**
   * A blob's file, opened without following a link planted in its place (#13). Synchronous, as
   * the store's other reads (see readText in fs.ts): a blob is a few KiB.
   */
  private async read(key: string, secret: boolean): Promise<{ data: Buffer } | undefined> {
    const path = this.pathOf(key);
    let data: Buffer | undefined;
    try {
      // Non-blocking (STORE_READ), so a FIFO planted in the store is refused here instead of hanging the open.
      data = withStoreFile(
        path,
        (fd, st) => {
          if (!st.isFile()) throw envError("ERR_KEY_FILE", `${path} is not a regular file`, "restore it from your backup");
          if (secret && st.mode & 0o077)
            throw envError("ERR_KEY_PERMISSIONS", `${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)})`, `run: chmod 600 ${path}`);
          return readFileSync(fd);
        },
        (err) => {
          if (err.code === "ENOENT") return undefined;
          throw fsError(err, path, "read");
        },
      );
    } catch (err) {
      if (err instanceof Error && err.name === "MtlsError") throw err;
      throw fsError(err, path, "read");
    }
    if (data !== undefined) return { data };
    // A batch's certificates are only in its pack (pack.ts).
    const packed = !secret && isPackable(key) ? this.packs.get(key) : undefined;
    return packed === undefined ? undefined : { data: Buffer.from(packed) };
  }

  async list(prefix: string): Promise<string[]> {
    const dir = prefix.replace(/\/+$/, "");
    const base = dir ? this.pathOf(dir) : this.layout.root;
    const names = await readdir(base, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [];
      throw fsError(err, base, "list");
    });
    const keys = names
      .filter((d) => d.isFile())
      .map((d) => [dir, ...relative(base, join(d.parentPath ?? d.path, d.name)).split("/")].filter(Boolean).join("/"))
      .filter(isStoreKey);
    return keys.sort();
  }

  where(key: string): string {
    return this.pathOf(key);
  }

  localPath(key: string): string | undefined {
    const path = this.pathOf(key);
    // A packed certificate has no file of its own to hand out (pack.ts).
    if (isPackable(key) && !existsSync(path)) return undefined;
    return path;
  }

  async readJournal(name: JournalName): Promise<string> {
    return (await readJournal(this.journalPath(name))).text;
  }

  version(key: string): string {
    return fileVersion(this.pathOf(key));
  }

  journalVersion(name: JournalName): string {
    return fileVersion(this.journalPath(name));
  }

  async mode(key: string): Promise<number | undefined> {
    try {
      return lstatSync(this.pathOf(key), { throwIfNoEntry: false })?.mode;
    } catch {
      return undefined;
    }
  }

  /** From the summary when it matches the journal, rebuilding it when stale (index-summary.ts). */
  indexView(): Promise<IndexView> {
    return openIndexView(this.journalPath("index"));
  }

  async remove(key: string): Promise<void> {
    const path = this.pathOf(key);
    await unlink(path).catch((err) => Promise.reject(fsError(err, path, "remove")));
  }

  /**
   * A commit a crash interrupted is finished first (completed or undone, commit-intent.ts), so
   * that every transaction starts from a whole store; `doctor` asks for it not to be, to report it.
   */
  lock<T>(purpose: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
    const run = async () => {
      if (opts.recover !== false) await this.recoverCommit();
      return fn();
    };
    return withLock(this.layout.lock, run, { purpose, ...(this.opts.lockTimeoutMs ? { timeoutMs: this.opts.lockTimeoutMs } : {}) });
  }

  async recover(): Promise<void> {
    if (!statIfThere(join(this.layout.root, INTENT_FILE))) return;
    await this.lock("finish an interrupted commit", async () => {});
  }

  /** The interrupted commit of this store, if one is pending (call under the lock). */
  pendingCommit(): Promise<PendingCommit | undefined> {
    return pendingCommit(this.layout.root);
  }

  /** Finishes an interrupted commit, if one is pending (call under the lock): one lstat when none is. */
  async recoverCommit(): Promise<"completed" | "undone" | undefined> {
    const pending = await pendingCommit(this.layout.root);
    return pending && recoverCommit(pending, (dir) => fsyncPath(dir).catch((e) => Promise.reject(fsError(e, dir, "flush"))));
  }

  lockAside<T>(name: AsideLock, purpose: string, fn: () => Promise<T>): Promise<T> {
    const path = { notify: this.layout.notifyLock }[name];
    return withLock(path, fn, { purpose, ...(this.opts.lockTimeoutMs ? { timeoutMs: this.opts.lockTimeoutMs } : {}) });
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
  /** New certificate and chain files, written as one pack when there are enough of them (pack.ts). */
  private readonly packable: Array<{ key: string; data: string | Uint8Array; mode: number }> = [];
  /** config.json as this transaction writes it, if it does (a pack may raise its format). */
  private config: string | undefined;

  constructor(private readonly store: DirectoryStorage) {
    this.writer = new StoreWriter({ root: store.layout.root, path: join(store.layout.root, INTENT_FILE) }, store.durableStep);
  }

  put(key: string, data: string | Uint8Array, opts: PutOptions = {}): void {
    const mode = opts.secret ? 0o600 : 0o644;
    this.dirs.set(dirname(this.store.pathOf(key)), key.startsWith("private/") ? 0o700 : 0o755);
    if (opts.exclusive && !opts.secret && isPackable(key)) this.packable.push({ key, data, mode });
    // Only a certificate may exist before the commit point (it may be in a partner's hands already,
    // and doctor revokes it if the commit never happens); anything else new appears at it.
    else if (opts.exclusive && isPackable(key)) this.writer.create(this.store.pathOf(key), data, mode);
    else if (opts.exclusive) this.writer.createAtCommit(this.store.pathOf(key), data, mode);
    else this.writer.put(this.store.pathOf(key), data, mode);
    if (key === "config.json") this.config = typeof data === "string" ? data : Buffer.from(data).toString("utf8");
  }

  putFile(path: string, data: string | Uint8Array, opts: { mode?: number; exclusive?: boolean } = {}): void {
    this.writer.writeOutside(path, data, opts.mode ?? 0o644, opts.exclusive ?? false);
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
    if (this.stagePack()) await this.raiseFormat();
    for (const [dir, mode] of this.dirs) await ensureDurableDir(dir, mode);
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

  /**
   * Stages the certificate files: one pack for a transaction creating many (a batch), flushed once
   * instead of creating and flushing two files per certificate; the files themselves otherwise.
   * Returns whether it staged a pack.
   */
  private stagePack(): boolean {
    const certs = this.packable.filter((p) => !p.key.endsWith(".chain.pem"));
    if (certs.length < PACK_MIN_CERTS) {
      for (const p of this.packable) this.writer.create(this.store.pathOf(p.key), p.data, p.mode);
      return false;
    }
    const entries = this.packable.map((p) => ({ key: p.key, data: typeof p.data === "string" ? p.data : Buffer.from(p.data).toString("utf8") }));
    const key = packKey(packedSerial(certs[0]?.key as string) as string);
    this.dirs.set(dirname(this.store.pathOf(key)), 0o755);
    this.writer.create(this.store.pathOf(key), encodePack(entries), 0o644);
    return true;
  }

  /**
   * A store holding certificates only in packs has PACK_FORMAT_VERSION: an mtls that knows no
   * packs would find them missing. Raised in the commit that writes the first such pack, before
   * its index append; a store that never issues a batch keeps its format.
   */
  private async raiseFormat(): Promise<void> {
    const text = this.config ?? (await readText(this.store.layout.config));
    const config = parseConfig(text, this.store.layout.config);
    // Staged after any config.json this transaction wrote, so it is the version renamed last.
    if (config.formatVersion < PACK_FORMAT_VERSION)
      this.writer.put(this.store.layout.config, serializeConfig({ ...config, formatVersion: PACK_FORMAT_VERSION }), 0o644);
  }
}
