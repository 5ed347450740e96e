import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { allCommands, runInProcess } from "../helpers/in-process.js";
import { BIN, baseEnv, initTempCa, json, mtls, tempDir } from "../helpers/run.js";

test("--json: one parseable document on success and on failure, for every command", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "p");
  const empty = await tempDir(t);
  const cases: Array<{ args: string[]; cwd: string; exit: number; command: string }> = [
    { args: ["ca", "show"], cwd: dir, exit: 0, command: "ca show" },
    { args: ["ca", "show"], cwd: empty, exit: 5, command: "ca show" },
    { args: ["ca", "init"], cwd: dir, exit: 4, command: "ca init" },
    { args: ["partner", "issue", "p", "--csr", csr], cwd: dir, exit: 0, command: "partner issue" },
    { args: ["partner", "issue", "p", "--csr", csr], cwd: empty, exit: 5, command: "partner issue" },
    { args: ["partner", "issue", "p", "--csr", "missing.csr"], cwd: dir, exit: 5, command: "partner issue" },
    { args: ["partner", "issue", "p"], cwd: dir, exit: 2, command: "partner issue" },
    { args: ["list"], cwd: dir, exit: 0, command: "list" },
    { args: ["list"], cwd: empty, exit: 5, command: "list" },
    { args: ["list", "--status", "bogus"], cwd: dir, exit: 2, command: "list" },
    { args: ["list", "--expiring-within", "soon"], cwd: dir, exit: 2, command: "list" },
    { args: ["list", "--bogus-flag"], cwd: dir, exit: 2, command: "list" },
    { args: ["nonsense"], cwd: dir, exit: 2, command: "" },
  ];
  for (const c of cases) {
    const r = await mtls([...c.args, "--json"], { cwd: c.cwd });
    const label = `${c.args.join(" ")} in ${c.cwd === empty ? "empty" : "pki"} dir`;
    assert.equal(r.exitCode, c.exit, `${label}: ${r.stdout}${r.stderr}`);
    const doc = json(r);
    assert.equal(doc.exitCode, c.exit, label);
    assert.equal(doc.ok, c.exit === 0, label);
    assert.equal(doc.command, c.command, label);
    assert.equal((doc as { schemaVersion?: number }).schemaVersion, 1);
    assert.ok(Array.isArray(doc.warnings));
    if (c.exit === 0) assert.ok(doc.result !== undefined && doc.error === undefined, label);
    else {
      assert.ok(doc.error?.code.startsWith("ERR_") && doc.error.message, label);
      // The error is also on stderr, in one line, for the person watching.
      assert.match(r.stderr, /^error: .+$/m, label);
    }
  }
});

test("no PKI is exit 5 with a hint to run ca init", async (t) => {
  const r = await mtls(["list"], { cwd: await tempDir(t) });
  assert.equal(r.exitCode, 5);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /error: no PKI found at .*\n\s+hint: run `mtls ca init` first/);
});

test("--pki and MTLS_PKI select the directory", async (t) => {
  const dir = await initTempCa(t);
  const elsewhere = await tempDir(t);
  const byFlag = await mtls(["--pki", join(dir, "pki"), "ca", "show", "--json"], { cwd: elsewhere });
  assert.equal(byFlag.exitCode, 0, byFlag.stderr);
  const byEnv = await mtls(["ca", "show", "--json"], { cwd: elsewhere, env: { MTLS_PKI: join(dir, "pki") } });
  assert.equal(byEnv.exitCode, 0, byEnv.stderr);
  assert.equal(json(byEnv).result.pkiDir, join(dir, "pki"));
});

test("--help and --version exit 0; every command's help ends with examples and exit codes", async () => {
  const root = await mtls(["--help"]);
  assert.equal(root.exitCode, 0);
  assert.match(root.stdout, /Exit codes:\n\s+0 /);
  const v = await mtls(["--version"]);
  assert.equal(v.exitCode, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+\n$/);
  const leaves = allCommands();
  // The program's own list, so a new command cannot be left out; the ones listed here before it was derived are still in it.
  for (const known of ["demo", "ca init", "partner issue", "revoke", "crl publish", "doctor", "probe", "bundle open"]) {
    assert.ok(
      leaves.some((l) => l.join(" ") === known),
      known,
    );
  }
  for (const cmd of leaves) {
    const r = await mtls([...cmd, "--help"]);
    assert.equal(r.exitCode, 0, cmd.join(" "));
    assert.match(r.stdout, /Examples:\n\s+\$ .*mtls /, cmd.join(" "));
    assert.match(r.stdout, /Exit codes:\n\s+0 /, cmd.join(" "));
  }
});

test("colour only on request: none in pipes or with NO_COLOR, some with FORCE_COLOR", async (t) => {
  const dir = await initTempCa(t);
  const plain = await mtls(["list", "--status", "valid"], { cwd: dir });
  assert.doesNotMatch(plain.stdout + plain.stderr, /\u001b\[/);
  const forced = await mtls(["ca", "show"], { cwd: dir, env: { FORCE_COLOR: "1" } });
  assert.match(forced.stdout, /\u001b\[/);
  const noColor = await mtls(["ca", "show"], { cwd: dir, env: { FORCE_COLOR: "1", NO_COLOR: "1" } });
  assert.doesNotMatch(noColor.stdout, /\u001b\[/);
  const flag = await mtls(["ca", "show", "--no-color"], { cwd: dir, env: { FORCE_COLOR: "1" } });
  assert.doesNotMatch(flag.stdout, /\u001b\[/);
});

test("-q keeps the result and drops progress lines", async (t) => {
  const dir = await tempDir(t);
  const loud = await mtls(["ca", "init"], { cwd: dir });
  assert.match(loud.stderr, /CA ready/);
  const quiet = await mtls(["ca", "init", "-q", "--pki", "pki2"], { cwd: dir });
  assert.equal(quiet.exitCode, 0);
  assert.equal(quiet.stderr, "");
  assert.match(quiet.stdout, /Root CA/);
});

test("every command, in-process: --json prints one document on success (--help) and on failure (a bad option)", async (t) => {
  const dir = await tempDir(t);
  for (const cmd of allCommands()) {
    const path = cmd.join(" ");
    const help = await runInProcess([...cmd, "--help", "--json"], { cwd: dir });
    assert.equal(help.exitCode, 0, path);
    const helpDoc = JSON.parse(help.stdout);
    assert.equal(helpDoc.ok, true, path);
    assert.equal(helpDoc.command, path, path);
    assert.match(helpDoc.result.text, /Examples:[\s\S]*Exit codes:/, path);
    const bad = await runInProcess([...cmd, "--no-such-option", "--json"], { cwd: dir });
    assert.equal(bad.exitCode, 2, `${path}: ${bad.stdout}${bad.stderr}`);
    const doc = JSON.parse(bad.stdout); // exactly one document: JSON.parse refuses anything after it
    assert.equal(doc.ok, false, path);
    assert.equal(doc.exitCode, 2, path);
    assert.equal(doc.command, path, path);
    assert.equal(doc.error.code, "ERR_USAGE", path);
    assert.ok(Array.isArray(doc.warnings), path);
  }
});

test("a warning appears once in the --json document (revoke --no-publish)", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "w");
  const issued = json(await mtls(["partner", "issue", "w", "--csr", csr, "--json"], { cwd: dir }));
  const r = await mtls(["revoke", issued.result.serial, "--no-publish", "--yes", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(r.stdout.match(/--no-publish/g)?.length, 1, r.stdout);
  assert.match(json(r).warnings.join("\n"), /was not published/);
});

test("output that cannot be written (a full disk) is exit 5 with one error line, not a stack; a closed pipe is not an error", async (t) => {
  const dir = await initTempCa(t);
  const full = openSync("/dev/full", "w");
  t.after(() => closeSync(full));
  for (const args of [["list"], ["list", "--json"], ["ca", "show"]]) {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, env: baseEnv(), stdio: ["ignore", full, "pipe"], encoding: "utf8" });
    assert.equal(r.status, 5, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^error: cannot write the output: ENOSPC\n {2}hint: /);
    assert.doesNotMatch(r.stderr, /at |node:internal/);
  }
  const head = spawnSync("sh", ["-c", `"${process.execPath}" "${BIN}" ca show | head -c 1 >/dev/null`], { cwd: dir, env: baseEnv(), encoding: "utf8" });
  assert.equal(head.status, 0, head.stderr);
  assert.equal(head.stderr, "");
});
