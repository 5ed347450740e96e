// A store nobody here can write to (a backup mounted read-only, another user's store): the
// commands that only read work on it and change nothing, `doctor` checks it without the lock it
// cannot make there and says so, and `doctor --fix` (as any change) exits 5 naming the store.
// Made read-only for real: a read-only bind mount in a mount namespace of the command's own
// (EROFS), and a store owned by `nobody` with its write bits off, the command run as `nobody`
// (EACCES; the tests run as root, which no mode keeps from writing).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { BIN, baseEnv, initTempCa, json, mtls, PASSPHRASE, type RunResult, run, snapshot } from "../helpers/run.js";

type Runner = (args: string[]) => Promise<RunResult>;
const env = () => baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE });
const NOBODY = 65534;

/** Why a read-only bind mount cannot be made here, or undefined when it can. */
function roMountUnavailable(dir: string): string | undefined {
  if (spawnSync("sh", ["-c", "command -v unshare && command -v mount"]).status !== 0) return "unshare or mount is not installed";
  const probe = spawnSync("unshare", ["-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && ! touch "$0/.probe" 2>/dev/null', dir]);
  return probe.status === 0 ? undefined : `no read-only bind mount here (needs root and mount namespaces): ${probe.stderr.toString().trim()}`;
}

/** Why commands cannot be run as `nobody` here, or undefined when they can. */
function nobodyUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "not root: cannot run commands as nobody";
  const probe = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, "-e", "0"]);
  return probe.status === 0 ? undefined : `setpriv cannot run node as nobody: ${probe.error?.message ?? probe.stderr.toString().trim()}`;
}

/** The checks every kind of read-only store must pass: `pki` is the store, `why` the reason the lock names. */
async function checkReadOnly(cli: Runner, pki: string, why: string): Promise<void> {
  const before = await snapshot(pki);
  const r = await cli(["doctor", "--json"]);
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const doc = json(r);
  assert.equal(doc.result.healthy, true, JSON.stringify(doc.result.problems));
  assert.equal(doc.warnings.length, 1, JSON.stringify(doc.warnings));
  assert.match(doc.warnings[0] as string, new RegExp(`^cannot lock the store ${pki}: ${why}; checked without the lock`));
  const human = await cli(["doctor"]);
  assert.equal(human.exitCode, 0, human.stderr);
  assert.match(human.stdout, /the store is consistent/);
  assert.deepEqual(human.stderr.split("\n").filter(Boolean), [`warning: ${doc.warnings[0]}`], "one warning line says the check ran without the lock");

  // A repair needs the lock, as any change does: exit 5 naming the store, with what to do.
  for (const args of [
    ["doctor", "--fix", "--json"],
    ["crl", "publish", "--json"],
  ]) {
    const fix = await cli(args);
    assert.equal(fix.exitCode, 5, fix.stdout);
    const error = json(fix).error;
    assert.equal(error?.code, "ERR_STORE_READ_ONLY", args.join(" "));
    assert.equal(error?.message, `cannot lock the store ${pki}: ${why}`);
    assert.match(error?.hint ?? "", /remount it writable/);
  }

  // The other commands that only read take no lock and write nothing.
  for (const args of [
    ["list"],
    ["status"],
    ["ca", "show"],
    ["crl", "show"],
    ["partner", "list"],
    ["partner", "show", "acme"],
    ["audit"],
    ["audit", "verify"],
  ]) {
    const shown = await cli(args);
    assert.equal(shown.exitCode, 0, `${args.join(" ")}: ${shown.stdout}${shown.stderr}`);
  }
  assert.deepEqual(await snapshot(pki), before, "nothing in the store changed");
}

async function storeWithPartner(t: import("node:test").TestContext): Promise<{ dir: string; pki: string }> {
  const dir = await initTempCa(t);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stderr);
  return { dir, pki: join(dir, "pki") };
}

test("a store on a read-only mount: doctor checks it without the lock and says so; --fix exits 5 naming the store", async (t) => {
  const { dir, pki } = await storeWithPartner(t);
  const skip = roMountUnavailable(pki);
  if (skip) return t.skip(skip);
  // Each command in a mount namespace of its own, where the store is mounted read-only over itself.
  const wrap = 'mount --bind -o ro "$0" "$0" && exec "$@"';
  const cli: Runner = (args) => run("unshare", ["-m", "sh", "-c", wrap, pki, process.execPath, BIN, "--pki", pki, ...args], { cwd: dir, env: env() });
  await checkReadOnly(cli, pki, "it is on a read-only file system");
});

test("a store this user may read but not write: doctor checks it without the lock, warning that its owner may change it meanwhile", async (t) => {
  const skip = nobodyUnavailable();
  if (skip) return t.skip(skip);
  const { dir, pki } = await storeWithPartner(t);
  // The store is nobody's, its write bits off; nobody must reach it through the temp directory.
  assert.equal(spawnSync("chown", ["-R", `${NOBODY}:${NOBODY}`, pki]).status, 0);
  assert.equal(spawnSync("chmod", ["-R", "a-w", pki]).status, 0);
  await chmod(dir, 0o755);
  const asNobody = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, BIN, "--pki", pki];
  const cli: Runner = (args) => run("setpriv", [...asNobody, ...args], { cwd: dir, env: env() });
  await checkReadOnly(cli, pki, "this user cannot write to it");
  const doc = json(await cli(["doctor", "--json"]));
  assert.match(doc.warnings[0] as string, /a change its owner makes meanwhile may show as a problem/);
});
