// A PostgreSQL cluster of the test's own: initdb into a temp dir, pg_ctl start on a free loopback
// port with the socket in that dir, stopped by its postmaster's PID when the test file ends.
// PostgreSQL refuses to run as root, so under root the cluster runs as the `postgres` user
// (or `nobody`) and the directory is handed to it. No test uses a server it did not start.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync } from "node:fs";
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, type TestContext } from "node:test";
import pg from "pg";

export interface PgCluster {
  port: number;
  dir: string;
  pid: number;
  /** The superuser's password (scram over TCP; the socket trusts local connections). */
  superPassword: string;
  /** A connection as the superuser to `db` (default "postgres"); the caller ends it. */
  admin(db?: string): Promise<pg.Client>;
  /** Runs SQL as the superuser and returns the rows. */
  sql(text: string, params?: unknown[], db?: string): Promise<Array<Record<string, unknown>>>;
  /** A fresh database owned by a fresh login role; the URL names no password (PGPASSWORD does). */
  newStore(name: string): Promise<{ url: string; user: string; password: string; db: string }>;
  /** Hands a file to the server's user (certificate and key files for ssl). */
  own(path: string, mode: number): Promise<void>;
  /** Rewrites pg_hba.conf / adds settings and reloads the server. */
  reconfigure(opts: { hba?: string; conf?: string }): Promise<void>;
  stop(): Promise<void>;
}

/** The directory of PostgreSQL's server binaries (Debian: /usr/lib/postgresql/<major>/bin), if any. */
export function pgBinDir(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const majors = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] ? join(base, majors[0], "bin") : undefined;
}

const isRoot = () => process.getuid?.() === 0;

function serverUser(): { name: string; uid: number; gid: number } | undefined {
  for (const name of ["postgres", "nobody"]) {
    const r = spawnSync("id", ["-u", name], { encoding: "utf8" });
    const g = spawnSync("id", ["-g", name], { encoding: "utf8" });
    if (r.status === 0 && g.status === 0) return { name, uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
  }
  return undefined;
}

/** Why the cluster cannot start here, or undefined when it can. */
export function pgSkipReason(): string | undefined {
  if (!pgBinDir()) return "PostgreSQL server binaries not installed (Debian package postgresql)";
  if (isRoot() && !serverUser()) return "running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as";
  if (isRoot() && spawnSync("runuser", ["--help"]).status !== 0) return "running as root without runuser";
  return undefined;
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether a process is still running (signal 0 tests without touching it). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts a cluster for this test file. Local socket connections are trusted; TCP connections
 * authenticate with scram-sha-256, so the tests exercise real passwords.
 */
/**
 * `durable`: keep PostgreSQL's fsync and synchronous commit, as a production cluster has them (the
 * benchmark); tests leave them off.
 */
export async function startPostgres(t: Pick<TestContext, "after">, opts: { conf?: string; durable?: boolean } = {}): Promise<PgCluster> {
  const bin = pgBinDir() as string;
  const user = isRoot() ? serverUser() : undefined;
  const dir = await mkdtemp(join(tmpdir(), "mtls-pg-"));
  const data = join(dir, "data");
  const superPassword = randomBytes(12).toString("hex");
  await writeFile(join(dir, "pw"), `${superPassword}\n`, { mode: 0o600 });
  if (user) await chown(dir, user.uid, user.gid);
  if (user) await chown(join(dir, "pw"), user.uid, user.gid);
  const asServer = (cmd: string, args: string[]) =>
    user ? spawnSync("runuser", ["-u", user.name, "--", join(bin, cmd), ...args], { encoding: "utf8" }) : spawnSync(join(bin, cmd), args, { encoding: "utf8" });
  const init = asServer("initdb", [
    "-D",
    data,
    "-U",
    "postgres",
    "--auth-local=trust",
    "--auth-host=scram-sha-256",
    `--pwfile=${join(dir, "pw")}`,
    "-E",
    "UTF8",
    "--no-sync",
  ]);
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  await rm(join(dir, "pw"), { force: true });
  const port = await freePort();
  if (opts.conf) await writeFile(join(data, "postgresql.conf"), `\n${opts.conf}\n`, { flag: "a" });
  // fsync off: a test cluster need not survive a power cut, and it saves seconds per file.
  const sync = opts.durable ? "" : " -c fsync=off -c synchronous_commit=off";
  const o = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1${sync} -c max_connections=60`;
  const start = asServer("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "30", "-o", o, "start"]);
  if (start.status !== 0) throw new Error(`pg_ctl start failed: ${start.stderr}\n${await readFile(join(dir, "server.log"), "utf8").catch(() => "")}`);
  const pid = Number((await readFile(join(data, "postmaster.pid"), "utf8")).split("\n")[0]);
  const cluster: PgCluster = {
    port,
    dir,
    pid,
    superPassword,
    async admin(db = "postgres") {
      const c = new pg.Client({ host: "127.0.0.1", port, user: "postgres", password: superPassword, database: db });
      await c.connect();
      return c;
    },
    async sql(text, params = [], db = "postgres") {
      const c = await cluster.admin(db);
      try {
        return (await c.query(text, params)).rows;
      } finally {
        await c.end();
      }
    },
    async newStore(name) {
      const password = randomBytes(9).toString("hex");
      await cluster.sql(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
      await cluster.sql(`CREATE DATABASE ${name} OWNER ${name}`);
      return { url: `postgres://${name}@127.0.0.1:${port}/${name}`, user: name, password, db: name };
    },
    async own(path, mode) {
      await chmod(path, mode);
      if (user) await chown(path, user.uid, user.gid);
    },
    async reconfigure(r) {
      if (r.hba !== undefined) await writeFile(join(data, "pg_hba.conf"), r.hba);
      if (r.conf) await writeFile(join(data, "postgresql.conf"), `\n${r.conf}\n`, { flag: "a" });
      if (user) await chown(join(data, "pg_hba.conf"), user.uid, user.gid);
      process.kill(pid, "SIGHUP");
      // The postmaster re-reads its files asynchronously; wait until a new backend sees them.
      await new Promise((res) => setTimeout(res, 300));
    },
    async stop() {
      if (alive(pid)) process.kill(pid, "SIGINT"); // fast shutdown: roll back, disconnect, stop
      for (let i = 0; i < 200 && alive(pid); i++) await new Promise((res) => setTimeout(res, 50));
      if (alive(pid)) process.kill(pid, "SIGKILL");
      await rm(dir, { recursive: true, force: true });
    },
  };
  t.after(() => cluster.stop());
  return cluster;
}

/**
 * The one cluster of a test file, started on first use and stopped when the file's tests end.
 * Call at module level: `const pg = fileCluster();` then `await pg()` in a test.
 */
export function fileCluster(opts: { conf?: string } = {}): () => Promise<PgCluster> {
  let cluster: Promise<PgCluster> | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const fn of cleanups) await fn();
  });
  return () => {
    cluster ??= startPostgres({ after: (fn: () => Promise<void>) => void cleanups.push(fn) }, opts);
    return cluster;
  };
}
