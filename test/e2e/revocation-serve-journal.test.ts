// `mtls revocation serve` with a damaged revocation journal: the index still records a
// revocation, so openssl's OCSP client must get "revoked" for it (verified against the CA
// bundle), never a signed "good", and the other certificates get internalError until
// `mtls doctor --fix` restores the journal.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { BIN, baseEnv, initTempCa, json, mtls, openssl, PASSPHRASE, run } from "../helpers/run.js";

interface Responder {
  child: ChildProcess;
  url: string;
  log: () => string;
}

async function startResponder(t: TestContext, cwd: string): Promise<Responder> {
  const child = spawn(process.execPath, [BIN, "revocation", "serve", "--port", "0"], { cwd, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  t.after(async () => {
    if (child.exitCode !== null) return;
    child.kill("SIGTERM");
    await once(child, "exit");
  });
  for (let i = 0; i < 200 && !/http:\/\//.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
  if (!/http:\/\//.test(stdout)) throw new Error(`revocation serve did not start:\n${stderr}`);
  return { child, url: stdout.trim(), log: () => stderr };
}

/** Waits (bounded) for the responder's log to say something. */
async function logged(r: Responder, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 100 && !pattern.test(r.log()); i++) await new Promise((res) => setTimeout(res, 50));
  return r.log();
}

/** A store with one revoked certificate (keyCompromise) and one valid one. */
async function storeWithRevocation(t: TestContext) {
  const dir = await initTempCa(t);
  const issue = async (partner: string) => {
    const r = await mtls(["partner", "issue", partner, "--generate", "--out-key", `${partner}.key`, "--out-leaf", `${partner}.pem`, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
    return { serial: json(r).result.serial as string, cert: join(dir, `${partner}.pem`) };
  };
  const revoked = await issue("beta");
  const valid = await issue("gamma");
  const rev = await mtls(["revoke", revoked.serial, "--reason", "keyCompromise", "--yes"], { cwd: dir });
  assert.equal(rev.exitCode, 0, rev.stderr);
  return { dir, pki: join(dir, "pki"), journal: join(dir, "pki", "revocations.jsonl"), revoked, valid };
}

function ask(pki: string, r: Responder, cert: string) {
  return openssl([
    "ocsp",
    "-issuer",
    join(pki, "ca/intermediate.pem"),
    "-cert",
    cert,
    "-url",
    `${r.url}/ocsp`,
    "-CAfile",
    join(pki, "ca/ca-bundle.pem"),
    "-timeout",
    "5",
  ]);
}

async function assertRevoked(pki: string, r: Responder, cert: string, when: string): Promise<void> {
  const out = await ask(pki, r, cert);
  assert.equal(out.exitCode, 0, `${when}: ${out.stdout}${out.stderr}`);
  assert.match(out.stderr + out.stdout, /Response verify OK/, when);
  assert.doesNotMatch(out.stdout, /: good/, when);
  assert.match(out.stdout, /: revoked/, `${when}: ${out.stdout}`);
  assert.match(out.stdout, /Reason: keyCompromise/, when);
}

async function assertWithheld(pki: string, r: Responder, cert: string, when: string): Promise<void> {
  const out = await ask(pki, r, cert);
  assert.doesNotMatch(out.stdout, /: good/, when);
  assert.match(out.stdout + out.stderr, /Responder Error: internalerror \(2\)/, `${when}: ${out.stdout}${out.stderr}`);
}

test("journal removed, then emptied, under a running responder: the revoked certificate stays revoked, no other is vouched for, doctor --fix restores good", async (t) => {
  const s = await storeWithRevocation(t);
  const r = await startResponder(t, s.dir);
  await assertRevoked(s.pki, r, s.revoked.cert, "journal present");

  await rm(s.journal);
  await assertRevoked(s.pki, r, s.revoked.cert, "journal missing");
  await assertWithheld(s.pki, r, s.valid.cert, "journal missing");
  const log = await logged(r, /revocations\.jsonl lacks/);
  assert.match(log, /revocations\.jsonl lacks 1 revocation\(s\) that index\.jsonl records \(/);
  assert.ok(log.includes(s.revoked.serial), log);
  assert.match(log, /run `mtls doctor`/);
  const health = await run("curl", ["-sS", "-w", "\n%{http_code}", `${r.url}/health`]);
  assert.match(health.stdout, /"ok":false/);
  assert.match(health.stdout, /revocations\.jsonl lacks/);
  assert.match(health.stdout, /\n503$/);

  await writeFile(s.journal, "");
  await assertRevoked(s.pki, r, s.revoked.cert, "journal empty");
  await assertWithheld(s.pki, r, s.valid.cert, "journal empty");

  const fix = await mtls(["doctor", "--fix"], { cwd: s.dir });
  assert.equal(fix.exitCode, 0, fix.stdout + fix.stderr);
  await assertRevoked(s.pki, r, s.revoked.cert, "after doctor --fix");
  const good = await ask(s.pki, r, s.valid.cert);
  assert.match(good.stderr + good.stdout, /Response verify OK/);
  assert.match(good.stdout, /gamma\.pem: good/);
  assert.match(await logged(r, /holds every revocation/), /revocations\.jsonl holds every revocation the store records again/);
});

test("a responder started on a store whose journal is already gone says so at start and answers revoked from the index", async (t) => {
  const s = await storeWithRevocation(t);
  await rm(s.journal);
  const r = await startResponder(t, s.dir);
  // Logged before any request: the operator sees it when the server starts.
  assert.match(await logged(r, /lacks/), /revocations\.jsonl lacks .*run `mtls doctor`/);
  await assertRevoked(s.pki, r, s.revoked.cert, "journal gone at start");
  await assertWithheld(s.pki, r, s.valid.cert, "journal gone at start");
});
