// A command on the database store takes the store's advisory lock (the database's, so it holds
// across machines), loads the store into a private working directory and runs on it exactly as
// on a directory store. Each of its transactions writes back what changed and commits before it
// returns (WorkingCopyStorage); whatever fails (the command, the network, the server) rolls back
// the transaction under way: a revocation, its CRL number and its audit record commit together
// or not at all.
import { mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { envError } from "../../errors.js";
import type { DirectoryStorageOptions } from "../directory.js";
import { isAlive } from "../lock.js";
import { checkDatabase, type DatabaseProblem, rebuildDerived } from "./check.js";
import { type Follower, follow } from "./follow.js";
import { type ConnectParams, connectPg, type SqlClient } from "./pg.js";
import { ensureSchema, type SchemaState } from "./schema.js";
import { loadTree, recordDerived, saveTree, snapshotTree, type TreeSnapshot } from "./tree.js";
import { WorkingCopyStorage } from "./working-copy.js";

/** The store-wide advisory lock key (an arbitrary, fixed number: "mtls" + 1). */
export const STORE_LOCK = 0x6d746c73_01;

export interface SqlSession {
  /** The working directory the command reads and writes as its PKI directory. */
  readonly workdir: string;
  /** The store's URL without password, for output. */
  readonly display: string;
  readonly backendPid: number;
  /** Writes back and commits; the working directory is removed either way. */
  commit(): Promise<{ changed: boolean }>;
  /** Rolls back (or finds the connection gone) and removes the working directory. */
  rollback(): Promise<void>;
  /**
   * doctor: where the database's tables disagree with the store's records; with `fix`, the
   * tables are rebuilt from the journals in this transaction and the problems marked fixed.
   */
  checkDatabase(fix: boolean): Promise<Array<DatabaseProblem & { fixed?: boolean }>>;
  /**
   * The working copy as the session's storage: each transaction committed through it is in the
   * database before the transaction returns (see WorkingCopyStorage).
   */
  storage(opts: DirectoryStorageOptions): WorkingCopyStorage;
}

export interface OpenSqlParams extends ConnectParams {
  /** Where the private working directory is made (os.tmpdir()). */
  tmpRoot: string;
  /** How long to wait for another command's lock before exit 5 (milliseconds). */
  lockTimeoutMs?: number;
  /** The command reads no archived certificate (see LoadOptions). */
  withoutCertificates?: boolean;
  /**
   * A long-running server: the lock is held only around each of its transactions, and the
   * working copy follows the database (see follow.ts).
   */
  follow?: boolean;
}

/**
 * Connects, creates or upgrades the schema if needed (so first use needs no set-up step), waits
 * for the store lock and loads the store. The returned session must be committed or rolled back.
 */
export async function openSqlSession(p: OpenSqlParams): Promise<SqlSession> {
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
    const session = new WorkingCopySession(db, workdir, p.display, await loadTree(db, workdir, { withoutCertificates: p.withoutCertificates === true }));
    if (p.follow) await session.follow(p);
    return session;
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

class WorkingCopySession implements SqlSession {
  private open = true;
  private follower: Follower | undefined;

  constructor(
    private readonly db: SqlClient,
    readonly workdir: string,
    readonly display: string,
    private snap: TreeSnapshot,
  ) {}

  get backendPid(): number {
    return this.db.backendPid;
  }

  /** Releases the lock held since open and follows the database from now on (see follow.ts). */
  async follow(p: OpenSqlParams): Promise<void> {
    await this.db.query("COMMIT");
    await this.db.query("SELECT pg_advisory_unlock($1)", [STORE_LOCK]);
    this.follower = await follow({
      db: this.db,
      dir: this.workdir,
      tmpRoot: p.tmpRoot,
      lockKey: STORE_LOCK,
      lockTimeoutMs: p.lockTimeoutMs ?? 60_000,
      withoutCertificates: p.withoutCertificates === true,
      setSnapshot: (s) => {
        this.snap = s;
      },
    });
  }

  /** One of the command's transactions: its changes into the database, committed. */
  private readonly checkpoint = async (): Promise<void> => {
    await saveTree(this.db, this.workdir, this.snap);
    await this.db.query("COMMIT");
    await this.db.query("BEGIN");
    this.snap = await snapshotTree(this.workdir);
  };

  storage(opts: DirectoryStorageOptions): WorkingCopyStorage {
    return new WorkingCopyStorage(this.workdir, opts, this.checkpoint, this.follower?.runLocked);
  }

  async commit(): Promise<{ changed: boolean }> {
    if (!this.open) throw envError("ERR_STORE_CLOSED", "the database session is already closed");
    // A following server committed every change in its own transactions.
    if (this.follower) {
      await this.close();
      return { changed: false };
    }
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

  async checkDatabase(fix: boolean): Promise<Array<DatabaseProblem & { fixed?: boolean }>> {
    const found = await checkDatabase(this.db);
    if (!fix || !found.some((f) => f.fixable)) return found;
    await rebuildDerived(this.db, (j, first, lines) => recordDerived(this.db, j, first, lines));
    const left = await checkDatabase(this.db);
    return [
      ...found.map((f) => ({ ...f, fixed: f.fixable && !left.some((l) => l.message === f.message) })),
      ...left.filter((l) => !found.some((f) => f.message === l.message)),
    ];
  }

  private async close(): Promise<void> {
    this.open = false;
    this.follower?.stop();
    await this.db.end();
    await rm(this.workdir, { recursive: true, force: true }).catch(() => {});
  }
}

/** `mtls store init`: creates or upgrades the schema and reports what it did. */
export async function initSqlStore(p: ConnectParams): Promise<SchemaState & { store: string }> {
  const db: SqlClient = await connectPg(p);
  try {
    return { ...(await ensureSchema(db, p.display)), store: p.display };
  } finally {
    await db.end();
  }
}
