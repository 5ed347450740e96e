// #17: the --then hook is split into words once and never reaches a shell.
import assert from "node:assert/strict";
import test from "node:test";
import { MtlsError } from "../../src/core/errors.js";
import { hookEnvironment, runHook, splitCommand } from "../../src/core/hooks.js";

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
  const ok = await runHook(["printf", "%s|", "$HOME", "*", "a b"], (c) => out.push(c), process.env);
  assert.equal(ok.exitCode, 0);
  assert.equal(Buffer.concat(out).toString(), "$HOME|*|a b|");
  assert.equal((await runHook(["false"], () => {}, process.env)).exitCode, 1);
  const missing = await runHook(["/nonexistent/reload"], () => {}, process.env);
  assert.equal(missing.exitCode, 127);
  assert.match(missing.error ?? "", /not found/);
  const slow = await runHook(["sleep", "5"], () => {}, process.env, 100);
  assert.notEqual(slow.exitCode, 0);
  assert.match(slow.error ?? "", /killed by SIGKILL/);
});

test("a hook never gets the secrets mtls was given: its output is printed by mtls", async () => {
  const out: Buffer[] = [];
  const env = {
    PATH: process.env.PATH,
    MTLS_CA_PASSPHRASE: "ca-secret-1",
    MTLS_PGP_PASSPHRASE: "pgp-secret-2",
    MTLS_PKCS11_PIN: "pin-secret-3",
    MTLS_SMTP_PASSWORD: "smtp-secret-4",
    MTLS_WEBHOOK_SECRET: "hook-secret-5",
    PGPASSWORD: "pg-secret-6",
    MTLS_STORE: "postgres://mtls:store-secret-7@db.example/mtls",
    MTLS_PKI: "/srv/pki",
    RELOAD_TARGET: "nginx",
  };
  assert.equal((await runHook(["env"], (c) => out.push(c), env)).exitCode, 0);
  const seen = Buffer.concat(out).toString();
  assert.doesNotMatch(seen, /secret/);
  assert.match(seen, /^MTLS_PKI=\/srv\/pki$/m);
  assert.match(seen, /^RELOAD_TARGET=nginx$/m);
  assert.deepEqual(hookEnvironment({ MTLS_STORE: "postgres://mtls@db.example/mtls" }), { MTLS_STORE: "postgres://mtls@db.example/mtls" });
  // A password in a URL's query, or in a URL of another mtls variable, is a password too.
  assert.deepEqual(hookEnvironment({ MTLS_STORE: "postgres://mtls@db.example/mtls?password=store-secret-8" }), {});
  assert.deepEqual(hookEnvironment({ MTLS_SMTP: "smtp://u:smtp-secret-9@mail.example" }), {});
  assert.deepEqual(hookEnvironment({ MTLS_SMTP: "smtp://mail.example:587" }), { MTLS_SMTP: "smtp://mail.example:587" });
});
