// #13: kill each state-changing command at every durable write in turn (the test-only hook
// MTLS_TEST_CRASH_AT, honoured only with MTLS_TEST_HOOKS=1), then check the invariants:
// `doctor --fix` converges (a second doctor finds nothing), every revocation that reached a CRL
// or the audit log is on the next CRL, serials are unique, CRL numbers strictly increase, and
// nothing left behind blocks the next command.
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseCertificate } from "../../src/core/cert.js";
import { decodePemBlocks } from "../../src/core/pem.js";
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
  { name: "partner issue --generate --out-key --out", args: () => ["partner", "issue", "epsilon", "--generate", "--out-key", "eps.key", "--out", "eps.pem"] },
  {
    // The generated key and its certificate travel in an encrypted bundle, ./delta-<serial prefix>.zip.pgp.
    name: "partner issue --generate (bundle)",
    args: () => ["partner", "issue", "delta", "--generate"],
    prepare: async (dir) => {
      const r = await mtls(["partner", "add", "delta", "--pgp-key", "delta.asc"], { cwd: dir });
      assert.equal(r.exitCode, 0, r.stderr);
    },
    needsPgp: true,
  },
  { name: "server issue", args: () => ["server", "issue", "gw", "--dns", "gw.example", "--out", "gw.pem", "--out-key", "gw.key"] },
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

/**
 * The certificates in files outside the store, their hidden temporaries included: serials of the
 * leaf certificates in PEM files and --keys-out lines, and the serial prefix a bundle's name
 * carries (its content is encrypted to the partner).
 */
async function outsideCerts(dir: string): Promise<{ serials: Set<string>; prefixes: Set<string> }> {
  const serials = new Set<string>();
  const prefixes = new Set<string>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (!e.isFile()) continue;
    const bundle = /-([0-9a-f]{8})\.zip\.pgp/.exec(e.name);
    if (bundle) {
      prefixes.add(bundle[1] as string);
      continue;
    }
    const text = await readFile(join(dir, e.name), "utf8");
    const pems = [text];
    for (const line of text.split("\n")) {
      try {
        const certificate = JSON.parse(line).certificate;
        if (typeof certificate === "string") pems.push(certificate);
      } catch {}
    }
    // A chain file's CA certificates are no issuance.
    for (const pem of pems)
      for (const b of decodePemBlocks(pem).filter((x) => x.label === "CERTIFICATE")) {
        const cert = parseCertificate(b.der, e.name);
        if (!cert.isCa) serials.add(cert.serial);
      }
  }
  return { serials, prefixes };
}

/** Every serial the store holds: certificate files (orphans too), packs, index lines. */
async function storeSerials(dir: string): Promise<string[]> {
  const names = [...(await readdir(join(dir, "pki/certs"))), ...(await readdir(join(dir, "pki/certs/orphans")).catch(() => []))];
  const packed = [...(await packedFiles(dir, "certs/packs")).keys(), ...(await packedFiles(dir, "certs/orphans")).keys()].map((k) => k.slice("certs/".length));
  const indexed = (await readFile(join(dir, "pki/index.jsonl"), "utf8").catch(() => ""))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l).serial as string);
  return [...[...names, ...packed].flatMap((n) => /^([0-9a-f]+)\.pem$/.exec(n)?.[1] ?? []), ...indexed];
}

/**
 * Before any repair: a certificate a crash left outside the store (new since `before`) is one the
 * store holds too, where doctor finds it. Returns the serials and bundle prefixes to settle.
 */
async function checkOutsideHeld(dir: string, before: { serials: Set<string> }, label: string): Promise<{ serials: string[]; prefixes: string[] }> {
  const out = await outsideCerts(dir);
  const serials = [...out.serials].filter((s) => !before.serials.has(s));
  const held = await storeSerials(dir);
  for (const s of serials) assert.ok(held.includes(s), `${label}: certificate ${s} is outside the store, which holds no trace of it`);
  for (const p of out.prefixes)
    assert.ok(
      held.some((s) => s.startsWith(p)),
      `${label}: a bundle holds certificate ${p}…, of which the store holds no trace`,
    );
  return { serials, prefixes: [...out.prefixes] };
}

/** After `doctor --fix` and a CRL publish (checkInvariants): each of them is recorded or on the CRL. */
async function checkOutsideSettled(dir: string, left: { serials: string[]; prefixes: string[] }, label: string): Promise<void> {
  const crl = await readCrl(join(dir, "pki/crl/intermediate.crl"));
  const indexed = await readFile(join(dir, "pki/index.jsonl"), "utf8");
  const settled = (s: string) => crl?.serials.has(s) || indexed.includes(`"serial":"${s}"`);
  for (const s of left.serials) assert.ok(settled(s), `${label}: certificate ${s} outside the store is neither recorded nor revoked after doctor --fix`);
  const held = await storeSerials(dir);
  for (const p of left.prefixes)
    assert.ok(held.filter((s) => s.startsWith(p)).some(settled), `${label}: the bundle's certificate ${p}… is neither recorded nor revoked after doctor --fix`);
}

/** The durable writes a command makes, from a traced run on its own copy. */
async function stepsOf(f: Fixture, op: Op, t: Parameters<typeof cloneFixture>[0]): Promise<string[]> {
  const dir = await cloneFixture(t, f);
  await op.prepare?.(dir);
  const r = await mtls(op.args(f), { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: "trace" } });
  assert.ok(r.exitCode === 0 || (op.name.startsWith("batch issue") && r.exitCode === 1), `${op.name} without a crash: ${r.stdout}${r.stderr}`);
  return [...r.stderr.matchAll(/^mtls-test-step: \d+ \((.*)\)$/gm)].map((m) => m[1] as string);
}

test("#13 crash points: every durable write of issue, batch issue, revoke, offboard, crl publish, onboard and server issue", async (t) => {
  const f = await fixture();
  const ops = OPS.filter((op) => !op.needsPgp || f.pgpKey);
  if (ops.length < OPS.length) t.diagnostic("partner onboard and the bundle issue skipped: gpg is not installed");
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
      const keys = steps.findIndex((s) => /^(create|rename) .*\/keys\.jsonl$/.test(s));
      assert.ok(pack >= 0 && keys > pack, `the keys file is not created after the pack: ${steps.join(", ")}`);
    }
    if (op.name === "partner issue --generate --out-key --out" || op.name === "server issue") {
      // The user's copies only once the store's certificate file is durable, and before the commit.
      const cert = steps.findIndex((s) => /^create .*\/certs\/[0-9a-f]+\.pem$/.test(s));
      const outs = steps.flatMap((s, i) => (/^rename .*\/(eps|gw)\.(key|pem)$/.test(s) ? [i] : []));
      const commit = steps.findIndex((s) => /^(commit|append) /.test(s));
      assert.ok(cert >= 0 && outs.length === 2 && outs.every((i) => cert < i && i < commit), `${op.name}: ${steps.join(", ")}`);
    }
    t.diagnostic(`${op.name}: ${steps.length} durable writes`);
    for (const [i, step] of steps.entries()) points.push({ op, n: i + 1, step });
  }
  await pool(points, async ({ op, n, step }) => {
    const dir = await cloneFixture(t, f);
    await op.prepare?.(dir);
    const before = await outsideCerts(dir);
    const r: RunResult = await mtls(op.args(f), { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: String(n) } });
    const label = `${op.name}, killed before write ${n} (${step.replace(dir, "")})`;
    assert.equal(r.exitCode, 128, `${label}: the process was not killed: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`mtls-test-crash: step ${n} `));
    const outside = await checkOutsideHeld(dir, before, label);
    await checkInvariants(dir, label);
    await checkOutsideSettled(dir, outside, label);
  });
  t.diagnostic(`${points.length} crash points checked`);
});

test("#13 crash points: the fault hook is ignored without MTLS_TEST_HOOKS=1", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const r = await mtls(["crl", "publish"], { cwd: dir, env: { MTLS_TEST_CRASH_AT: "1" } });
  assert.equal(r.exitCode, 0, r.stderr);
});

test("a kill before a key file's rename leaves its hidden temporary, which the next write of that file removes", async (t) => {
  const f = await fixture();
  const op = OPS.find((o) => o.name === "partner issue --generate --out-key --out") as Op;
  const n = (await stepsOf(f, op, t)).findIndex((s) => /^rename .*\/eps\.key$/.test(s)) + 1;
  assert.ok(n > 0);
  const dir = await cloneFixture(t, f);
  const killed = await mtls(op.args(f), { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: String(n) } });
  assert.equal(killed.exitCode, 128, killed.stderr);
  const temps = (await readdir(dir)).filter((name) => name.startsWith(".eps.key.tmp-"));
  assert.equal(temps.length, 1, "the kill left the key's temporary");
  assert.match(await readFile(join(dir, temps[0] as string), "utf8"), /BEGIN PRIVATE KEY/);
  // A temporary whose writer still runs (this test's process) is not touched.
  const live = `.eps.key.tmp-${process.pid}-0123abcd`;
  await writeFile(join(dir, live), "in progress", { mode: 0o600 });
  assert.equal((await mtls(["doctor", "--fix", "--json"], { cwd: dir })).exitCode, 0);
  const again = await mtls(op.args(f), { cwd: dir });
  assert.equal(again.exitCode, 0, again.stderr);
  assert.deepEqual(
    (await readdir(dir)).filter((name) => name.startsWith(".eps.")),
    [live],
  );
});
