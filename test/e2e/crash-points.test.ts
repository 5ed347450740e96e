// #13: kill each state-changing command at every durable write in turn (the test-only hook
// MTLS_TEST_CRASH_AT, honoured only with MTLS_TEST_HOOKS=1), then check the invariants:
// `doctor --fix` converges (a second doctor finds nothing), every revocation that reached a CRL
// or the audit log is on the next CRL, serials are unique, CRL numbers strictly increase, and
// nothing left behind blocks the next command.
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { mtls, type RunResult } from "../helpers/run.js";
import { auditRevoked, cloneFixture, type Fixture, readCrl, sharedFixture } from "../helpers/store-fixture.js";

const fixture = sharedFixture(after);
const HOOKS = { MTLS_TEST_HOOKS: "1" };

interface Op {
  name: string;
  args: (f: Fixture) => string[];
  prepare?: (dir: string) => Promise<void>;
  needsPgp?: boolean;
}

const OPS: Op[] = [
  { name: "partner issue", args: () => ["partner", "issue", "alpha", "--csr", "alpha.csr"] },
  {
    name: "batch issue",
    args: () => ["partner", "issue", "--batch", "batch.jsonl", "--key-dir", "keys"],
    prepare: (dir) =>
      writeFile(
        join(dir, "batch.jsonl"),
        `${JSON.stringify({ partner: "alpha", csr: "alpha.csr" })}\n${JSON.stringify({ partner: "beta", csr: "beta.csr" })}\n`,
      ),
  },
  {
    name: "batch issue --keys-out",
    args: () => ["partner", "issue", "--batch", "gen.jsonl", "--keys-out", "keys.jsonl"],
    prepare: (dir) =>
      writeFile(join(dir, "gen.jsonl"), `${JSON.stringify({ partner: "gen-1", generate: true })}\n${JSON.stringify({ partner: "gen-2", generate: true })}\n`),
  },
  { name: "revoke", args: (f) => ["revoke", f.serials.alpha, "--yes"] },
  { name: "partner offboard", args: () => ["partner", "offboard", "beta", "--yes"] },
  { name: "crl publish", args: () => ["crl", "publish"] },
  { name: "partner onboard", args: (f) => ["partner", "onboard", "delta", "--pgp-key", f.pgpKey as string, "--csr", "delta.csr"], needsPgp: true },
];

/** Runs `fn` over `items`, two at a time (CI machines have two cores). */
async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all([worker(), worker()]);
}

/** What a crash left: serials revoked anywhere it shows, and the highest CRL number anywhere. */
async function published(dir: string) {
  const revoked = await auditRevoked(dir);
  let number = 0;
  for (const p of ["pki/crl/intermediate.crl", "pub/intermediate.crl"]) {
    const crl = await readCrl(join(dir, p));
    if (!crl) continue;
    number = Math.max(number, crl.number);
    for (const s of crl.serials) revoked.add(s);
  }
  return { revoked, number };
}

/** The files the packs under `sub` of the store hold (#21: a batch's certificates are only there). */
async function packedFiles(dir: string, sub: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const at = join(dir, "pki", sub);
  for (const name of (await readdir(at).catch(() => [] as string[])).filter((n) => n.endsWith(".pack"))) {
    const text = await readFile(join(at, name), "utf8");
    for (const line of text
      .slice(0, text.lastIndexOf("\n") + 1)
      .split("\n")
      .filter(Boolean)) {
      const e = JSON.parse(line) as { key: string; data: string };
      out.set(e.key, e.data);
    }
  }
  return out;
}

/** Every certificate the index names is whole, in its file or its pack, and so is its chain. */
async function checkIndexedWhole(dir: string, label: string): Promise<void> {
  const packed = await packedFiles(dir, "certs/packs");
  const indexed = (await readFile(join(dir, "pki/index.jsonl"), "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).serial as string);
  const read = async (key: string) => (await readFile(join(dir, "pki", key), "utf8").catch(() => undefined)) ?? packed.get(key) ?? "";
  for (const s of indexed) {
    const pem = await read(`certs/${s}.pem`);
    assert.match(
      pem,
      /^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n$/,
      `${label}: the certificate of index entry ${s} is not whole`,
    );
    const chain = await read(`certs/${s}.chain.pem`);
    assert.ok(chain.startsWith(pem), `${label}: the chain file of index entry ${s} does not start with its certificate`);
  }
}

async function checkInvariants(dir: string, label: string): Promise<void> {
  // What the index names survived the crash itself, before any repair.
  await checkIndexedWhole(dir, `${label}, before doctor`);
  // A --keys-out file holds signed certificates: never durable where no pack can find them.
  const keysOut = await readFile(join(dir, "keys.jsonl"), "utf8").catch(() => "");
  const packedNow = await packedFiles(dir, "certs/packs");
  for (const line of keysOut.split("\n").filter(Boolean))
    assert.ok(packedNow.has(`certs/${JSON.parse(line).serial}.pem`), `${label}: keys.jsonl names a certificate no pack holds`);
  const before = await published(dir);
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, `${label}: doctor --fix did not converge: ${fixed.stdout}${fixed.stderr}`);
  const again = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(again.exitCode, 0, `${label}: a second doctor still finds problems: ${again.stdout}`);
  const publish = await mtls(["crl", "publish", "--json"], { cwd: dir });
  assert.equal(publish.exitCode, 0, `${label}: the next command is blocked: ${publish.stdout}${publish.stderr}`);
  const crl = await readCrl(join(dir, "pki/crl/intermediate.crl"));
  assert.ok(crl, label);
  assert.ok(crl.number > before.number, `${label}: CRL number ${crl.number} after ${before.number}`);
  for (const s of before.revoked) assert.ok(crl.serials.has(s), `${label}: ${s} was revoked but is missing from the next CRL`);
  assert.equal((await readCrl(join(dir, "pub/intermediate.crl")))?.number, crl.number, `${label}: the publish directory lags`);
  const issued = (await readFile(join(dir, "pki/audit.log"), "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.action === "cert.issue")
    .map((r) => r.serial);
  assert.equal(new Set(issued).size, issued.length, `${label}: a serial was issued twice`);
  // Every certificate file (recorded or orphaned) holds its own serial; a batch's are in a pack.
  const files = [...(await readdir(join(dir, "pki/certs"))), ...(await readdir(join(dir, "pki/certs/orphans")).catch(() => []))].filter((n) =>
    /^[0-9a-f]+\.pem$/.test(n),
  );
  assert.equal(new Set(files).size, files.length, `${label}: two certificate files for one serial`);
  const packed = new Set([...(await packedFiles(dir, "certs/packs")).keys(), ...(await packedFiles(dir, "certs/orphans")).keys()]);
  assert.ok(
    issued.every((s) => files.includes(`${s}.pem`) || packed.has(`certs/${s}.pem`)),
    `${label}: an issued certificate has no file and is in no pack`,
  );
  await checkIndexedWhole(dir, label);
}

/** The durable writes a command makes, from a traced run on its own copy. */
async function stepsOf(f: Fixture, op: Op, t: Parameters<typeof cloneFixture>[0]): Promise<string[]> {
  const dir = await cloneFixture(t, f);
  await op.prepare?.(dir);
  const r = await mtls(op.args(f), { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: "trace" } });
  assert.ok(r.exitCode === 0 || (op.name.startsWith("batch issue") && r.exitCode === 1), `${op.name} without a crash: ${r.stdout}${r.stderr}`);
  return [...r.stderr.matchAll(/^mtls-test-step: \d+ \((.*)\)$/gm)].map((m) => m[1] as string);
}

test("#13 crash points: every durable write of issue, batch issue, revoke, offboard, crl publish and onboard", async (t) => {
  const f = await fixture();
  const ops = OPS.filter((op) => !op.needsPgp || f.pgpKey);
  if (ops.length < OPS.length) t.diagnostic("partner onboard skipped: gpg is not installed");
  const points: Array<{ op: Op; n: number; step: string }> = [];
  for (const op of ops) {
    const steps = await stepsOf(f, op, t);
    assert.ok(steps.length >= 3, `${op.name} makes ${steps.length} durable writes`);
    if (op.name === "batch issue") {
      // #21: a batch's certificates go to disk in one pack before the index append, which is
      // their only copy (the store's format is raised in the same commit): every step is a
      // crash point here.
      assert.ok(
        steps.some((s) => /^create .*\/certs\/packs\/[0-9a-f]+\.pack$/.test(s)),
        `batch issue writes no pack: ${steps.join(", ")}`,
      );
      assert.ok(
        steps.some((s) => /^rename .*\/config\.json$/.test(s)),
        `batch issue does not raise the store format: ${steps.join(", ")}`,
      );
      assert.ok(!steps.some((s) => /\/certs\/[0-9a-f]+(\.chain)?\.pem$/.test(s)), `batch issue still writes per-serial files: ${steps.join(", ")}`);
    }
    if (op.name === "batch issue --keys-out") {
      // The keys file names signed certificates: it is made only once their pack is durable.
      const pack = steps.findIndex((s) => /^create .*\/certs\/packs\/[0-9a-f]+\.pack$/.test(s));
      const keys = steps.findIndex((s) => /^create .*\/keys\.jsonl$/.test(s));
      assert.ok(pack >= 0 && keys > pack, `the keys file is not created after the pack: ${steps.join(", ")}`);
    }
    t.diagnostic(`${op.name}: ${steps.length} durable writes`);
    for (const [i, step] of steps.entries()) points.push({ op, n: i + 1, step });
  }
  await pool(points, async ({ op, n, step }) => {
    const dir = await cloneFixture(t, f);
    await op.prepare?.(dir);
    const r: RunResult = await mtls(op.args(f), { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: String(n) } });
    const label = `${op.name}, killed before write ${n} (${step.replace(dir, "")})`;
    assert.equal(r.exitCode, 128, `${label}: the process was not killed: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`mtls-test-crash: step ${n} `));
    await checkInvariants(dir, label);
  });
  t.diagnostic(`${points.length} crash points checked`);
});

test("#13 crash points: the fault hook is ignored without MTLS_TEST_HOOKS=1", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const r = await mtls(["crl", "publish"], { cwd: dir, env: { MTLS_TEST_CRASH_AT: "1" } });
  assert.equal(r.exitCode, 0, r.stderr);
});
