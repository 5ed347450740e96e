import { rmSync } from "node:fs";
import { join } from "node:path";
import { type PgCluster, pgSkipReason, startPostgres } from "../test/helpers/postgres.js";
import { bundleFixture } from "./bundle.js";
import { ENV, mtlsSync, opensslCsr, pkiWithIndex, tempDir } from "./fixtures.js";
import { batchFloor, fleetFile, floorCmd, kdf, median, ms, mtls, pki100, ROUNDS, readOnlyCommands } from "./goals.js";
import { type Cmd, type Goal, type Timed, timeInterleaved } from "./lib.js";

const PG = "(PostgreSQL store)";

type Store = { url: string; env: NodeJS.ProcessEnv };

async function newStore(cluster: PgCluster, name: string): Promise<Store> {
  const s = await cluster.newStore(name);
  return { url: s.url, env: { ...ENV, PGPASSWORD: s.password } };
}

const run = (args: string[], cwd: string, s: Store) => mtlsSync(args, cwd, s.env);

/** The directory fixture's arguments, pointed at the database instead of ./pki. */
const onStore = (args: string[], s: Store) =>
  args.flatMap((a, i) => (a === "--pki" && args[i + 1] === "pki" ? ["--store", s.url] : a === "pki" && args[i - 1] === "--pki" ? [] : [a]));

/**
 * A new connection to PostgreSQL (TCP, a backend forked for it, SCRAM) costs what no client can
 * avoid; `psql -c "SELECT 1"` measures it in the same run, and the ratio is judged without it:
 * (t − connect) against the directory store's target. The raw ratio is in `measured`.
 */
const connectCmd = (s: Store, cwd: string): Cmd => ({ name: "connect", cmd: "psql", args: [s.url, "-Atc", "SELECT 1"], cwd, env: s.env });

/** One goal row from an interleaved run holding "floor" and "connect": (t − connect [− KDF]) / floor, with the raw ratio in `measured`. */
function pgRow(t: Map<string, Timed>, name: string, goal: string, target: number, o: { kdf?: number; rss?: boolean } = {}): Goal {
  const floor = t.get("floor") as Timed;
  const connect = t.get("connect") as Timed;
  const m = t.get(name) as Timed;
  const ratio = (m.medianMs - connect.medianMs - (o.kdf ?? 0)) / floor.medianMs;
  const rss = m.rssMiB ?? Number.NaN;
  return {
    goal: `${goal} ${PG}`,
    measured: `${ms(m)} (${(m.medianMs / floor.medianMs).toFixed(2)}×), node -e 0 ${ms(floor)}, psql connect ${ms(connect)}${o.kdf !== undefined ? `, PBKDF2 ×600k ${ms(o.kdf)}` : ""}${o.rss ? `; peak RSS ${rss.toFixed(0)} MiB` : ""}`,
    ratio,
    target: `(t − connect${o.kdf !== undefined ? " − KDF" : ""}) ≤ ${target}× node -e 0${o.rss ? " and ≤ 150 MiB" : ""}`,
    met: ratio <= target && (!o.rss || rss <= 150),
  };
}

async function readOnly(cluster: PgCluster): Promise<Goal[]> {
  const dir = pki100();
  const s = await newStore(cluster, "goals_ro");
  run(["store", "migrate", "--from", "pki", "--to", s.url], dir, s);
  // --help and --version never open a store: their rows are the directory's.
  const commands = readOnlyCommands(dir).filter(([, args]) => args.includes("--pki"));
  const t = timeInterleaved(
    [floorCmd, connectCmd(s, dir), ...commands.map(([name, args]) => mtls(name, onStore(args, s), dir, { env: s.env, ok: [0, 1] }))],
    ROUNDS,
  );
  return commands.map(([name]) => pgRow(t, name, `mtls ${name} (PKI of 100 partners)`, 1.5));
}

async function issue(cluster: PgCluster): Promise<Goal[]> {
  const dir = tempDir("goals-pg-issue");
  opensslCsr(dir, "p");
  const enc = await newStore(cluster, "goals_enc");
  const plain = await newStore(cluster, "goals_plain");
  run(["ca", "init", "--store", enc.url, "-q"], dir, enc);
  run(["ca", "init", "--store", plain.url, "--insecure-no-passphrase", "-q"], dir, plain);
  const { dir: bdir, out } = bundleFixture();
  const exp = await newStore(cluster, "goals_export");
  run(["store", "migrate", "--from", "pki", "--to", exp.url], bdir, exp);
  const before = await kdf();
  const t = timeInterleaved(
    [
      floorCmd,
      connectCmd(enc, dir),
      mtls("enc", ["--store", enc.url, "partner", "issue", "p", "--csr", "p.csr", "-q"], dir, { env: enc.env }),
      mtls("plain", ["--store", plain.url, "partner", "issue", "p", "--csr", "p.csr", "-q"], dir, { env: plain.env }),
      mtls("export", ["--store", exp.url, "partner", "export", "acme", "--out", out, "--force", "-q"], bdir, { env: exp.env }),
    ],
    ROUNDS,
  );
  const k = ((await kdf()).medianMs + before.medianMs) / 2;
  return [
    pgRow(t, "enc", "partner issue --csr, CA key encrypted", 1.5, { kdf: k }),
    pgRow(t, "plain", "partner issue --csr, CA key unencrypted", 2),
    pgRow(t, "export", "partner export (OpenPGP-signed and encrypted bundle)", 2.5, { kdf: k }),
  ];
}

async function inventory(cluster: PgCluster, n = Number(process.env.BENCH_INVENTORY ?? 100_000)): Promise<Goal[]> {
  const dir = tempDir("goals-pg-inventory");
  pkiWithIndex(dir, n, 0.01);
  const s = await newStore(cluster, "goals_inventory");
  run(["--pki", "pki", "crl", "publish", "-q"], dir, s);
  run(["store", "migrate", "--from", "pki", "--to", s.url], dir, s);
  const names = ["list", "list --json", "status"];
  const args = [["list", "--no-color"], ["list", "--json"], ["status"]];
  const t = timeInterleaved(
    [floorCmd, connectCmd(s, dir), ...names.map((name, i) => mtls(name, ["--store", s.url, ...(args[i] as string[])], dir, { env: s.env, ok: [0, 1] }))],
    Math.max(3, Math.ceil(ROUNDS / 2)),
  );
  return names.map((name) => pgRow(t, name, `mtls ${name} over ${n.toLocaleString("en")} certificates`, 3, { rss: true }));
}

async function batch(cluster: PgCluster, n = 1000): Promise<Goal[]> {
  const dir = tempDir("goals-pg-batch");
  fleetFile(dir, n);
  const floorOnce = await batchFloor(n);
  const times: number[] = [];
  const floor: number[] = [];
  const before = await kdf();
  for (let i = 0; i < Math.max(3, Math.ceil(ROUNDS / 3)); i++) {
    const s = await newStore(cluster, `goals_batch_${i}`);
    rmSync(join(dir, "keys.jsonl"), { force: true });
    run(["ca", "init", "--store", s.url, "-q"], dir, s);
    const start = process.hrtime.bigint();
    run(["--store", s.url, "partner", "issue", "--batch", "fleet.jsonl", "--keys-out", "keys.jsonl", "-q"], dir, s);
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    floor.push(await floorOnce());
  }
  const k = (before.medianMs + (await kdf()).medianMs) / 2;
  const ratio = (median(times) - k) / median(floor);
  return [
    {
      goal: `batch of ${n.toLocaleString("en")} generated P-256 certificates (keys to one --keys-out file) ${PG}`,
      measured: `${ms(median(times))}, in-process keygen + sign ${ms(median(floor))}, PBKDF2 ×600k ${ms(k)}`,
      ratio,
      target: "(t − KDF) ≤ 3× in-process floor",
      met: ratio <= 3,
    },
  ];
}

export async function pgGoals(): Promise<Goal[]> {
  const skip = pgSkipReason();
  if (skip) {
    process.stderr.write(`pg-goal: skipped (${skip})\n`);
    return [];
  }
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const cluster = await startPostgres({ after: (fn: () => Promise<void>) => void cleanups.push(fn) }, { durable: true });
    return [...(await readOnly(cluster)), ...(await issue(cluster)), ...(await inventory(cluster)), ...(await batch(cluster))];
  } finally {
    for (const fn of cleanups) await fn();
  }
}
