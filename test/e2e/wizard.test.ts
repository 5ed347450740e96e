import assert from "node:assert/strict";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { BIN, have, initTempCa, json, mtls, PASSPHRASE, snapshot } from "../helpers/run.js";
import { startTerminal } from "../helpers/tmux.js";

test("the onboarding wizard on a real terminal: questions, summary, issue, encrypted bundle", async (t) => {
  if (!have("tmux")) return t.skip("tmux is not installed");
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@wizard.example" });
  const { csr } = await makeCsr(dir, "wizard");
  const term = await startTerminal(t, `node ${BIN} partner onboard`, { cwd: dir, env: { MTLS_CA_PASSPHRASE: PASSPHRASE } });
  await term.waitFor(/Partner id/);
  await term.type("Bad Id");
  await term.press("Enter");
  await term.waitFor(/invalid partner id/); // validated as typed
  await term.press("C-u");
  await term.type("wizard-co");
  await term.press("Enter");
  await term.waitFor(/Organisation/);
  await term.type("Wizard Co");
  await term.press("Enter");
  await term.waitFor(/Contact e-mail/);
  await term.type("pki@wizard.example");
  await term.press("Enter");
  await term.waitFor(/OpenPGP public key/);
  await term.type(key.publicFile);
  await term.press("Enter");
  await term.waitFor(/How does the partner get its key/);
  await term.press("Enter"); // the first choice: a CSR
  await term.waitFor(/Path of the CSR file/);
  await term.type(csr);
  await term.press("Enter");
  await term.waitFor(/Subject alternative names/);
  await term.type("uri:no-scheme");
  await term.press("Enter");
  await term.waitFor(/needs a scheme/);
  await term.press("C-u");
  await term.type("uri:spiffe://wizard.example/client");
  await term.press("Enter");
  await term.waitFor(/Validity in days/);
  await term.press("Enter");
  await term.waitFor(/Go ahead\?/);
  const summary = await term.screen();
  assert.match(summary, /Onboard wizard-co \(Wizard Co\): sign CSR .*wizard\.csr, SANs uri:spiffe:\/\/wizard\.example\/client, 90 days/);
  await term.type("y");
  await term.press("Enter");
  const done = await term.waitFor(/\[exit \d+\]/, 30_000);
  assert.match(done, /wizard-co onboarded/);
  assert.match(done, /\[exit 0\]/);
  const show = json(await mtls(["partner", "show", "wizard-co", "--json"], { cwd: dir })).result;
  assert.equal(show.partner.name, "Wizard Co");
  assert.equal(show.partner.contact, "pki@wizard.example");
  assert.equal(show.certificates[0].sans[0], "uri:spiffe://wizard.example/client");
  const bundles = (await readdir(dir)).filter((f) => f.endsWith(".zip.pgp"));
  assert.equal(bundles.length, 1);
  assert.equal((await stat(join(dir, bundles[0] as string))).mode & 0o777, 0o600);
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
