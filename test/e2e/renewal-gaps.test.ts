// Where a partner could lose its last working certificate, or its older one could expire unannounced:
// a successor shorter than the overlap, a rotation whose successor expired or was revoked (which
// the daily `--finish` must leave alone), a second `partner issue` beside a valid certificate (a
// warning), and a reminder window sent twice after the thresholds changed. The CLI's clock is moved
// (MTLS_TEST_NOW under MTLS_TEST_HOOKS=1); notices go to a real webhook receiver that checks the
// HMAC, and openssl checks the certificates against the published CRL.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { json, mtls, opensslVerifyWithCrl, snapshot, tempDir } from "../helpers/run.js";

const DAY = 86_400_000;
const start = Date.now();
const clock = (days: number) => ({ MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: new Date(start + days * DAY).toISOString() });
const SECRET = "whsec-renewal-gaps-0123456789";

async function ca(t: TestContext): Promise<string> {
  const dir = await tempDir(t, "mtls-gaps-");
  assert.equal((await mtls(["ca", "init", "--name", "Gaps", "--insecure-no-passphrase"], { cwd: dir, env: clock(0) })).exitCode, 0);
  return dir;
}

/** `partner issue <id> --generate` at day `day`; the certificate (with its chain) in <dir>/<out>.pem. */
async function issue(dir: string, id: string, day: number, days: number, out: string) {
  const r = await mtls(["partner", "issue", id, "--generate", "--out-key", `${out}.key`, "--out", `${out}.pem`, "--days", String(days), "--json"], {
    cwd: dir,
    env: clock(day),
  });
  assert.equal(r.exitCode, 0, r.stderr);
  return { ...json(r).result, warnings: json(r).warnings, stderr: r.stderr } as { serial: string; notAfter: string; warnings: string[]; stderr: string };
}

/** A webhook receiver on loopback that checks the signature and keeps each delivery's notice key. */
async function receiver(t: TestContext): Promise<{ url: string; keys: string[] }> {
  const keys: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const want = Buffer.from(`sha256=${createHmac("sha256", SECRET).update(`${req.headers["x-mtls-timestamp"]}.${body}`).digest("hex")}`);
      const got = Buffer.from(String(req.headers["x-mtls-signature"]));
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        res.statusCode = 401;
        return res.end("bad signature");
      }
      keys.push(String(req.headers["x-mtls-delivery"]));
      res.end("ok");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, keys };
}

const notify = (dir: string, url: string, day: number) =>
  mtls(["notify", "--webhook", url, "--json"], { cwd: dir, env: { ...clock(day), MTLS_WEBHOOK_SECRET: SECRET } });

const partnerOf = (r: Awaited<ReturnType<typeof mtls>>, id: string) => json(r).result.partners.find((p: { partnerId: string }) => p.partnerId === id);

test("rotate refuses a successor that expires before the overlap ends (exit 3, both dates, the --days that fits; store unchanged)", async (t) => {
  const dir = await ca(t);
  await issue(dir, "p2", 0, 90, "old");
  const store = await snapshot(join(dir, "pki"));
  const short = await mtls(["partner", "rotate", "p2", "--generate", "--out-key", "new.key", "--days", "5", "--json"], { cwd: dir, env: clock(60) });
  assert.equal(short.exitCode, 3, short.stdout);
  const err = json(short).error;
  assert.equal(err?.code, "ERR_ROTATE_SHORT_SUCCESSOR");
  const iso = (d: number) => new Date(start + d * DAY).toISOString().slice(0, 19);
  // The successor would end on day 65; the overlap (14 days) on day 74.
  assert.ok(err?.message.includes(iso(65)) && err.message.includes(iso(74)), err?.message);
  assert.match(err?.hint ?? "", /--days 15 or more/);
  assert.match(short.stderr, /before the overlap ends/);
  assert.equal(existsSync(join(dir, "new.key")), false);
  assert.deepEqual(await snapshot(join(dir, "pki")), store, "a refused rotation leaves the store as it was");

  const fits = await mtls(["partner", "rotate", "p2", "--generate", "--out-key", "new.key", "--days", "15", "--json"], { cwd: dir, env: clock(60) });
  assert.equal(fits.exitCode, 0, fits.stderr);
  assert.ok(Date.parse(json(fits).result.newNotAfter) > Date.parse(json(fits).result.overlapUntil));
});

test("a rotation whose successor expired or was revoked is not finished: --finish keeps the old certificate valid (CRL unchanged), status calls the partner due, notify tells it", async (t) => {
  const dir = await ca(t);
  const hook = await receiver(t);
  assert.equal((await mtls(["partner", "add", "p2", "--contact", "ops@p2.example"], { cwd: dir })).exitCode, 0);
  const old = await issue(dir, "p2", 0, 90, "old");
  // A successor that outlives the overlap, but nobody ran --finish before it expired.
  const rot = await mtls(["partner", "rotate", "p2", "--generate", "--out-key", "s1.key", "--days", "5", "--overlap", "2d", "--json"], {
    cwd: dir,
    env: clock(30),
  });
  assert.equal(rot.exitCode, 0, rot.stderr);
  const s1 = json(rot).result.newSerial as string;

  const status = await mtls(["status", "--json"], { cwd: dir, env: clock(36) });
  assert.equal(status.exitCode, 1, status.stdout);
  const p2 = partnerOf(status, "p2");
  assert.equal(p2.state, "due");
  assert.equal(p2.newestSerial, old.serial);
  assert.deepEqual(p2.stalled, { superseded: old.serial, supersededNotAfter: old.notAfter, successor: s1, successorStatus: "expired" });
  const human = await mtls(["status"], { cwd: dir, env: clock(36) });
  assert.match(human.stdout, new RegExp(`p2: the rotation of certificate ${old.serial} did not finish: its successor ${s1} expired`));

  const store = await snapshot(join(dir, "pki"));
  const finish = await mtls(["partner", "rotate", "--finish", "--json"], { cwd: dir, env: clock(36) });
  assert.equal(finish.exitCode, 0, finish.stderr);
  assert.deepEqual(json(finish).result.finished, []);
  assert.deepEqual(
    json(finish).result.pending.map((p: { serial: string; successor: string; reason: string }) => [p.serial, p.successor, p.reason]),
    [[old.serial, s1, "successor-expired"]],
  );
  assert.deepEqual(await snapshot(join(dir, "pki")), store, "nothing revoked, no CRL published");
  const text = await mtls(["partner", "rotate", "--finish"], { cwd: dir, env: clock(36) });
  assert.match(text.stdout, new RegExp(`p2: not finished: successor ${s1} expired, so ${old.serial} stays valid`));
  const verify = await opensslVerifyWithCrl(join(dir, "pki"), join(dir, "old.pem"));
  assert.equal(verify.exitCode, 0, verify.stdout + verify.stderr);

  const sent = await notify(dir, hook.url, 36);
  assert.equal(sent.exitCode, 0, sent.stderr);
  assert.deepEqual(hook.keys, [`rotation-stalled:${s1}`]);
  assert.equal((await notify(dir, hook.url, 37)).exitCode, 0);
  assert.deepEqual(hook.keys, [`rotation-stalled:${s1}`], "once");

  // Rotated again, and that successor revoked (say its key leaked): again nothing to finish.
  const again = await mtls(["partner", "rotate", "p2", "--generate", "--out-key", "s2.key", "--json"], { cwd: dir, env: clock(37) });
  assert.equal(again.exitCode, 0, again.stderr);
  const s2 = json(again).result.newSerial as string;
  assert.equal(partnerOf(await mtls(["status", "--json"], { cwd: dir, env: clock(37) }), "p2").state, "rotating");
  assert.equal((await mtls(["revoke", s2, "--reason", "keyCompromise", "--yes"], { cwd: dir, env: clock(38) })).exitCode, 0);
  const late = await mtls(["partner", "rotate", "--finish", "--json"], { cwd: dir, env: clock(60) });
  assert.deepEqual(json(late).result.finished, []);
  assert.deepEqual(
    json(late).result.pending.map((p: { successor: string; reason: string }) => [p.successor, p.reason]),
    [[s2, "successor-revoked"]],
  );
  assert.equal(partnerOf(await mtls(["status", "--json"], { cwd: dir, env: clock(60) }), "p2").stalled.successorStatus, "revoked");
  const show = json(await mtls(["partner", "show", "p2", "--json"], { cwd: dir, env: clock(60) })).result;
  assert.equal(show.certificates.find((c: { serial: string }) => c.serial === old.serial).status, "expiring", "not revoked");
});

test("partner issue beside a valid certificate warns and points to rotate; the partner is judged by its newest", async (t) => {
  const dir = await ca(t);
  const hook = await receiver(t);
  assert.equal((await mtls(["partner", "add", "p3", "--contact", "ops@p3.example"], { cwd: dir })).exitCode, 0);
  // An expired first certificate, so that the one that matters is not simply the partner's first.
  await issue(dir, "p3", 0, 1, "z");
  const first = await issue(dir, "p3", 2, 40, "a");
  assert.deepEqual(first.warnings, []);
  const second = await issue(dir, "p3", 6, 200, "b");
  assert.equal(second.warnings.length, 1);
  assert.match(second.warnings[0] as string, new RegExp(`partner p3 already holds a valid certificate, ${first.serial} \\(until ${first.notAfter}\\)`));
  assert.match(second.warnings[0] as string, /mtls partner rotate p3/);
  assert.match(second.stderr, new RegExp(`warning: partner p3 already holds a valid certificate, ${first.serial}`));

  // Renewing by issuing again is not flagged for the older certificate: the newest stands for the partner.
  const status = await mtls(["status", "--json"], { cwd: dir, env: clock(32) });
  const p3 = partnerOf(status, "p3");
  assert.deepEqual([p3.state, p3.newestSerial], ["ok", second.serial]);
  assert.deepEqual(
    json(status).result.problems.filter((p: { partnerId?: string }) => p.partnerId === "p3"),
    [],
  );
  assert.equal((await notify(dir, hook.url, 177)).exitCode, 0);
  assert.deepEqual(hook.keys, [`reminder:${second.serial}:30`]);
});

test("changing the reminder thresholds does not send a window already reminded; a nearer threshold still reminds", async (t) => {
  const dir = await ca(t);
  const hook = await receiver(t);
  assert.equal((await mtls(["partner", "add", "p1", "--contact", "ops@p1.example"], { cwd: dir })).exitCode, 0);
  const cert = await issue(dir, "p1", 0, 90, "p1");
  assert.equal((await notify(dir, hook.url, 76)).exitCode, 0);
  assert.deepEqual(hook.keys, [`reminder:${cert.serial}:14`]);
  assert.equal((await mtls(["ca", "policy", "set", "--notify-days", "30,15,7,1"], { cwd: dir, env: clock(76.25) })).exitCode, 0);
  const dry = await mtls(["notify", "--webhook", hook.url, "--dry-run", "--json"], { cwd: dir, env: { ...clock(76.5), MTLS_WEBHOOK_SECRET: SECRET } });
  assert.deepEqual(json(dry).result.notices, []);
  const later = await notify(dir, hook.url, 76.5);
  assert.equal(later.exitCode, 0, later.stderr);
  assert.deepEqual(json(later).result.notices, []);
  assert.equal(json(later).result.alreadySent, 1);
  assert.deepEqual(hook.keys, [`reminder:${cert.serial}:14`], "the 15-day window was reminded at 14 days");
  assert.equal((await notify(dir, hook.url, 83)).exitCode, 0);
  assert.deepEqual(hook.keys, [`reminder:${cert.serial}:14`, `reminder:${cert.serial}:7`]);
});
