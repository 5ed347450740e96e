// A commit that replaces several files is one unit (README "Durable order of writes"): a CA
// rollover (new CA files, the canary, config.json, every CRL) and `partner add` replacing a
// partner's OpenPGP key are killed before each of their durable writes in turn. Then, on one copy
// `doctor --fix` and on another simply the next command that writes must leave a store where
// config.json and the files agree: doctor finds nothing, no CA material is left that config.json
// does not name, and the step can be run again.
import assert from "node:assert/strict";
import { cp, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, type TestContext, test } from "node:test";
import { parseCertificate } from "../../src/core/cert.js";
import { decodePemBlocks } from "../../src/core/pem.js";
import { genKey, gpgHome } from "../helpers/gpg.js";
import { mtls, tempDir } from "../helpers/run.js";
import { cloneFixture, type Fixture, sharedFixture } from "../helpers/store-fixture.js";

const fixture = sharedFixture(after);
const HOOKS = { MTLS_TEST_HOOKS: "1" };

interface Op {
  name: string;
  args: string[];
  prepare?: (dir: string) => Promise<void>;
  /** Whether the store holds the change (the commit completed rather than undone). */
  holds: (dir: string) => Promise<boolean>;
  /** The step to run next: the same one again, or, once it holds, the one after it. */
  again: (held: boolean) => string[];
}

const caIds = async (dir: string): Promise<string[]> =>
  (JSON.parse(await readFile(join(dir, "pki/config.json"), "utf8")).cas?.list ?? []).map((c: { id: string }) => c.id);

/** Runs `fn` over `items`, two at a time (CI machines have two cores). */
async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all([worker(), worker()]);
}

const certOf = (pem: string, name: string) => {
  const block = decodePemBlocks(pem).find((b) => b.label === "CERTIFICATE");
  assert.ok(block, `${name} holds no certificate`);
  return parseCertificate(block.der, name);
};

/** config.json and the CA files agree: each CA it names is there, nothing CA-like it does not name is, the canary is its canary. */
async function checkAgree(dir: string, label: string): Promise<void> {
  const pki = join(dir, "pki");
  const config = JSON.parse(await readFile(join(pki, "config.json"), "utf8"));
  const ids: string[] = (config.cas?.list ?? [{ id: "root" }, { id: "intermediate" }]).map((c: { id: string }) => c.id);
  const crosses: string[] = (config.cas?.crosses ?? []).map((c: { file: string }) => c.file);
  for (const id of ids) {
    assert.ok(certOf(await readFile(join(pki, "ca", `${id}.pem`), "utf8"), id).isCa, `${label}: ca/${id}.pem`);
    await readFile(join(pki, "private", `${id}.key`));
  }
  const named = new Set([...ids.flatMap((id) => [`${id}.pem`, `${id}.key`, `ocsp-${id}.pem`, `ocsp-${id}.key`]), ...crosses]);
  for (const f of (await readdir(join(pki, "ca"), { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith(".pem"))) {
    if (named.has(f.name) || /^(ca-bundle|chain|cross-bundle|canary|ocsp-canary)\.pem$/.test(f.name)) continue;
    assert.ok(!certOf(await readFile(join(pki, "ca", f.name), "utf8"), f.name).isCa, `${label}: ca/${f.name} is a CA config.json does not name`);
  }
  for (const f of await readdir(join(pki, "private")))
    assert.ok(named.has(f) || /^(canary|ocsp-canary)\.key$|\.pgp\.asc$/.test(f) || f === "unrecorded", `${label}: private/${f} is named nowhere`);
  const canary = certOf(await readFile(join(pki, "ca", "canary.pem"), "utf8"), "canary");
  assert.equal(canary.serial, config.canary?.serial, `${label}: ca/canary.pem is not the canary config.json names`);
  const hidden = (await readdir(pki, { recursive: true })).filter((p) => p.split("/").some((s) => /^\.(commit|.*\.(tmp|bak)-)/.test(s)));
  assert.deepEqual(hidden, [], `${label}: left behind`);
}

async function doctorClean(dir: string, label: string): Promise<void> {
  const r = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, `${label}: doctor finds problems: ${r.stdout}${r.stderr}`);
  await checkAgree(dir, label);
}

/** The durable writes a command makes, from a traced run on its own copy. */
async function stepsOf(t: TestContext, f: Fixture, op: Op): Promise<string[]> {
  const dir = await cloneFixture(t, f);
  await op.prepare?.(dir);
  const r = await mtls(op.args, { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: "trace" } });
  assert.equal(r.exitCode, 0, `${op.name} without a crash: ${r.stdout}${r.stderr}`);
  return [...r.stderr.matchAll(/^mtls-test-step: \d+ \((.*)\)$/gm)].map((m) => m[1] as string);
}

/** A copy of the fixture with `op` killed before its write `n`; its publish directory named relative to it, so that it can be copied. */
async function crashed(t: TestContext, f: Fixture, op: Op, n: number, label: string): Promise<string> {
  const dir = await cloneFixture(t, f);
  const configPath = join(dir, "pki/config.json");
  const config = JSON.parse(await readFile(configPath, "utf8"));
  config.crl.publishDir = "pub";
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  await op.prepare?.(dir);
  const r = await mtls(op.args, { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: String(n) } });
  assert.equal(r.exitCode, 128, `${label}: the process was not killed: ${r.stderr}`);
  return dir;
}

/**
 * Killed before write `n`: one copy repaired by doctor --fix, another by the next command that
 * writes; the change is there exactly when the kill came after the commit point (write `commit`).
 * Then the step again.
 */
async function crashAt(t: TestContext, f: Fixture, op: Op, point: { n: number; step: string; commit: number }): Promise<void> {
  const { n, step } = point;
  const label = `${op.name}, killed before write ${n} (${step.replace(/\/tmp\/[^/]+\//, "")})`;
  const dir = await crashed(t, f, op, n, label);
  const next = await tempDir(t, "mtls-case-");
  await cp(dir, next, { recursive: true });
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, `${label}: doctor --fix did not converge: ${fixed.stdout}${fixed.stderr}`);
  await doctorClean(dir, `${label}, after doctor --fix`);
  const publish = await mtls(["crl", "publish", "--json"], { cwd: next });
  assert.equal(publish.exitCode, 0, `${label}: the next command fails: ${publish.stdout}${publish.stderr}`);
  await doctorClean(next, `${label}, after the next command`);
  const held = n > point.commit;
  assert.equal(await op.holds(dir), held, `${label}: doctor --fix ${held ? "undid" : "completed"} it`);
  assert.equal(await op.holds(next), held, `${label}: the next command ${held ? "undid" : "completed"} it`);
  const again = await mtls(op.again(held), { cwd: dir });
  assert.equal(again.exitCode, 0, `${label}: run again: ${again.stdout}${again.stderr}`);
}

test("a CA rollover and a partner key replaced, killed at every durable write: finished as one unit by doctor --fix or the next command", async (t) => {
  const f = await fixture();
  const intermediate = ["ca", "rollover", "intermediate", "--yes"];
  const ops: Op[] = [
    { name: "ca rollover intermediate", args: intermediate, holds: async (d) => (await caIds(d)).includes("intermediate-2"), again: () => intermediate },
    {
      name: "ca rollover root start",
      args: ["ca", "rollover", "root", "start", "--yes"],
      holds: async (d) => (await caIds(d)).includes("root-2"),
      again: (held) => (held ? ["ca", "rollover", "root", "finish", "--yes", "--force"] : ["ca", "rollover", "root", "start", "--yes"]),
    },
  ];
  if (f.pgpKey) {
    const g = await gpgHome(t);
    const other = await genKey(g, "cv25519", { email: "new@delta.example" });
    const args = ["partner", "add", "delta", "--pgp-key", "delta-new.asc"];
    ops.push({
      name: "partner add (a new key)",
      args,
      holds: async (d) =>
        JSON.parse(await readFile(join(d, "pki/partners.json"), "utf8"))
          .partners.delta.pgp.fingerprint.replace(/\s/g, "")
          .toUpperCase() === other.fingerprint,
      again: () => args,
      prepare: async (dir) => {
        await writeFile(join(dir, "delta-new.asc"), other.publicArmored);
        const r = await mtls(["partner", "add", "delta", "--pgp-key", "delta.asc"], { cwd: dir });
        assert.equal(r.exitCode, 0, r.stderr);
      },
    });
  } else t.diagnostic("partner add skipped: gpg is not installed");
  const points: Array<{ op: Op; n: number; step: string; commit: number }> = [];
  for (const op of ops) {
    const steps = await stepsOf(t, f, op);
    const commit = steps.findIndex((s) => s.startsWith("commit ")) + 1;
    assert.ok(commit > 0, `${op.name} replaces files without an intent record: ${steps.join(", ")}`);
    t.diagnostic(`${op.name}: ${steps.length} durable writes`);
    for (const [i, step] of steps.entries()) points.push({ op, n: i + 1, step, commit });
  }
  await pool(points, ({ op, ...point }) => crashAt(t, f, op, point));
  t.diagnostic(`${points.length} crash points checked`);
});

test("doctor --fix never deletes the backup of a commit that did not finish", async (t) => {
  const f = await fixture();
  // A rollover killed once it replaced the canary but before config.json: the canary's backups
  // belong to the pending commit, which doctor reports and --fix completes as one unit.
  const dir = await cloneFixture(t, f);
  const args = ["ca", "rollover", "intermediate", "--yes"];
  const steps = await stepsOf(t, f, { name: "ca rollover intermediate", args, holds: async () => true, again: () => args });
  const n = steps.findIndex((s) => s.startsWith("rename ") && s.endsWith("/config.json")) + 1;
  assert.ok(n > 0, steps.join(", "));
  assert.equal((await mtls(args, { cwd: dir, env: { ...HOOKS, MTLS_TEST_CRASH_AT: String(n) } })).exitCode, 128);
  const backups = (await readdir(join(dir, "pki"), { recursive: true })).filter((p) => /\.bak-/.test(p));
  assert.ok(backups.length >= 2, `no backups: ${backups.join(", ")}`);
  const report = JSON.parse((await mtls(["doctor", "--json"], { cwd: dir })).stdout);
  const problems: Array<{ check: string; message: string; fixable: boolean }> = report.result.problems;
  assert.ok(
    problems.some((p) => p.check === "commit"),
    JSON.stringify(problems),
  );
  assert.ok(
    !problems.some((p) => p.check === "leftovers" && /\.bak-/.test(p.message)),
    `a pending commit's backup offered for deletion: ${JSON.stringify(problems)}`,
  );
  for (const b of backups) await readFile(join(dir, "pki", b));
  // status, which recovers nothing, says what it reads may be half of a change.
  const status = await mtls(["status", "--json"], { cwd: dir });
  assert.equal(status.exitCode, 1, status.stdout);
  assert.ok(
    JSON.parse(status.stdout).result.problems.some((p: { kind: string }) => p.kind === "commit-interrupted"),
    status.stdout,
  );
  // The other read-only commands show what they read, with a warning that it may be half of a change.
  for (const args of [["list"], ["ca", "show"], ["crl", "show"]]) {
    const r = await mtls(args, { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /a change a crash interrupted is still pending \(.*\/pki\/\.commit\).*mtls doctor --fix/, `${args.join(" ")}: ${r.stderr}`);
    const j = JSON.parse((await mtls([...args, "--json"], { cwd: dir })).stdout);
    assert.ok(
      j.warnings.some((w: string) => /still pending/.test(w)),
      `${args.join(" ")} --json: ${JSON.stringify(j.warnings)}`,
    );
  }
  assert.doesNotMatch((await mtls(["status"], { cwd: dir })).stderr, /still pending/, "status reports it as a problem, not twice");
  assert.equal((await mtls(["doctor", "--fix", "--json"], { cwd: dir })).exitCode, 0);
  await doctorClean(dir, "after --fix");
  assert.doesNotMatch((await mtls(["list"], { cwd: dir })).stderr, /still pending/);
  const after = JSON.parse((await mtls(["status", "--json"], { cwd: dir })).stdout);
  assert.ok(!after.result.problems.some((p: { kind: string }) => p.kind === "commit-interrupted"), JSON.stringify(after.result.problems));

  // A backup an earlier release's interrupted commit left, with no intent record to say whether
  // it is still needed: kept and reported, unless it is the very file it backs up.
  const old = await cloneFixture(t, f);
  const dead = 2 ** 22 + 12345;
  const kept = join(old, "pki/ca", `.canary.pem.bak-${dead}-0123abcd`);
  const same = join(old, "pki/ca", `.chain.pem.bak-${dead}-4567cdef`);
  await writeFile(kept, await readFile(join(old, "pki/ca/root.pem")));
  await writeFile(same, await readFile(join(old, "pki/ca/chain.pem")));
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: old });
  assert.equal(fixed.exitCode, 1, fixed.stdout);
  await readFile(kept);
  await assert.rejects(readFile(same), "a backup identical to its file is a plain leftover");
  const left = JSON.parse(fixed.stdout).result.problems.filter((p: { fixed?: boolean }) => !p.fixed);
  assert.equal(left.length, 1, JSON.stringify(left));
  assert.match(left[0].message, /ca\/\.canary\.pem\.bak-\d+-0123abcd is a backup of ca\/canary\.pem/);
});

test("doctor reports CA material config.json does not name, and --fix moves it aside without giving its id to a new CA", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  const pki = join(dir, "pki");
  await writeFile(join(pki, "ca/intermediate-7.pem"), await readFile(join(pki, "ca/intermediate.pem")));
  await writeFile(join(pki, "private/intermediate-7.key"), await readFile(join(pki, "private/intermediate.key")), { mode: 0o600 });
  const report = JSON.parse((await mtls(["doctor", "--json"], { cwd: dir })).stdout).result.problems;
  const found = report.find((p: { check: string }) => p.check === "ca-files");
  assert.match(found?.message ?? "", /ca\/intermediate-7\.pem, private\/intermediate-7\.key/, JSON.stringify(report));
  assert.equal((await mtls(["doctor", "--fix", "--json"], { cwd: dir })).exitCode, 0);
  await doctorClean(dir, "after --fix");
  assert.equal((await stat(join(pki, "private/unrecorded/intermediate-7.key"))).mode & 0o777, 0o600);
  await readFile(join(pki, "ca/unrecorded/intermediate-7.pem"));
  const r = await mtls(["ca", "rollover", "intermediate", "--yes", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.notEqual(JSON.parse(r.stdout).result.issuing, "intermediate-7");
});
