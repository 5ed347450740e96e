// The PKI session: opened once per command by the CLI (or a test), handed to core functions.
// It carries the context every operation shares (the time, who acts, where the CA passphrase
// comes from) and owns the one transaction path: pki.transact takes the lock, stages every
// write and the audit record, and commits all of it or none.
import type { AuditEntry } from "./audit/audit.js";
import type { PassphraseSource } from "./ca/material.js";
import { envError, MtlsError } from "./errors.js";
import { interruptedCommitOf } from "./store/commit-intent.js";
import { parseConfig, type StoreConfig } from "./store/config.js";
import { DirectoryStorage, type LocalFileStaging } from "./store/directory.js";
import type { DurableStepHook } from "./store/fs.js";
import { dropOld, putBackOld, writeReplacing } from "./store/fs.js";
import type { JournalName } from "./store/keys.js";
import type { AsideLock, EarlyCertificates, PutOptions, Storage, StorageTransaction } from "./store/storage.js";
import { removeFile } from "./user-files.js";

export interface PkiOptions {
  /** The time of this command; a function for long-running servers (each transaction reads it). */
  now?: Date | (() => Date);
  /**
   * Who acts, as the audit log names them (`user@host`, or MTLS_ACTOR); a function is asked once,
   * when a record needs it (finding the user reads /etc/passwd, which a read-only command need not).
   */
  actor: string | (() => string);
  /** Where the CA key passphrase comes from; asked only when an encrypted key must be opened. */
  passphrase?: PassphraseSource;
  /** How long a transaction waits for the store lock (milliseconds). */
  lockTimeoutMs?: number;
  /** Test-only fault injection, passed to the directory storage (see DurableStepHook). */
  onDurableStep?: DurableStepHook;
  /**
   * A session that writes: a commit a crash interrupted is finished (Storage.recover) before its
   * first read, which the command prepares its change from (`doctor` reports it instead).
   */
  recover?: boolean;
}

export interface TransactOptions {
  /** Shown to whoever waits for the lock ("partner issue"); defaults to the action. */
  purpose?: string;
  /** False: leave a commit a crash interrupted as it is (doctor reports it); see LockOptions. */
  recover?: boolean;
}

export interface FileOptions {
  mode?: number;
  /** Fail with a conflict error when the file exists (no silent overwrite). */
  exclusive?: boolean;
}

/** What a transaction's body sees: reads of the store, staged writes, staged audit records. */
export interface Tx {
  /** The transaction's time: one instant for every record it writes. */
  readonly now: Date;
  readonly actor: string;
  /** config.json as it is under the lock (read once per transaction). */
  config(): Promise<StoreConfig>;
  /** A blob, as this transaction left it (its own staged puts included). */
  get(key: string): Promise<Uint8Array | undefined>;
  /** A secret blob (see Storage.getSecret), its own staged puts included. */
  getSecret(key: string): Promise<Uint8Array | undefined>;
  /** Keys under a prefix, as committed plus this transaction's own puts. */
  list(prefix: string): Promise<string[]>;
  /** How messages name a key (see Storage.where). */
  where(key: string): string;
  /** A journal as committed, followed by this transaction's own appends (or its rewrite). */
  readJournal(name: JournalName): Promise<string>;
  put(key: string, data: string | Uint8Array, opts?: PutOptions): this;
  append(journal: JournalName, text: string): this;
  rewrite(journal: JournalName, text: string): this;
  /** Stages audit records; they are committed with the rest, after it. */
  audit(...entries: AuditEntry[]): void;
  /**
   * A file outside the store (a certificate or key the user named with --out, a delivery bundle),
   * in the commit: durable only once the store's new certificate files are (a crash must never
   * leave a certificate outside that no record, file or pack of the store names, since only what
   * the store holds can be revoked), and before the change commits. Removed again when the commit
   * fails (it would hold a certificate never recorded); a file it replaced gets its old version back.
   */
  writeFile(path: string, data: string | Uint8Array, opts?: FileOptions): this;
  /**
   * Runs `fn` after a successful commit, still under the lock: follow-up work whose failure
   * must not undo the change (copying CRLs to a publish directory is a warning, not an error).
   */
  afterCommit(fn: () => Promise<void>): void;
  /** Runs `fn` when the commit fails: undoes what the body did outside the store (files for the user). */
  onRollback(fn: (err: unknown) => Promise<void>): void;
}

export interface Pki {
  readonly storage: Storage;
  /** Where the store is, for messages. */
  readonly location: string;
  readonly actor: string;
  /** The session's time (a fresh reading per access when opened with a clock). */
  readonly now: Date;
  /** The test-only durable-step hook, for writers outside a transaction (see DurableStepHook). */
  readonly durableStep: DurableStepHook | undefined;
  /** The CA key passphrase source (asked at most once), for loadCaKey and friends. */
  readonly passphrase: PassphraseSource | undefined;
  /** config.json, checked; read once per session (a transaction reads it afresh under the lock). */
  config(): Promise<StoreConfig>;
  /**
   * The intent record of a change a crash interrupted, if the store holds one: a session that
   * only reads recovers nothing, so what it reads may be half of that change. One lstat.
   */
  interruptedCommit(): string | undefined;
  /**
   * The only write path: runs `fn` under the store lock, then commits everything it staged
   * and its audit records together. If `fn` throws, nothing is written.
   */
  transact<T>(action: string, fn: (tx: Tx) => Promise<T>, opts?: TransactOptions): Promise<T>;
  /**
   * Runs `fn` on the committed store without the lock, for a check of a store nothing can write
   * to (a read-only mount) where taking the lock is impossible. Its reads are a transaction's;
   * staging a write in it is a bug, refused after `fn`, and nothing is ever committed.
   */
  inspect<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` holding the store's `name` lock instead of the store lock, so that transactions
   * (its own, and other commands') go on meanwhile: for work that waits on other servers and
   * must not run twice at once (see Storage.lockAside).
   */
  aside<T>(name: AsideLock, fn: () => Promise<T>, opts?: TransactOptions): Promise<T>;
}

/** Opens the PKI at `location` (a directory, or a Storage such as the database store). Reads nothing yet. */
export async function openPki(location: string | Storage, opts: PkiOptions): Promise<Pki> {
  const storage =
    typeof location === "string"
      ? new DirectoryStorage(location, {
          ...(opts.lockTimeoutMs ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
          ...(opts.onDurableStep ? { onDurableStep: opts.onDurableStep } : {}),
        })
      : location;
  return new Session(storage, opts);
}

class Session implements Pki {
  private configRead: Promise<StoreConfig> | undefined;
  private passphraseRead: Promise<string> | undefined;
  private actorName: string | undefined;

  constructor(
    readonly storage: Storage,
    private readonly opts: PkiOptions,
  ) {}

  get location(): string {
    return this.storage.location;
  }

  get actor(): string {
    const a = this.opts.actor;
    this.actorName ??= typeof a === "function" ? a() : a;
    return this.actorName;
  }

  get now(): Date {
    const n = this.opts.now;
    return typeof n === "function" ? n() : (n ?? new Date());
  }

  get durableStep(): DurableStepHook | undefined {
    return this.opts.onDurableStep;
  }

  get passphrase(): PassphraseSource | undefined {
    const source = this.opts.passphrase;
    if (!source) return undefined;
    const once = () => {
      this.passphraseRead ??= source();
      return this.passphraseRead;
    };
    // Token access and whether it asks anyone travel with the passphrase source (see PassphraseSource).
    return Object.assign(once, {
      ...(source.tokens ? { tokens: source.tokens } : {}),
      ...(source.unattended !== undefined ? { unattended: source.unattended } : {}),
    });
  }

  config(): Promise<StoreConfig> {
    this.configRead ??= (async () => {
      if (this.opts.recover) await this.storage.recover?.();
      return parseConfig(await this.storage.open(), configName(this.storage));
    })();
    return this.configRead;
  }

  interruptedCommit(): string | undefined {
    return interruptedCommitOf(this.storage);
  }

  transact<T>(action: string, fn: (tx: Tx) => Promise<T>, opts: TransactOptions = {}): Promise<T> {
    const run = async () => {
      const staged = new StagedTx(this.storage, this.storage.begin(), this.now, this.actor, this.durableStep);
      const result = await fn(staged);
      await staged.commit();
      return result;
    };
    return opts.recover === false ? this.storage.lock(opts.purpose ?? action, run, { recover: false }) : this.storage.lock(opts.purpose ?? action, run);
  }

  async inspect<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const view = new StagedTx(this.storage, this.storage.begin(), this.now, this.actor, this.durableStep);
    const result = await fn(view);
    if (view.staged) throw new Error("a write was staged in a read-only view of the store");
    return result;
  }

  aside<T>(name: AsideLock, fn: () => Promise<T>, opts: TransactOptions = {}): Promise<T> {
    return this.storage.lockAside(name, opts.purpose ?? name, fn);
  }
}

class StagedTx implements Tx {
  /** Kept as given: a batch stages thousands of texts that are seldom read back (#21). */
  private readonly puts = new Map<string, string | Uint8Array>();
  /** This transaction's own journal edits, so that its reads see them. */
  private readonly journalEdits = new Map<JournalName, { rewritten?: string; appended: string }>();
  private readonly entries: AuditEntry[] = [];
  private readonly outside: Array<{ path: string; data: string | Uint8Array; opts: FileOptions }> = [];
  private readonly after: Array<() => Promise<void>> = [];
  private readonly undo: Array<(err: unknown) => Promise<void>> = [];
  private configRead: Promise<StoreConfig> | undefined;

  constructor(
    private readonly storage: Storage,
    private readonly inner: StorageTransaction,
    readonly now: Date,
    readonly actor: string,
    private readonly step: DurableStepHook | undefined,
  ) {}

  config(): Promise<StoreConfig> {
    this.configRead ??= this.storage.open().then((text) => parseConfig(text, configName(this.storage)));
    return this.configRead;
  }

  /** Whether anything was staged: a write, an audit record or follow-up work. */
  get staged(): boolean {
    return this.puts.size + this.journalEdits.size + this.entries.length + this.outside.length + this.after.length > 0;
  }

  private stagedBlob(key: string): Uint8Array | undefined {
    const data = this.puts.get(key);
    return typeof data === "string" ? Buffer.from(data) : data;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.stagedBlob(key) ?? this.storage.get(key);
  }

  async getSecret(key: string): Promise<Uint8Array | undefined> {
    return this.stagedBlob(key) ?? this.storage.getSecret(key);
  }

  async list(prefix: string): Promise<string[]> {
    const staged = [...this.puts.keys()].filter((k) => k.startsWith(prefix));
    return [...new Set([...(await this.storage.list(prefix)), ...staged])].sort();
  }

  where(key: string): string {
    return this.storage.where(key);
  }

  async readJournal(name: JournalName): Promise<string> {
    const own = this.journalEdits.get(name);
    if (own?.rewritten !== undefined) return own.rewritten + own.appended;
    return (await this.storage.readJournal(name)) + (own?.appended ?? "");
  }

  put(key: string, data: string | Uint8Array, opts?: PutOptions): this {
    this.puts.set(key, data);
    this.inner.put(key, data, opts);
    return this;
  }

  append(journal: JournalName, text: string): this {
    const e = this.journalEdits.get(journal) ?? { appended: "" };
    e.appended += text;
    this.journalEdits.set(journal, e);
    this.inner.append(journal, text);
    return this;
  }

  rewrite(journal: JournalName, text: string): this {
    this.journalEdits.set(journal, { rewritten: text, appended: "" });
    this.inner.rewrite(journal, text);
    return this;
  }

  afterCommit(fn: () => Promise<void>): void {
    this.after.push(fn);
  }

  onRollback(fn: (err: unknown) => Promise<void>): void {
    this.undo.push(fn);
  }

  audit(...entries: AuditEntry[]): void {
    this.entries.push(...entries);
  }

  writeFile(path: string, data: string | Uint8Array, opts: FileOptions = {}): this {
    if (isLocalStaging(this.inner)) this.inner.putFile(path, data, opts);
    else this.outside.push({ path, data, opts });
    return this;
  }

  async commit(): Promise<void> {
    // A storage that cannot stage files outside it (the database) commits its new certificates
    // on their own first, then the files are written, then the rest commits: a crash between
    // leaves certificates without an index line, which `doctor --fix` revokes. If the rest
    // fails, the files (a replaced one's old version put back) and those certificates go again.
    const written: Array<{ path: string; old?: string }> = [];
    let early: EarlyCertificates | undefined;
    try {
      if (this.outside.length) early = await this.inner.commitCertificates?.();
      for (const f of this.outside) {
        const old = await writeReplacing(f.path, f.data, { ...f.opts, step: this.step });
        written.push({ path: f.path, ...(old ? { old } : {}) });
      }
      if (this.entries.length) await this.inner.audit(this.entries, { time: this.now, actor: this.actor });
      await this.inner.commit();
    } catch (err) {
      for (const w of written) await (w.old ? putBackOld([{ path: w.path, old: w.old }]) : removeFile(w.path));
      const left =
        early &&
        (await early.undo().then(
          () => undefined,
          () => early?.serials,
        ));
      for (const fn of this.undo) await fn(err);
      throw left?.length ? unrecordedError(left, err) : err;
    }
    await dropOld(written.flatMap((w) => (w.old ? [{ path: w.path, old: w.old }] : [])));
    for (const fn of this.after) await fn();
  }
}

/**
 * The failure of a commit whose certificates were committed ahead of it and could not be removed
 * again (the connection is gone): they stay without an index line, which the cause's own words
 * ("nothing was committed") would deny.
 */
function unrecordedError(serials: readonly string[], cause: unknown): MtlsError {
  const why = (cause instanceof Error ? cause.message : String(cause)).replace(/; nothing was committed$/, "");
  return envError(
    cause instanceof MtlsError ? cause.code : "ERR_STORE_UNRECORDED",
    `the command failed after the store took in certificate ${serials.join(", ")}, which stays there without an index line: ${why}`,
    "run `mtls doctor --fix` once the store is reachable: it revokes certificates that were signed but never recorded",
    cause,
  );
}

const isLocalStaging = (t: StorageTransaction): t is StorageTransaction & LocalFileStaging => typeof (t as Partial<LocalFileStaging>).putFile === "function";

/** How errors name config.json: as the storage names it (its path in a directory store). */
const configName = (s: Storage): string => s.where("config.json");
