// #17: the --then hook is split into words once and never reaches a shell.
import assert from "node:assert/strict";
import test from "node:test";
import { MtlsError } from "../../src/core/errors.js";
import { runHook, splitCommand } from "../../src/core/hooks.js";

test("splitCommand: plain words, quotes and escapes as a shell splits them", () => {
  assert.deepEqual(splitCommand("nginx -s reload", "--then"), ["nginx", "-s", "reload"]);
  assert.deepEqual(splitCommand(`systemctl  reload 'haproxy@edge 1' "a \\"b\\""`, "--then"), ["systemctl", "reload", "haproxy@edge 1", 'a "b"']);
  assert.deepEqual(splitCommand("echo ''", "--then"), ["echo", ""]);
  assert.deepEqual(splitCommand("a\\ b", "--then"), ["a b"]);
});

test("splitCommand refuses what only a shell would interpret, and control characters", () => {
  for (const bad of ["reload; rm -rf /", "a | b", "a && b", "a > f", "$(id)", "`id`", "a *", "~/x", "a\nb", "a\u001b[2J", "'open", "", "   "]) {
    assert.throws(
      () => splitCommand(bad, "--then"),
      (e: unknown) => e instanceof MtlsError && e.exit === 2,
      JSON.stringify(bad),
    );
  }
});

test("runHook passes arguments verbatim (no expansion) and reports exit codes and missing programs", async () => {
  const out: Buffer[] = [];
  const ok = await runHook(["printf", "%s|", "$HOME", "*", "a b"], (c) => out.push(c));
  assert.equal(ok.exitCode, 0);
  assert.equal(Buffer.concat(out).toString(), "$HOME|*|a b|");
  assert.equal((await runHook(["false"], () => {})).exitCode, 1);
  const missing = await runHook(["/nonexistent/reload"], () => {});
  assert.equal(missing.exitCode, 127);
  assert.match(missing.error ?? "", /not found/);
  const slow = await runHook(["sleep", "5"], () => {}, 100);
  assert.notEqual(slow.exitCode, 0);
  assert.match(slow.error ?? "", /killed by SIGKILL/);
});
