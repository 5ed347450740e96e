// A command on the database store runs as one database transaction: it takes the store's
// advisory lock (the database's, so it holds across machines), loads the store into a private
// working directory, lets the command run on it exactly as on a directory store, and writes
// back what changed before COMMIT. Anything that fails (the command, the network, the server)
// rolls the whole command back: a revocation, its CRL number and its audit record commit
// together or not at all.
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { envError } from "../../errors.js";
import type { DirectoryStorageOptions } from "../directory.js";
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
 * Connects, begins, creates or upgrades the schema if needed (so first use needs no set-up
 * step), waits for the store lock and loads the store. The returned session must be committed
 * or rolled back.
 */
export async function openSqlSession(p: OpenSqlParams): Promise<SqlSession> {
  const db = await connectPg(p);
  let workdir: string | undefined;
  let open = true;
  const close = async () => {
    open = false;
    await db.end();
    if (workdir) await rm(workdir, { recursive: true, force: true }).catch(() => {});
  };
  try {
    await ensureSchema(db, p.display);
    // A session-level lock: held across the command's transactions, released by the server
    // when the connection ends, however it ends.
    await db.query(`SET lock_timeout = '${Math.max(1, Math.round((p.lockTimeoutMs ?? 60_000) / 1000))}s'`);
    await db.query("SELECT pg_advisory_lock($1)", [STORE_LOCK]);
    await db.query("BEGIN");
    workdir = await mkdtemp(join(p.tmpRoot, "mtls-store-"));
    let snap: TreeSnapshot = await loadTree(db, workdir, { withoutCertificates: p.withoutCertificates === true });
    const dir = workdir;
    const checkpoint = async () => {
      await saveTree(db, dir, snap);
      await db.query("COMMIT");
      await db.query("BEGIN");
      snap = await snapshotTree(dir);
    };
    let follower: Follower | undefined;
    if (p.follow) {
      await db.query("COMMIT");
      await db.query("SELECT pg_advisory_unlock($1)", [STORE_LOCK]);
      follower = await follow({
        db,
        dir,
        tmpRoot: p.tmpRoot,
        lockKey: STORE_LOCK,
        lockTimeoutMs: p.lockTimeoutMs ?? 60_000,
        withoutCertificates: p.withoutCertificates === true,
        setSnapshot: (s) => {
          snap = s;
        },
      });
    }
    return {
      storage: (opts) => new WorkingCopyStorage(dir, opts, checkpoint, follower?.runLocked),
      workdir: dir,
      display: p.display,
      backendPid: db.backendPid,
      async commit() {
        if (!open) throw envError("ERR_STORE_CLOSED", "the database session is already closed");
        if (follower) {
          // Every change of a following server was committed by its own transactions.
          follower.stop();
          await close();
          return { changed: false };
        }
        try {
          const r = await saveTree(db, dir, snap);
          await db.query("COMMIT");
          return r;
        } catch (err) {
          await db.query("ROLLBACK").catch(() => {});
          throw err;
        } finally {
          await close();
        }
      },
      async checkDatabase(fix) {
        const found = await checkDatabase(db);
        if (!fix || !found.some((f) => f.fixable)) return found;
        await rebuildDerived(db, (j, first, lines) => recordDerived(db, j, first, lines));
        const left = await checkDatabase(db);
        return [
          ...found.map((f) => ({ ...f, fixed: f.fixable && !left.some((l) => l.message === f.message) })),
          ...left.filter((l) => !found.some((f) => f.message === l.message)),
        ];
      },
      async rollback() {
        if (!open) return;
        follower?.stop();
        await db.query("ROLLBACK").catch(() => {});
        await close();
      },
    };
  } catch (err) {
    await db.query("ROLLBACK").catch(() => {});
    await close();
    throw err;
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
