// A long-running command on a database store (`revocation serve`, `gateway serve`) does not hold the store's
// lock for its lifetime: it follows the database instead. Its working copy is refreshed when
// the store's revision changes (another machine revoked something), and each of its own
// transactions takes the lock, refreshes first (so it builds on the latest records and audit
// chain), and commits to the database before the lock is released.
import { chmod, mkdir, mkdtemp, readFile, rename, rm, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { SqlClient } from "./pg.js";
import { loadTree, snapshotTree, type TreeSnapshot, walkTree } from "./tree.js";

export interface FollowParams {
  db: SqlClient;
  dir: string;
  tmpRoot: string;
  lockKey: number;
  lockTimeoutMs: number;
  withoutCertificates: boolean;
  setSnapshot: (s: TreeSnapshot) => void;
  /** How often the store's revision is looked at (milliseconds). */
  pollMs?: number;
}

export interface Follower {
  /** Runs `fn` as one transaction under the store's lock, on a freshly refreshed working copy. */
  runLocked<T>(fn: () => Promise<T>): Promise<T>;
  stop(): void;
}

async function revision(db: SqlClient): Promise<string> {
  const [row] = await db.query<{ r: string }>("SELECT revision::text AS r FROM mtls.store WHERE id = 1");
  return row?.r ?? "0";
}

/**
 * Makes `dir` hold what the database holds: rows are loaded into a fresh directory beside it and
 * each file that differs is renamed into place (so a reader sees the old file or the new one),
 * files the database no longer has are removed.
 */
async function refresh(p: FollowParams): Promise<void> {
  const fresh = await mkdtemp(join(p.tmpRoot, `mtls-store-fresh-${process.pid}-`));
  try {
    await loadTree(p.db, fresh, { withoutCertificates: p.withoutCertificates });
    const want = await walkTree(fresh);
    const have = await walkTree(p.dir);
    for (const [d, mode] of want.dirs) {
      await mkdir(join(p.dir, d), { recursive: true });
      await chmod(join(p.dir, d), mode);
    }
    for (const [f, st] of want.files) {
      const cur = have.files.get(f);
      if (cur && cur.size === st.size && cur.mode === st.mode && (await same(join(fresh, f), join(p.dir, f)))) continue;
      await rename(join(fresh, f), join(p.dir, f));
    }
    for (const f of have.files.keys())
      if (!want.files.has(f) && !(p.withoutCertificates && f.startsWith("certs/"))) await unlink(join(p.dir, f)).catch(() => {});
    p.setSnapshot(await snapshotTree(p.dir));
  } finally {
    await rm(fresh, { recursive: true, force: true });
  }
}

async function same(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b).catch(() => undefined)]);
  return y !== undefined && x.equals(y);
}

export async function follow(p: FollowParams): Promise<Follower> {
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };
  let seen = await revision(p.db);
  const timer = setInterval(() => {
    void serially(async () => {
      const now = await revision(p.db);
      if (now === seen) return;
      await p.db.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      try {
        await refresh(p);
      } finally {
        await p.db.query("COMMIT").catch(() => {});
      }
      seen = now;
    }).catch(() => {}); // a dropped connection shows at the next transaction, which fails with exit 5
  }, p.pollMs ?? 2000);
  timer.unref();
  return {
    runLocked: (fn) =>
      serially(async () => {
        await p.db.query(`SET lock_timeout = '${Math.max(1, Math.round(p.lockTimeoutMs / 1000))}s'`);
        await p.db.query("SELECT pg_advisory_lock($1)", [p.lockKey]);
        try {
          await p.db.query("BEGIN");
          await refresh(p);
          const r = await fn();
          await p.db.query("COMMIT");
          seen = await revision(p.db);
          return r;
        } catch (err) {
          await p.db.query("ROLLBACK").catch(() => {});
          throw err;
        } finally {
          await p.db.query("SELECT pg_advisory_unlock($1)", [p.lockKey]).catch(() => {});
        }
      }),
    stop: () => clearInterval(timer),
  };
}
