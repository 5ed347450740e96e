import assert from "node:assert/strict";
import { readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { BIN, have, initTempCa, json, mtls, PASSPHRASE, snapshot } from "../helpers/run.js";
import { startTerminal } from "../helpers/tmux.js";

test("the onboarding wizard on a real terminal: answers checked as typed, summary with fingerprint, passphrase retried, bundle (#22, #13)", async (t) => {
  if (!have("tmux")) return t.skip("tmux is not installed");
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t, ["--max-days", "100"]);
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@wizard.example" });
  const { csr } = await makeCsr(dir, "wizard");
  await writeFile(join(dir, "not-a-key.asc"), "hello");
  // No MTLS_CA_PASSPHRASE: the wizard asks for it, after the summary.
  const term = await startTerminal(t, `node ${BIN} partner onboard --gateway-url https://api.wizard.example/health`, { cwd: dir, env: {} });
  await term.waitFor(/Partner id/);
  await term.type("Partner C");
  await term.press("Enter");
  await term.waitFor(/invalid partner id "Partner C": use 1-64 lowercase letters/); // the rule, as typed
  await term.press("C-u");
  await term.type("wizard-co");
  await term.press("Enter");
  await term.waitFor(/Organisation/);
  await term.type("Wizard\u00adCo");
  await term.press("Enter");
  await term.waitFor(/it contains the invisible character U\+00AD/); // partner add's rule, at the prompt
  await term.press("C-u");
  await term.type("Wizard Co");
  await term.press("Enter");
  await term.waitFor(/Contact e-mail/);
  await term.type("pki\u202e@wizard.example");
  await term.press("Enter");
  await term.waitFor(/it contains the bidi control U\+202E/);
  await term.press("C-u");
  await term.type("pki@wizard.example");
  await term.press("Enter");
  await term.waitFor(/OpenPGP public key/);
  await term.type("not-a-key.asc");
  await term.press("Enter");
  await term.waitFor(/not a readable OpenPGP public key/);
  await term.press("C-u");
  await term.type(key.publicFile);
  await term.press("Enter");
  await term.waitFor(/How does the partner get its key/);
  await term.press("Enter"); // the first choice: a CSR
  await term.waitFor(/Path of the CSR file/);
  await term.type(csr);
  await term.press("Enter");
  await term.waitFor(/Subject CN \(Enter for .*CN=wizard/);
  await term.type("x".repeat(65));
  await term.press("Enter");
  await term.waitFor(/invalid --cn: .*longer than 64 characters/); // the subject policy, at the prompt
  await term.press("C-u");
  await term.type("wizard-client");
  await term.press("Enter");
  await term.waitFor(/Subject alternative names/);
  await term.type("uri:no-scheme");
  await term.press("Enter");
  await term.waitFor(/needs a scheme/);
  await term.press("C-u");
  await term.type("uri:spiffe://wizard.example/client");
  await term.press("Enter");
  await term.waitFor(/Validity \(days, or e\.g\. 12w; at most 100 days\)/);
  await term.press("C-u");
  await term.type("500");
  await term.press("Enter");
  await term.waitFor(/500 days exceeds this CA's maximum of 100 days/); // refused at the prompt, not after "Go ahead"
  await term.press("C-u");
  await term.type("30d");
  await term.press("Enter");
  await term.waitFor(/Go ahead\?/);
  const summary = await term.screen();
  assert.match(summary, /Onboard wizard-co \(Wizard Co\): sign CSR .*wizard\.csr, CN wizard-client, SANs uri:spiffe:\/\/wizard\.example\/client, 30 days/);
  const grouped = (key.fingerprint.match(/.{4}/g) ?? []).join(" ");
  assert.ok(summary.includes(`OpenPGP key ${grouped} (ed25519/cv25519, Test pki@wizard.example <pki@wizard.example>)`), summary);
  await term.type("y");
  await term.press("Enter");
  await term.waitFor(/^.*CA key passphrase:/m);
  await term.type("not the passphrase");
  await term.press("Enter");
  await term.waitFor(/wrong passphrase, 2 attempts left/);
  await term.type(PASSPHRASE);
  await term.press("Enter");
  const done = await term.waitFor(/\[exit \d+\]/, 30_000);
  assert.match(done, /wizard-co onboarded/);
  assert.match(done, /\[exit 0\]/);
  // The prompt starts its own line; the closing hint names the gateway that was given, as one shell word.
  assert.match(done, /^\S*\s*CA key passphrase:/m);
  assert.match(done, /curl --cert chain\.pem --key <the key they made the CSR with> 'https:\/\/api\.wizard\.example\/health'/);
  const show = json(await mtls(["partner", "show", "wizard-co", "--json"], { cwd: dir })).result;
  assert.equal(show.partner.name, "Wizard Co");
  assert.equal(show.partner.contact, "pki@wizard.example");
  assert.equal(show.certificates[0].sans[0], "uri:spiffe://wizard.example/client");
  assert.match(show.certificates[0].subject, /CN=wizard-client/);
  const bundles = (await readdir(dir)).filter((f) => f.endsWith(".zip.pgp"));
  assert.equal(bundles.length, 1);
  assert.equal((await stat(join(dir, bundles[0] as string))).mode & 0o777, 0o600);
});

test("the wizard asks the key type for a generated key; three wrong passphrases end in exit 3 with nothing changed", async (t) => {
  if (!have("tmux")) return t.skip("tmux is not installed");
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const key = await genKey(g, "rsa4096", { email: "pki@gen.example" });
  const before = await snapshot(join(dir, "pki"));
  const term = await startTerminal(t, `node ${BIN} partner onboard gen-co --name Gen --contact pki@gen.example --pgp-key ${key.publicFile}`, {
    cwd: dir,
    env: {},
  });
  await term.waitFor(/How does the partner get its key/);
  await term.press("Down");
  await term.press("Enter");
  await term.waitFor(/Key type/);
  await term.press("Down");
  await term.press("Enter"); // ec-p384
  await term.waitFor(/Subject CN \(Enter for gen-co\)/);
  await term.press("Enter");
  await term.waitFor(/Subject alternative names/);
  await term.type("dns:client.gen.example");
  await term.press("Enter");
  await term.waitFor(/Validity/);
  await term.press("Enter");
  const summary = await term.waitFor(/Go ahead\?/);
  assert.match(summary, /generate a ec-p384 key, SANs dns:client\.gen\.example, 90 days/);
  assert.match(summary, /\(rsa4096\/rsa4096, /);
  await term.type("y");
  await term.press("Enter");
  for (const waitFor of [/CA key passphrase:/, /wrong passphrase, 2 attempts left/, /wrong passphrase, 1 attempt left/]) {
    await term.waitFor(waitFor);
    await term.type("not the passphrase");
    await term.press("Enter");
  }
  const done = await term.waitFor(/\[exit \d+\]/, 30_000);
  assert.match(done, /wrong CA key passphrase \(3 attempts\)/);
  assert.match(done, /\[exit 3\]/);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("Ctrl-C in the wizard exits 130 and leaves the PKI exactly as it was", async (t) => {
  if (!have("tmux")) return t.skip("tmux is not installed");
  const dir = await initTempCa(t);
  const before = await snapshot(join(dir, "pki"));
  const term = await startTerminal(t, `node ${BIN} partner onboard`, { cwd: dir, env: { MTLS_CA_PASSPHRASE: PASSPHRASE } });
  await term.waitFor(/Partner id/);
  await term.type("half-done");
  await term.press("Enter");
  await term.waitFor(/Organisation/);
  await term.press("C-c");
  const done = await term.waitFor(/\[exit \d+\]/);
  assert.match(done, /\[exit 130\]/);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("without a terminal the wizard names every missing flag (exit 2); with all flags it asks nothing", async (t) => {
  const dir = await initTempCa(t);
  const r = await mtls(["partner", "onboard", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 2);
  assert.equal(json(r).error?.message, "missing <partner-id>, --pgp-key <file>, --csr <file> or --generate");
  if (!haveGpg()) return t.skip("gpg is not installed");
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@flags.example" });
  const before = await snapshot(join(dir, "pki"));
  const tooLong = await mtls(["partner", "onboard", "flags-co", "--pgp-key", key.publicFile, "--generate", "--days", "500", "--json"], { cwd: dir });
  assert.equal(tooLong.exitCode, 3);
  assert.equal(json(tooLong).error?.code, "ERR_POLICY_VALIDITY");
  assert.deepEqual(await snapshot(join(dir, "pki")), before, "#13: refused before anything is registered");
  const ok = await mtls(
    ["partner", "onboard", "flags-co", "--pgp-key", key.publicFile, "--generate", "--san", "dns:client.flags.example", "--out", "flags.zip.pgp", "--json"],
    { cwd: dir },
  );
  assert.equal(ok.exitCode, 0, ok.stderr);
  const res = json(ok).result;
  assert.equal(res.bundlePath, join(dir, "flags.zip.pgp"));
  assert.equal(res.keyHeldBy, "bundle");
  assert.equal(res.recipientFingerprint, key.fingerprint);
});

test("the CA passphrase prompt of partner issue starts on its own line, not after the progress text (#22)", async (t) => {
  if (!have("tmux")) return t.skip("tmux is not installed");
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "tty");
  const term = await startTerminal(t, `node ${BIN} partner issue tty-co --csr ${csr}`, { cwd: dir, env: {} });
  const screen = await term.waitFor(/CA key passphrase:/);
  const line = screen.split("\n").find((l) => l.includes("CA key passphrase:")) ?? "";
  assert.match(line, /^\W*CA key passphrase:/, `the prompt shares its line: ${JSON.stringify(line)}`);
  await term.type(PASSPHRASE);
  await term.press("Enter");
  const done = await term.waitFor(/\[exit \d+\]/, 30_000);
  assert.match(done, /\[exit 0\]/);
  assert.match(done, /serial:/);
});
