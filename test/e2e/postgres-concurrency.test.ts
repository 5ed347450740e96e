// #16: several processes at once against one database store. The database's lock and
// constraints keep serials unique, every revocation on the next CRL and CRL numbers growing.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { drippingWebhook } from "../helpers/drip.js";
import { fileCluster, pgSkipReason } from "../helpers/postgres.js";
import { json, mtls, openssl, tempDir } from "../helpers/run.js";

const skip = pgSkipReason();
const pg = fileCluster();

test("#16 4 processes issuing 250 certificates each at once → 1,000 distinct serials; 20 concurrent revokes → all on the next CRL, CRL numbers strictly increasing", {
  skip,
}, async (t) => {
  const dir = await tempDir(t);
  const c = await pg();
  const s = await c.newStore("busy");
  const env = { PGPASSWORD: s.password };
  const store = ["--store", s.url];
  assert.equal((await mtls(["ca", "init", "--name", "Busy", ...store], { cwd: dir, env })).exitCode, 0);
  await makeCsr(dir, "shared");
  for (let p = 0; p < 4; p++) {
    const lines = Array.from({ length: 250 }, (_, i) => JSON.stringify({ partner: `w${p}-${i}`, csr: "shared.csr", cn: `w${p}-${i}` }));
    await writeFile(join(dir, `batch-${p}.jsonl`), `${lines.join("\n")}\n`);
  }
  let t0 = Date.now();
  const runs = await Promise.all(
    [0, 1, 2, 3].map((p) =>
      mtls(["partner", "issue", "--batch", `batch-${p}.jsonl`, "--all-or-nothing", ...store, "--json"], { cwd: dir, env, timeoutMs: 300_000 }),
    ),
  );
  for (const r of runs) assert.equal(r.exitCode, 0, r.stdout.slice(0, 2000) + r.stderr);
  const serials = runs.flatMap((r) => json(r).result.results.map((x: { serial: string }) => x.serial));
  assert.equal(serials.length, 1000);
  assert.equal(new Set(serials).size, 1000);
  const [rows] = await c.sql("SELECT count(*)::int AS n FROM mtls.certificates", [], s.db);
  assert.equal(rows?.n, 1000);
  const [lines] = await c.sql("SELECT count(*)::int AS n FROM mtls.journal_lines WHERE journal = 'index.jsonl'", [], s.db);
  assert.equal(lines?.n, 1000);
  const list = await mtls(["list", ...store, "--json"], { env });
  assert.equal(json(list).result.certificates.length, 1000);

  t.diagnostic(`1,000 certificates by 4 processes: ${Date.now() - t0} ms`);
  t0 = Date.now();
  const victims = serials.slice(0, 20);
  const revokes = await Promise.all(victims.map((serial) => mtls(["revoke", serial, "--yes", ...store, "--json"], { env, timeoutMs: 300_000 })));
  for (const r of revokes) assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  t.diagnostic(`20 concurrent revocations: ${Date.now() - t0} ms`);
  const published = await mtls(["crl", "publish", "--out", join(dir, "after.crl.pem"), ...store, "--json"], { env });
  assert.equal(published.exitCode, 0, published.stderr);
  const text = (await openssl(["crl", "-in", join(dir, "after.crl.pem"), "-noout", "-text"])).stdout.replace(/:/g, "").toLowerCase();
  for (const serial of victims) assert.ok(text.includes(`serial number ${serial.replace(/^0+/, "")}`), `${serial} is not on the CRL`);
  // Every publication got a new number: ca init, 20 revocations, one publish; none reused or lower.
  const numbers = await c.sql("SELECT number::int AS n FROM mtls.crl_numbers WHERE issuer = 'intermediate' ORDER BY number", [], s.db);
  assert.deepEqual(
    numbers.map((r) => r.n),
    Array.from({ length: 22 }, (_, i) => i + 1),
  );
  const verify = await mtls(["audit", "verify", ...store, "--json"], { env });
  assert.equal(verify.exitCode, 0, verify.stdout);
  // ca.init, 1,000 cert.issue, 20 × (cert.revoke + crl.publish), crl.publish
  assert.equal(json(verify).result.records, 1 + 1000 + 40 + 1);
  // The database refuses a CRL number that does not grow, whoever writes it.
  await assert.rejects(c.sql("INSERT INTO mtls.crl_numbers (issuer, number) VALUES ('intermediate', 5)", [], s.db), /does not exceed/);
  // And a second certificate under a serial in use.
  await assert.rejects(
    c.sql(
      "INSERT INTO mtls.certificates (serial, fingerprint, partner_id, issuer, not_after, status) VALUES ($1, 'x', 'p', 'intermediate', now(), 'valid')",
      [victims[0]],
      s.db,
    ),
    /duplicate key/,
  );
});

test("notify on a database store delivers under a lock of its own: a revoke commits while a webhook stalls, and a second notify waits its turn", {
  skip,
}, async (t) => {
  const dir = await tempDir(t);
  const c = await pg();
  const s = await c.newStore("notify");
  const env = { PGPASSWORD: s.password, MTLS_WEBHOOK_SECRET: "whsec-pg" };
  const store = ["--store", s.url];
  assert.equal((await mtls(["ca", "init", "--name", "Notify", ...store], { cwd: dir, env })).exitCode, 0);
  const serials: string[] = [];
  for (const [id, days] of [
    ["due", "20"],
    ["other", "200"],
  ] as const) {
    assert.equal((await mtls(["partner", "add", id, ...store], { cwd: dir, env })).exitCode, 0);
    const { csr } = await makeCsr(dir, id, { subj: `/O=Partner/CN=${id}-client` });
    const r = await mtls(["partner", "issue", id, "--csr", csr, "--days", days, ...store, "--json"], { cwd: dir, env });
    assert.equal(r.exitCode, 0, r.stderr);
    serials.push(json(r).result.serial);
  }
  // The first delivery gets a status line and then a byte every 2 s until notify gives up; later ones an answer at once.
  const { url, delivering, requests } = await drippingWebhook(t);
  const notify = () => mtls(["notify", "--webhook", url, "--partner", "due", ...store, "--json"], { cwd: dir, env, timeoutMs: 150_000 });
  const first = notify();
  await delivering;
  const second = notify();
  const revoke = await mtls(["revoke", serials[1] as string, "--yes", ...store, "--json"], { env, timeoutMs: 150_000 });
  assert.equal(revoke.exitCode, 0, revoke.stdout + revoke.stderr);
  const r1 = await first;
  assert.equal(r1.exitCode, 5, r1.stdout + r1.stderr);
  assert.match(json(r1).error?.message ?? "", /no complete answer within 30 s/);
  assert.equal((await second).exitCode, 0);
  assert.deepEqual(requests, [false, true], "the second run sent only after the first gave up");
  const sent = await c.sql("SELECT count(*)::int AS n FROM mtls.journal_lines WHERE journal = 'audit.log' AND text LIKE '%\"notify.sent\"%'", [], s.db);
  assert.equal(sent[0]?.n, 1);
});
