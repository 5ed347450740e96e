// #14 partner-level health: `status` and `partner list` judge partners (ok, due, locked out,
// rotating, offboarded), with the CLI's clock moved forward instead of waiting for days.
import assert from "node:assert/strict";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { json, mtls, tempDir } from "../helpers/run.js";

const DAY = 86_400_000;
const start = Date.now();
const clock = (days: number) => ({ MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: new Date(start + days * DAY).toISOString() });

/** `status --json` at day `days`, after publishing a CRL at that time (a CRL lasts a week). */
async function statusAt(dir: string, days: number) {
  assert.equal((await mtls(["crl", "publish"], { cwd: dir, env: clock(days) })).exitCode, 0);
  const r = await mtls(["status", "--json"], { cwd: dir, env: clock(days) });
  const doc = json(r);
  const states = Object.fromEntries(doc.result.partners.map((p: { partnerId: string; state: string }) => [p.partnerId, p.state]));
  return { exitCode: r.exitCode, states, kinds: doc.result.problems.map((p: { kind: string; partnerId?: string }) => `${p.kind}:${p.partnerId ?? ""}`), r };
}

test("#14 status exit codes with the clock moved: ok 0, due 1, rotating 0, finished 0, locked out 1; offboarded and superseded never red", async (t) => {
  const dir = await tempDir(t);
  assert.equal((await mtls(["ca", "init", "--name", "Health", "--insecure-no-passphrase"], { cwd: dir })).exitCode, 0);
  const acme = await makeCsr(dir, "acme", { subj: "/CN=acme-client" });
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", acme.csr, "--days", "60"], { cwd: dir })).exitCode, 0);
  const gone = await makeCsr(dir, "gone", { subj: "/CN=gone-client" });
  assert.equal((await mtls(["partner", "issue", "gone", "--csr", gone.csr, "--days", "60"], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["partner", "offboard", "gone", "--yes"], { cwd: dir })).exitCode, 0);

  const ok = await statusAt(dir, 0);
  assert.equal(ok.exitCode, 0, ok.r.stdout);
  assert.deepEqual(ok.states, { acme: "ok", gone: "offboarded" });

  const due = await statusAt(dir, 40);
  assert.equal(due.exitCode, 1);
  assert.deepEqual(due.kinds, ["partner-due:acme"]);
  const human = await mtls(["status"], { cwd: dir, env: clock(40) });
  assert.match(human.stdout, /acme: certificate [0-9a-f]+ expires in (19|20) days .* nothing succeeds it/);
  assert.match(human.stdout, /mtls partner rotate acme/);

  const next = await makeCsr(dir, "acme-next", { subj: "/CN=acme-client" });
  const rot = await mtls(["partner", "rotate", "acme", "--csr", next.csr, "--overlap", "10d", "--days", "60", "--json"], { cwd: dir, env: clock(40) });
  assert.equal(rot.exitCode, 0, rot.stderr);
  const rotating = await statusAt(dir, 41);
  assert.equal(rotating.exitCode, 0, rotating.r.stdout);
  assert.deepEqual(rotating.states, { acme: "rotating", gone: "offboarded" });
  const list = json(await mtls(["partner", "list", "--json"], { cwd: dir, env: clock(41) })).result.partners;
  const a = list.find((p: { id: string }) => p.id === "acme");
  assert.equal(a.state, "rotating");
  assert.equal(a.newestSerial, json(rot).result.newSerial);
  assert.ok([58, 59].includes(a.daysLeft), String(a.daysLeft));
  const listed = await mtls(["partner", "list"], { cwd: dir, env: clock(41) });
  assert.match(listed.stdout, /acme .*rotating/);
  assert.match(listed.stdout, /gone .*offboarded/);

  // The overlap is over but not finished: still no problem, and status says what to run.
  const overdue = await mtls(["status"], { cwd: dir, env: clock(52) });
  assert.match(overdue.stdout, /acme: the overlap ended at .*; run `mtls partner rotate --finish`/);
  assert.equal((await mtls(["partner", "rotate", "--finish"], { cwd: dir, env: clock(52) })).exitCode, 0);
  const finished = await statusAt(dir, 53);
  assert.equal(finished.exitCode, 0, finished.r.stdout);
  assert.deepEqual(finished.states, { acme: "ok", gone: "offboarded" });

  // Day 95: the case. Every certificate expired: acme is locked out, and status says so.
  const locked = await statusAt(dir, 101);
  assert.equal(locked.exitCode, 1);
  assert.deepEqual(locked.kinds, ["partner-locked-out:acme"]);
  assert.match((await mtls(["status"], { cwd: dir, env: clock(101) })).stdout, /acme: no valid certificate .* locked out/);
});

test("#14 the clock override is test-only: MTLS_TEST_NOW without MTLS_TEST_HOOKS=1 is ignored", async (t) => {
  const dir = await tempDir(t);
  assert.equal((await mtls(["ca", "init", "--name", "Clock", "--insecure-no-passphrase"], { cwd: dir })).exitCode, 0);
  const r = await mtls(["status", "--json"], { cwd: dir, env: { MTLS_TEST_NOW: new Date(start + 400 * DAY).toISOString() } });
  assert.equal(r.exitCode, 0, r.stdout);
});
