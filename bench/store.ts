// The directory store against the PostgreSQL store (#16), side by side in one run: issue
// throughput with 1 and 4 concurrent processes, and `list` / `status` over 100,000
// certificates. The database is a cluster this run starts (initdb into a temp dir, loopback).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { pgSkipReason, startPostgres } from "../test/helpers/postgres.js";
import { ENV, mtlsSync, opensslCsr, pkiWithIndex, ROOT, tempDir } from "./fixtures.js";
import { type Row, type Timed, timeCommand } from "./lib.js";

const BIN = join(ROOT, "bin/mtls.js");

function runMtls(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`mtls ${args.join(" ")} exited ${code}: ${err}`))));
  });
}

/** `procs` processes at once, each issuing `each` certificates one command at a time; wall time. */
async function issueWall(store: string[], cwd: string, env: NodeJS.ProcessEnv, procs: number, each: number, tag: string): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: procs }, async (_, p) => {
      for (let i = 0; i < each; i++)
        await runMtls(["partner", "issue", `${tag}-${p}-${i}`, "--csr", "p.csr", "--cn", `${tag}-${p}-${i}`, "-q", ...store], cwd, env);
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Per-certificate time as a Timed (one measurement of the whole run). */
const perCert = (wallMs: number, n: number): Timed => ({ medianMs: wallMs / n, minMs: wallMs / n, maxMs: wallMs / n, runs: 1 });

export async function benchStore(n = Number(process.env.BENCH_STORE_CERTS ?? 100_000)): Promise<Row[]> {
  const skip = pgSkipReason();
  if (skip) {
    process.stderr.write(`store: skipped (${skip})\n`);
    return [];
  }
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const cluster = await startPostgres({ after: (fn: () => Promise<void>) => void cleanups.push(fn) });
    const rows: Row[] = [];
    // Issue throughput: a CA per store, the same CSR, one `partner issue` per certificate.
    const dir = tempDir("store-issue");
    opensslCsr(dir, "p");
    const s = await cluster.newStore("issue");
    const pgEnv = { ...ENV, PGPASSWORD: s.password };
    mtlsSync(["ca", "init", "-q", "--pki", "pki"], dir);
    await runMtls(["ca", "init", "-q", "--store", s.url], dir, pgEnv);
    const PER = 12;
    for (const procs of [1, 4]) {
      const each = procs === 1 ? PER : PER / 4;
      const dirMs = await issueWall(["--pki", "pki"], dir, ENV, procs, each, `d${procs}`);
      const pgMs = await issueWall(["--store", s.url], dir, pgEnv, procs, each, `p${procs}`);
      rows.push({
        task: `partner issue, ${procs} process${procs > 1 ? "es" : ""} at once (${PER} certificates, time per certificate)`,
        mtls: perCert(dirMs, PER),
        peer: { name: "PostgreSQL store", t: perCert(pgMs, PER) },
        note: `directory ${((PER / dirMs) * 1000).toFixed(1)}/s, PostgreSQL ${((PER / pgMs) * 1000).toFixed(1)}/s`,
      });
    }
    // list and status over n certificates: the same store, migrated into the database.
    const inv = tempDir("store-inventory");
    pkiWithIndex(inv, n, 0.01);
    mtlsSync(["crl", "publish", "-q", "--pki", "pki"], inv);
    const big = await cluster.newStore("inventory");
    const bigEnv = { ...ENV, PGPASSWORD: big.password };
    const m0 = process.hrtime.bigint();
    await runMtls(["store", "migrate", "--from", "pki", "--to", big.url], inv, bigEnv);
    const migrateMs = Number(process.hrtime.bigint() - m0) / 1e6;
    const label = n.toLocaleString("en");
    for (const [what, args] of [
      ["list", ["list", "--no-color"]],
      ["list --json", ["list", "--json"]],
      ["status", ["status", "--json"]],
    ] as const) {
      const sh = (store: string) => `${process.execPath} ${BIN} ${store} ${args.join(" ")} > /dev/null; test $? -le 1`;
      const d = timeCommand("sh", ["-c", sh("--pki pki")], { cwd: inv, env: ENV, runs: 3 });
      const p = timeCommand("sh", ["-c", sh(`--store ${big.url}`)], { cwd: inv, env: bigEnv, runs: 3 });
      rows.push({ task: `mtls ${what} over ${label} certificates`, mtls: d, peer: { name: "PostgreSQL store", t: p } });
    }
    rows.push({
      task: `store migrate of ${label} index entries into PostgreSQL`,
      mtls: { medianMs: migrateMs, minMs: migrateMs, maxMs: migrateMs, runs: 1 },
      note: "one transaction",
    });
    return rows;
  } finally {
    for (const fn of cleanups) await fn();
  }
}
