// Sessions on the database store. A command runs on SqlStorage directly (openDatabaseStore):
// each of its transactions takes the store's advisory lock (the database's, so it holds across
// machines) and commits in one database transaction; whatever fails (the command, the network,
// the server) rolls back the transaction under way, so a revocation, its CRL number and its
// audit record commit together or not at all. `store migrate` alone copies the whole store
// through a private directory (openSqlCopy), since a directory is what it reads or writes.
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { envError } from "../../errors.js";
import type { DurableStepHook } from "../fs.js";
import { isAlive } from "../lock.js";
import { type ConnectParams, connectPg, type SqlClient } from "./pg.js";
import { ensureSchema, type SchemaState } from "./schema.js";
import { SqlStorage, STORE_LOCK } from "./storage.js";
import { loadTree, saveTree, type TreeSnapshot } from "./tree.js";

/** A database store copied into a private directory for `store migrate`. */
export interface SqlCopy {
  /** The directory holding the store's files, as a directory store would. */
  readonly workdir: string;
  /** The store's URL without password, for output. */
  readonly display: string;
  /** Writes the directory's changes back and commits; the directory is removed either way. */
  commit(): Promise<{ changed: boolean }>;
  /** Rolls back (or finds the connection gone) and removes the directory. */
  rollback(): Promise<void>;
}

export interface OpenSqlParams extends ConnectParams {
  /** Where the private working directory is made (os.tmpdir()). */
  tmpRoot: string;
  /** How long to wait for another command's lock before exit 5 (milliseconds). */
  lockTimeoutMs?: number;
}

/**
 * Connects, creates or upgrades the schema if needed (so first use needs no set-up step), waits
 * for the store lock and loads the store. The returned session must be committed or rolled back.
 */
export async function openSqlCopy(p: OpenSqlParams): Promise<SqlCopy> {
  const db = await connectPg(p);
  let workdir: string | undefined;
  try {
    await ensureSchema(db, p.display);
    // A session-level lock: held across the command's transactions, released by the server
    // when the connection ends, however it ends.
    await db.query(`SET lock_timeout = '${Math.max(1, Math.round((p.lockTimeoutMs ?? 60_000) / 1000))}s'`);
    await db.query("SELECT pg_advisory_lock($1)", [STORE_LOCK]);
    await db.query("BEGIN");
    await removeStaleCopies(p.tmpRoot);
    workdir = await mkdtemp(join(p.tmpRoot, `mtls-store-${process.pid}-`));
    return new CopySession(db, workdir, p.display, await loadTree(db, workdir));
  } catch (err) {
    await db.query("ROLLBACK").catch(() => {});
    await db.end();
    if (workdir) await rm(workdir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

/**
 * Working copies left by a killed mtls (SIGKILL, a power cut) hold copies of the store's files,
 * the CA keys in their encrypted envelopes among them: removed by the next command, when their
 * process is gone and they are ours.
 */
async function removeStaleCopies(tmpRoot: string): Promise<void> {
  const names = await readdir(tmpRoot).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^mtls-store-(?:fresh-)?([1-9][0-9]{0,9})-[A-Za-z0-9]{6}$/.exec(name);
    if (!m || isAlive(Number(m[1]))) continue;
    const st = await stat(join(tmpRoot, name)).catch(() => undefined);
    if (st?.isDirectory() && st.uid === process.getuid?.()) await rm(join(tmpRoot, name), { recursive: true, force: true }).catch(() => {});
  }
}

class CopySession implements SqlCopy {
  private open = true;

  constructor(
    private readonly db: SqlClient,
    readonly workdir: string,
    readonly display: string,
    private readonly snap: TreeSnapshot,
  ) {}

  async commit(): Promise<{ changed: boolean }> {
    if (!this.open) throw envError("ERR_STORE_CLOSED", "the database session is already closed");
    try {
      const r = await saveTree(this.db, this.workdir, this.snap);
      await this.db.query("COMMIT");
      return r;
    } catch (err) {
      await this.db.query("ROLLBACK").catch(() => {});
      throw err;
    } finally {
      await this.close();
    }
  }

  async rollback(): Promise<void> {
    if (!this.open) return;
    await this.db.query("ROLLBACK").catch(() => {});
    await this.close();
  }

  private async close(): Promise<void> {
    this.open = false;
    await this.db.end();
    await rm(this.workdir, { recursive: true, force: true }).catch(() => {});
  }
}

/** `mtls store init`: creates or upgrades the schema and reports what it did. */
export async function initSqlStore(p: ConnectParams): Promise<SchemaState & { store: string }> {
  const db: SqlClient = await connectPg(p);
  try {
    // What the connection's first statement saw of the CHECK on paths is for SqlStorage, not the report.
    const { pathsChecked: _, ...state } = await ensureSchema(db, p.display);
    return { ...state, store: p.display };
  } finally {
    await db.end();
  }
}

/** A command's database store: the storage it runs on directly, and how the CLI ends it. */
export interface DatabaseStore {
  readonly display: string;
  /** The storage for openPki; `onDurableStep` is the test-only fault hook. */
  storage(opts: { onDurableStep?: DurableStepHook }): SqlStorage;
  /** Ends the command's connection (every transaction has committed or rolled back by then). */
  close(): Promise<void>;
}

/**
 * Opens the database store a command runs on: nothing is read or locked yet; the connection is
 * made (and the schema brought up to date) on first use, each pki.transact takes the store's
 * advisory lock and commits in one database transaction.
 */
export function openDatabaseStore(p: ConnectParams & { lockTimeoutMs?: number }): DatabaseStore {
  const storage = new SqlStorage(p);
  return {
    display: p.display,
    storage: (opts) => {
      storage.setDurableStep(opts.onDurableStep);
      return storage;
    },
    close: () => storage.close(),
  };
}
