import assert from "node:assert/strict";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls } from "../helpers/run.js";

test("list shows status and days left, and filters by partner, status and expiry window", async (t) => {
  const dir = await initTempCa(t);
  const a = await makeCsr(dir, "a");
  const b = await makeCsr(dir, "b");
  assert.equal((await mtls(["partner", "issue", "alpha", "--csr", a.csr, "--days", "90"], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["partner", "issue", "beta", "--csr", b.csr, "--days", "5"], { cwd: dir })).exitCode, 0);
  const all = json(await mtls(["list", "--json"], { cwd: dir })).result.certificates;
  assert.equal(all.length, 2);
  const byPartner = Object.fromEntries(all.map((c: { partnerId: string }) => [c.partnerId, c]));
  assert.equal(byPartner.alpha.status, "valid");
  assert.ok(byPartner.alpha.daysLeft >= 89 && byPartner.alpha.daysLeft <= 90);
  assert.equal(byPartner.beta.status, "expiring");
  assert.ok(byPartner.beta.daysLeft >= 4 && byPartner.beta.daysLeft <= 5);
  const expiring = json(await mtls(["list", "--expiring-within", "30d", "--json"], { cwd: dir })).result.certificates;
  assert.deepEqual(
    expiring.map((c: { partnerId: string }) => c.partnerId),
    ["beta"],
  );
  const wide = json(await mtls(["list", "--expiring-within", "100d", "--json"], { cwd: dir })).result.certificates;
  assert.equal(wide.length, 2);
  assert.equal(json(await mtls(["list", "--partner", "alpha", "--json"], { cwd: dir })).result.certificates.length, 1);
  assert.equal(json(await mtls(["list", "--status", "valid", "--json"], { cwd: dir })).result.certificates.length, 1);
  const table = await mtls(["list"], { cwd: dir });
  assert.match(table.stdout, /^SERIAL\s+PARTNER\s+SUBJECT\s+NOT AFTER\s+DAYS\s+STATUS$/m);
  assert.match(table.stdout, /beta\s+O=Partner, CN=b\.partner\.example\s+\d{4}-\d\d-\d\d\s+[45]\s+expiring/);
});
