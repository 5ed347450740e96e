// The Storage interface (store/storage.ts) on PostgreSQL, which commands run on directly: store
// keys are the files table's paths, journals its lines. Reads query the rows they need (nothing
// is copied out of the database); lock() is a session-level advisory lock held around each
// transaction, which a dropped connection releases; commit() is one database transaction.

import { AsyncLocalStorage } from "node:async_hooks";
import type { AuditEntry } from "../../audit/audit.js";
import { chainAuditLines, GENESIS, lineHash } from "../../audit/audit.js";
import { conflictError, envError } from "../../errors.js";
import type { DurableStepHook } from "../fs.js";
import { type IndexPart, type IndexView, viewOfJournal } from "../index-summary.js";
import { type StagedJournal, stageJournal } from "../journal-staging.js";
import { isStoreKey, type JournalName, journalFile } from "../keys.js";
import { isPackable, packedSerial } from "../pack.js";
import type { AsideLock, EarlyCertificates, PutOptions, Storage, StorageTransaction } from "../storage.js";
import { checkDatabase, type DatabaseProblem, rebuildDerived } from "./check.js";
import { type ConnectParams, connectPg, type SqlClient } from "./pg.js";
import { ensureSchema, PATHS_CHECKED } from "./schema.js";
import { checkSqlSummary, dropSqlSummary, keepSqlSummary, sqlIndexView } from "./summary.js";
import { dropJournal, insertLines, type Journal, markChanged, recordCrlNumbers, recordDerived } from "./tree.js";

/** The store-wide advisory lock key (an arbitrary, fixed number: "mtls" + 1). */
export const STORE_LOCK = 0x6d746c73_01;
/** The advisory lock keys of the locks aside from the store's (see Storage.lockAside). */
const ASIDE_LOCKS: Record<AsideLock, number> = { notify: 0x6d746c73_02 };

export interface SqlStorageOptions extends ConnectParams {
  /** How long lock() waits for another process (milliseconds). */
  lockTimeoutMs?: number;
  /** Test-only fault injection: called before each statement of a commit (see DurableStepHook). */
  onDurableStep?: DurableStepHook;
}

/** What the schema's CHECK on mtls.files allows; checked again when someone has dropped it. */
const SAFE_PATH = "^[A-Za-z0-9._+@-]+(/[A-Za-z0-9._+@-]+)*$";

const keyError = (key: string) => new Error(`not a store key: ${JSON.stringify(key)}`);
/** Directory modes as the directory store makes them: private/ is the owner's alone. */
const dirMode = (path: string) => (path === "private" || path.startsWith("private/") ? 0o700 : 0o755);

export class SqlStorage implements Storage {
  private conn: Promise<SqlClient> | undefined;
  /** A second connection for reads while this process holds the lock (see reader()). */
  private readConn: Promise<SqlClient> | undefined;
  private held = false;
  private readonly holder = new AsyncLocalStorage<boolean>();
  private queue: Promise<unknown> = Promise.resolve();
  private checked = false;
  /**
   * Blobs asked for in one turn of the event loop, by the connection they are read on: fetched
   * in one statement. A command asks for its config, CA certificates, key and registry at once,
   * which one at a time were a round trip each (#21).
   */
  private readonly gets = new Map<Promise<SqlClient>, Map<string, Array<Waiter<Uint8Array | undefined>>>>();
  /** The store's last seen change (see version()), and the poll that keeps it current. */
  private revision: string | undefined;
  private poll: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SqlStorageOptions) {}

  get durableStep(): DurableStepHook | undefined {
    return this.opts.onDurableStep;
  }

  /** Sets the test-only fault hook (the CLI opens the storage before it knows the command's hook). */
  setDurableStep(hook: DurableStepHook | undefined): void {
    if (hook) this.opts.onDurableStep = hook;
    else delete this.opts.onDurableStep;
  }

  get location(): string {
    return this.opts.display;
  }

  /** The connection, made on first use with the schema brought up to date. */
  db(): Promise<SqlClient> {
    this.conn ??= (async () => {
      const db = await connectPg(this.opts);
      try {
        // The schema's check answered with its version saves refusePlantedRows a round trip.
        if ((await ensureSchema(db, this.opts.display)).pathsChecked) this.checked = true;
      } catch (err) {
        await db.end();
        throw err;
      }
      return db;
    })();
    return this.conn;
  }

  /**
   * The connection a read goes to. A transaction's statements run on the main connection, and a
   * read queued there between them (a server answering a request while its own timer commits)
   * would see rows the transaction has not committed, or later rolls back. So while this process
   * holds the lock, reads from outside the holder's work go to a second connection, made on
   * first need, which sees committed rows only. A command that never overlaps reads with its own
   * transaction never makes it.
   */
  private reader(): Promise<SqlClient> {
    if (!this.held || this.holder.getStore()) return this.db();
    this.readConn ??= this.db().then(() =>
      connectPg(this.opts).catch((err) => {
        this.readConn = undefined;
        throw err;
      }),
    );
    return this.readConn;
  }

  async close(): Promise<void> {
    clearInterval(this.poll);
    this.poll = undefined;
    const conns = [this.conn, this.readConn];
    this.conn = undefined;
    this.readConn = undefined;
    // A connection that was never made has nothing to end (its error went to its callers).
    for (const c of conns) if (c) await (await c.catch(() => undefined))?.end();
  }

  async exists(): Promise<boolean> {
    return (await (await this.db()).query("SELECT 1 FROM mtls.files WHERE path = 'config.json'")).length > 0;
  }

  async open(): Promise<string> {
    await this.refusePlantedRows();
    const data = await this.get("config.json");
    if (!data)
      throw envError("ERR_NO_PKI", `no PKI found in ${this.location}`, "run `mtls ca init` with this --store, or `mtls store migrate` a directory into it");
    return Buffer.from(data).toString("utf8");
  }

  /**
   * The database is shared: whoever can drop the schema's CHECK on paths could plant a row no
   * directory store could hold. Refused (exit 5) rather than served. While the constraint is in
   * place this costs nothing: the connection's first statement saw it (ensureSchema).
   */
  private async refusePlantedRows(): Promise<void> {
    if (this.checked) return;
    const db = await this.db();
    if (this.checked) return;
    const [c] = await db.query<{ checked: boolean }>(`SELECT ${PATHS_CHECKED} AS checked`);
    if (!c?.checked) {
      const [bad] = await db.query<{ path: string }>("SELECT path FROM mtls.files WHERE path !~ $1 OR path ~ '(^|/)\\.\\.?(/|$)' LIMIT 1", [SAFE_PATH]);
      if (bad)
        throw envError(
          "ERR_STORE_CORRUPT",
          `the database store holds a file named ${JSON.stringify(bad.path)}, which is not a store path`,
          "remove that row: mtls never writes one",
        );
    }
    this.checked = true;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    if (!isStoreKey(key)) throw keyError(key);
    const conn = this.reader();
    let batch = this.gets.get(conn);
    if (!batch) {
      const keys = new Map<string, Array<Waiter<Uint8Array | undefined>>>();
      batch = keys;
      this.gets.set(conn, keys);
      // Nothing awaits the connection until the batch is sent: a failed connect reaches the
      // waiters then, and must not count as unhandled meanwhile.
      conn.catch(() => {});
      setImmediate(() => {
        this.gets.delete(conn);
        fetchBlobs(conn, keys);
      });
    }
    const waiters = batch.get(key) ?? [];
    batch.set(key, waiters);
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  getSecret(key: string): Promise<Uint8Array | undefined> {
    return this.get(key);
  }

  async list(prefix: string): Promise<string[]> {
    const like = `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await (await this.reader()).query<{ path: string }>("SELECT path FROM mtls.files WHERE path LIKE $1 AND NOT is_dir ORDER BY path", [like]);
    return rows.map((r) => r.path);
  }

  /** `postgres://host/db#certs/ab.pem`: the store's URL with the key as its fragment. */
  where(key: string): string {
    return `${this.location}#${key}`;
  }

  localPath(): string | undefined {
    return undefined;
  }

  /**
   * For the long-running servers: a token for the store's state, the same for every key (any
   * commit changes it; updated_at tells apart two commits that reached the same count after a
   * rollback). Polled twice a second once asked for, so a server re-reads what it serves only
   * after a change, at most half a second after it committed; undefined ("read it again")
   * until the first poll has answered.
   */
  version(_key?: string): string | undefined {
    if (!this.poll) {
      const read = async () => {
        const [row] = await (await this.reader()).query<{ v: string }>("SELECT revision::text || '@' || updated_at::text AS v FROM mtls.store WHERE id = 1");
        this.revision = row?.v;
      };
      this.poll = setInterval(() => read().catch(() => (this.revision = undefined)), 500);
      this.poll.unref();
      read().catch(() => {});
    }
    return this.revision;
  }

  journalVersion(_name: JournalName): string | undefined {
    return this.version();
  }

  async mode(key: string): Promise<number | undefined> {
    if (!isStoreKey(key)) throw keyError(key);
    const [row] = await (await this.reader()).query<{ mode: number }>("SELECT mode FROM mtls.files WHERE path = $1 AND NOT is_dir", [key]);
    return row ? row.mode & 0o777 : undefined;
  }

  /** doctor (sql/health.ts): where the database's tables disagree with the store's records. */
  async checkTables(): Promise<DatabaseProblem[]> {
    return checkDatabase(await this.db());
  }

  /** doctor --fix: the derived tables rebuilt from the journals, in one transaction under the store lock. */
  rebuildTables(): Promise<void> {
    return this.inOwnTransaction("doctor --fix", (db) => rebuildDerived(db, (j, first, lines) => recordDerived(db, j, first, lines)));
  }

  /** After a commit copied `from` to `to` (doctor moving a blob aside): `from` goes, while `to` holds the same bytes. */
  discardMoved(from: string, to: string): Promise<void> {
    if (!isStoreKey(from) || !isStoreKey(to)) throw keyError(isStoreKey(from) ? to : from);
    return this.inOwnTransaction("doctor --fix", async (db) => {
      await db.query(
        "DELETE FROM mtls.files f WHERE f.path = $1 AND NOT f.is_dir AND f.data = (SELECT t.data FROM mtls.files t WHERE t.path = $2 AND NOT t.is_dir)",
        [from, to],
      );
    });
  }

  /** `fn` in one database transaction under the store lock (re-entered by its holder), counted as a change. */
  inOwnTransaction(purpose: string, fn: (db: SqlClient) => Promise<void>): Promise<void> {
    return this.lock(purpose, async () => {
      const db = await this.db();
      await db.query("BEGIN");
      try {
        await fn(db);
        await markChanged(db);
        await db.query("COMMIT");
      } catch (err) {
        await db.query("ROLLBACK").catch(() => {});
        throw err;
      }
    });
  }

  /** `list` and `status`: the index's summary, kept in the database for the next reader (sql/summary.ts). */
  async indexView(parts: readonly IndexPart[]): Promise<IndexView> {
    const inTransaction = this.held && this.holder.getStore() === true;
    const name = this.where(journalFile.index);
    try {
      // A summary is stored on a connection of its own: a transaction on a shared one would take
      // in the statements of whoever else uses it meanwhile.
      return await sqlIndexView(
        await this.reader(),
        name,
        parts,
        inTransaction ? undefined : (g, s, replace) => this.onOwnConnection((db) => keepSqlSummary(db, g, s, replace)),
      );
    } catch (err) {
      // A role that may not read the summary's tables (granted before they existed) still gets
      // the index, built from the journal as before schema version 2. Not inside a transaction:
      // the failed statement has ended it.
      if (inTransaction || (err as { code?: string }).code !== "ERR_STORE_PERMISSION") throw err;
      return viewOfJournal(Buffer.from(await this.readJournal("index"), "utf8"), name);
    }
  }

  /** `fn` on a new connection, closed after it. */
  private async onOwnConnection(fn: (db: SqlClient) => Promise<void>): Promise<void> {
    const db = await connectPg(this.opts).catch(() => undefined);
    if (!db) return;
    try {
      await fn(db);
    } finally {
      await db.end();
    }
  }

  /** doctor: the stored summary against one built now; the repair removes it. */
  async checkSummary(): Promise<string | undefined> {
    return checkSqlSummary(await this.db(), this.where(journalFile.index));
  }

  dropSummary(): Promise<void> {
    return this.inOwnTransaction("doctor --fix", (db) => dropSqlSummary(db));
  }

  async readJournal(name: JournalName): Promise<string> {
    const [row] = await (await this.reader()).query<{ text: string | null }>(
      "SELECT string_agg(text || E'\\n', '' ORDER BY line) AS text FROM mtls.journal_lines WHERE journal = $1",
      [journalFile[name]],
    );
    return row?.text ?? "";
  }

  /** One row gone, in a transaction of its own under the store lock; a missing row is an error, as a missing file is. */
  remove(key: string): Promise<void> {
    if (!isStoreKey(key)) throw keyError(key);
    return this.inOwnTransaction("remove", async (db) => {
      const gone = await db.query("DELETE FROM mtls.files WHERE path = $1 AND NOT is_dir RETURNING path", [key]);
      if (gone.length === 0) throw envError("ERR_NOT_FOUND", `${this.where(key)} does not exist`);
    });
  }

  /**
   * One holder at a time within this process too: the advisory lock is per connection, so a
   * second transaction of the same process (a server's timer beside a request) would otherwise
   * pass straight through it and interleave its statements on the one connection. A call made
   * inside the holder's own work (doctor's repair) runs at once.
   */
  lock<T>(purpose: string, fn: () => Promise<T>): Promise<T> {
    if (this.holder.getStore()) return fn();
    const turn = this.queue.then(() => this.holder.run(true, () => this.lockDb(purpose, fn)));
    this.queue = turn.catch(() => {});
    return turn;
  }

  private async lockDb<T>(purpose: string, fn: () => Promise<T>): Promise<T> {
    const db = await this.db();
    // From here on the main connection waits for the lock, then carries the transaction.
    this.held = true;
    try {
      const seconds = Math.max(1, Math.round((this.opts.lockTimeoutMs ?? 60_000) / 1000));
      await db.query(`SET lock_timeout = '${seconds}s'`);
      try {
        await db.query("SELECT pg_advisory_lock($1)", [STORE_LOCK]);
      } catch (err) {
        if ((err as { code?: string }).code === "ERR_LOCKED")
          throw envError(
            "ERR_LOCKED",
            `the database store ${this.location} is locked by another mtls command (${purpose} waited ${seconds}s)`,
            "wait for it to finish and run the command again",
          );
        throw err;
      }
      try {
        return await fn();
      } finally {
        await db.query("SELECT pg_advisory_unlock($1)", [STORE_LOCK]).catch(() => {});
      }
    } finally {
      this.held = false;
    }
  }

  /**
   * On a connection of its own, made for the purpose and ended after: the advisory lock is per
   * connection, so two holders in one process each need theirs, and the main connection stays free
   * for the store lock and reads meanwhile.
   */
  async lockAside<T>(name: AsideLock, purpose: string, fn: () => Promise<T>): Promise<T> {
    const db = await connectPg(this.opts);
    try {
      const seconds = Math.max(1, Math.round((this.opts.lockTimeoutMs ?? 60_000) / 1000));
      await db.query(`SET lock_timeout = '${seconds}s'`);
      try {
        await db.query("SELECT pg_advisory_lock($1)", [ASIDE_LOCKS[name]]);
      } catch (err) {
        if ((err as { code?: string }).code === "ERR_LOCKED")
          throw envError(
            "ERR_LOCKED",
            `the database store ${this.location} is locked by another mtls ${name} (${purpose} waited ${seconds}s)`,
            "wait for it to finish and run the command again",
          );
        throw err;
      }
      return await fn();
    } finally {
      // Ending the connection releases the lock.
      await db.end().catch(() => {});
    }
  }

  begin(): StorageTransaction {
    return new SqlTransaction(this);
  }
}

class SqlTransaction implements StorageTransaction {
  private readonly puts: StagedBlob[] = [];
  private readonly journals: StagedJournal[] = [];
  private readonly entries: AuditEntry[] = [];
  private at: { time: Date; actor: string } | undefined;

  constructor(private readonly storage: SqlStorage) {}

  put(key: string, data: string | Uint8Array, opts: PutOptions = {}): void {
    if (!isStoreKey(key)) throw keyError(key);
    this.puts.push({ key, data: Buffer.from(data), opts });
  }

  append(journal: JournalName, text: string): void {
    stageJournal(this.journals, "append", journal, text);
  }

  rewrite(journal: JournalName, text: string): void {
    stageJournal(this.journals, "rewrite", journal, text);
  }

  async audit(entries: AuditEntry[], at: { time: Date; actor: string }): Promise<void> {
    this.entries.push(...entries);
    this.at = at;
  }

  /** Under the lock its caller holds: one database transaction, all of it or none. */
  commit(): Promise<void> {
    const step = this.storage.durableStep;
    return this.storage.inOwnTransaction("commit", async (db) => {
      await writeBlobs(db, this.puts, this.storage.location, step);
      for (const j of this.journals) {
        step?.("append", journalFile[j.journal]);
        await this.writeJournal(db, journalFile[j.journal] as Journal, j.kind, j.text);
      }
      if (this.entries.length && this.at) {
        step?.("append", "audit.log");
        await this.writeAudit(db, this.at);
      }
      step?.("commit", this.storage.location);
    });
  }

  /**
   * The staged new certificate and chain rows, committed in a database transaction of their own
   * (see StorageTransaction.commitCertificates); the undo deletes them in another.
   */
  async commitCertificates(): Promise<EarlyCertificates> {
    const certs = this.puts.filter((p) => p.opts.exclusive && !p.opts.secret && isPackable(p.key));
    if (certs.length === 0) return { serials: [], undo: async () => {} };
    const step = this.storage.durableStep;
    await this.storage.inOwnTransaction("commit", async (db) => {
      await writeBlobs(db, certs, this.storage.location, step);
      step?.("commit", this.storage.location);
    });
    const rest = this.puts.filter((p) => !certs.includes(p));
    this.puts.splice(0, this.puts.length, ...rest);
    const keys = certs.map((c) => c.key);
    const serials = [...new Set(keys.flatMap((k) => packedSerial(k) ?? []))];
    const undo = () =>
      this.storage.inOwnTransaction("commit", async (db) => {
        await db.query("DELETE FROM mtls.files WHERE path = ANY($1::text[]) AND NOT is_dir", [keys]);
      });
    return { serials, undo };
  }

  private async writeJournal(db: SqlClient, j: Journal, kind: "append" | "rewrite", text: string): Promise<void> {
    if (kind === "rewrite") await dropJournal(db, j);
    await db.query("INSERT INTO mtls.journal_files (journal, mode, tail) VALUES ($1, $2, '') ON CONFLICT (journal) DO UPDATE SET tail = ''", [
      j,
      j === "audit.log" ? 0o640 : 0o644,
    ]);
    const [last] = await db.query<{ n: number }>("SELECT coalesce(max(line), 0)::int AS n FROM mtls.journal_lines WHERE journal = $1", [j]);
    const lines = text === "" ? [] : text.replace(/\n$/, "").split("\n");
    await insertLines(db, j, (last?.n ?? 0) + 1, lines);
  }

  /** Chains the staged records onto the last record the store holds (its seq and line hash). */
  private async writeAudit(db: SqlClient, at: { time: Date; actor: string }): Promise<void> {
    const [tail] = await db.query<{ text: string; seq: number }>(
      "SELECT l.text, a.seq::int AS seq FROM mtls.audit a JOIN mtls.journal_lines l ON l.journal = 'audit.log' AND l.line = a.line ORDER BY a.line DESC LIMIT 1",
    );
    const chained = chainAuditLines(this.entries, tail ? { seq: tail.seq, prev: lineHash(tail.text) } : { seq: 0, prev: GENESIS }, at.time, at.actor);
    await this.writeJournal(db, "audit.log", "append", chained.text);
  }
}

type StagedBlob = { key: string; data: Buffer; opts: PutOptions };

/** Rows per statement: a few megabytes of certificates, well below any server limit. */
const BLOB_ROWS = 1000;

/**
 * The staged blobs in a few statements: their directories in one, then the files in statements
 * of BLOB_ROWS, where a statement per directory and per file made a batch of 1,000 certificates
 * 4,000 round trips to the server (#21). A key staged twice is written one put at a time, so
 * the last put wins as it always did. `step` runs before each statement, named by its first key.
 */
async function writeBlobs(db: SqlClient, puts: StagedBlob[], location: string, step: DurableStepHook | undefined): Promise<void> {
  if (new Set(puts.map((p) => p.key)).size < puts.length) {
    for (const p of puts) await writeBlobRows(db, [p], location, step);
    return;
  }
  for (let at = 0; at < puts.length; at += BLOB_ROWS) await writeBlobRows(db, puts.slice(at, at + BLOB_ROWS), location, step);
}

async function writeBlobRows(db: SqlClient, puts: StagedBlob[], location: string, step: DurableStepHook | undefined): Promise<void> {
  const dirs = new Set<string>();
  for (const { key } of puts) for (let i = key.indexOf("/"); i > 0; i = key.indexOf("/", i + 1)) dirs.add(key.slice(0, i));
  if (dirs.size) {
    step?.("write", [...dirs][0] as string);
    await db.query(
      "INSERT INTO mtls.files (path, is_dir, mode) SELECT p, true, m FROM unnest($1::text[], $2::int[]) AS t(p, m) ON CONFLICT (path) DO NOTHING",
      [[...dirs], [...dirs].map(dirMode)],
    );
  }
  for (const exclusive of [true, false]) {
    const rows = puts.filter((p) => (p.opts.exclusive === true) === exclusive);
    if (rows.length === 0) continue;
    step?.("write", (rows[0] as StagedBlob).key);
    // A directory row under a file's key counts as taken: data in it would make it a file that
    // still holds the files beneath it.
    const written = await db.query<{ path: string }>(
      `INSERT INTO mtls.files (path, is_dir, mode, data) SELECT p, false, m, d FROM unnest($1::text[], $2::int[], $3::bytea[]) AS t(p, m, d)
       ON CONFLICT (path) DO ${exclusive ? "NOTHING" : "UPDATE SET mode = EXCLUDED.mode, data = EXCLUDED.data WHERE NOT mtls.files.is_dir"} RETURNING path`,
      [rows.map((p) => p.key), rows.map((p) => (p.opts.secret ? 0o600 : 0o644)), rows.map((p) => p.data)],
    );
    if (written.length < rows.length) {
      const done = new Set(written.map((r) => r.path));
      const taken = rows.find((p) => !done.has(p.key)) as StagedBlob;
      throw conflictError("ERR_EXISTS", `${taken.key} already exists in ${location}`);
    }
  }
  for (const p of puts)
    if (p.key === "crl/state.json") {
      step?.("write", p.key);
      await recordCrlNumbers(db, p.data);
    }
}

type Waiter<T> = { resolve: (v: T) => void; reject: (err: unknown) => void };

/** Answers every waiter of `keys` from one statement; a key asked for twice gets a copy of its own. */
async function fetchBlobs(conn: Promise<SqlClient>, keys: Map<string, Array<Waiter<Uint8Array | undefined>>>): Promise<void> {
  try {
    const rows = await (await conn).query<{ path: string; data: Buffer }>("SELECT path, data FROM mtls.files WHERE path = ANY($1::text[]) AND NOT is_dir", [
      [...keys.keys()],
    ]);
    const found = new Map(rows.map((r) => [r.path, r.data]));
    for (const [key, waiters] of keys) {
      const data = found.get(key);
      for (const [i, w] of waiters.entries()) w.resolve(data && i > 0 ? Buffer.from(data) : data);
    }
  } catch (err) {
    for (const waiters of keys.values()) for (const w of waiters) w.reject(err);
  }
}
