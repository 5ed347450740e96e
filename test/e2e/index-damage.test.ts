// An index.jsonl that lost lines (cut short, emptied) is told apart from a crash before the index
// append by its summary, which remembers how much of the journal it covered and its hash: status
// reports the damage, doctor names it, and `doctor --fix` puts the lost records back instead of
// revoking certificates partners hold. A certificate no index the summary covered ever named is
// still a crash's, and still revoked.
import assert from "node:assert/strict";
import { readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { initTempCa, json, mtls, openssl } from "../helpers/run.js";

type Problem = { kind?: string; check: string; message: string; fixable?: boolean };

/** The serials on the intermediate's CRL in the store, as `openssl crl` reads them (lowercase, no leading zeros). */
async function crlSerials(pki: string): Promise<Set<string>> {
  const r = await openssl(["crl", "-in", join(pki, "crl/intermediate.crl.pem"), "-noout", "-text"]);
  assert.equal(r.exitCode, 0, r.stderr);
  return new Set([...r.stdout.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => norm(m[1] as string)));
}
const norm = (serial: string) => serial.toLowerCase().replace(/^0+/, "");

async function issue(dir: string, partner: string, keyFile = `${partner}.key`): Promise<string> {
  const r = await mtls(["partner", "issue", partner, "--generate", "--out-key", keyFile, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  return json(r).result.serial as string;
}

async function batch(dir: string, partners: string[]): Promise<string[]> {
  await writeFile(join(dir, "fleet.jsonl"), partners.map((p) => JSON.stringify({ partner: p, generate: true })).join("\n"));
  const r = await mtls(["partner", "issue", "--batch", "fleet.jsonl", "--keys-out", `keys-${partners[0]}.jsonl`, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  return (json(r).result.results as Array<{ serial: string }>).map((x) => x.serial);
}

const statusOf = async (dir: string) => {
  const r = await mtls(["status", "--json"], { cwd: dir });
  return { exitCode: r.exitCode, problems: json(r).result.problems as Problem[] };
};
const doctorOf = async (dir: string, args: string[] = []) => {
  const r = await mtls(["doctor", ...args, "--json"], { cwd: dir });
  return { exitCode: r.exitCode, problems: json(r).result.problems as Problem[] };
};
const listed = async (dir: string) =>
  new Map(
    (json(await mtls(["list", "--json"], { cwd: dir })).result.certificates as Array<{ serial: string; status: string }>).map((c) => [c.serial, c.status]),
  );

/** A store with two single issues for one partner (the first revoked) and a batch of three, every line summarised by `list`. */
async function storeWithBatch(t: test.TestContext) {
  const dir = await initTempCa(t, ["--insecure-no-passphrase"]);
  const pki = join(dir, "pki");
  const b = await issue(dir, "a");
  const a = await issue(dir, "a", "a2.key");
  assert.equal((await mtls(["revoke", b, "--yes", "--reason", "keyCompromise"], { cwd: dir })).exitCode, 0);
  // Summarised here; the batch's lines are appended after: no damage.
  assert.deepEqual((await statusOf(dir)).problems, []);
  const fleet = await batch(dir, ["c", "d", "e"]);
  assert.equal((await mtls(["list"], { cwd: dir })).exitCode, 0);
  assert.deepEqual((await statusOf(dir)).problems, []);
  const index = join(pki, "index.jsonl");
  return { dir, pki, index, a, b, fleet, full: await readFile(index, "utf8") };
}

/** After --fix: nothing new revoked (openssl reads the CRL), every record back with its status, doctor and status clean. */
async function assertRestored(s: Awaited<ReturnType<typeof storeWithBatch>>, revocationsBefore: string) {
  assert.equal(await readFile(join(s.pki, "revocations.jsonl"), "utf8"), revocationsBefore, "nothing is revoked");
  const crl = await crlSerials(s.pki);
  for (const serial of [s.a, ...s.fleet]) assert.ok(!crl.has(norm(serial)), `${serial} is on the CRL`);
  assert.ok(crl.has(norm(s.b)), "the revoked certificate stays on the CRL");
  const list = await listed(s.dir);
  assert.deepEqual(
    [s.b, s.a, ...s.fleet].map((x) => list.get(x)),
    ["revoked", "valid", "valid", "valid", "valid"],
  );
  // The records come back as the journal had them (the last line per serial).
  const lastLines = (text: string) =>
    new Map(
      text
        .split("\n")
        .filter(Boolean)
        .map((l) => [JSON.parse(l).serial as string, l]),
    );
  const now = lastLines(await readFile(s.index, "utf8"));
  for (const [serial, line] of lastLines(s.full)) assert.equal(now.get(serial), line, serial);
  assert.equal((await doctorOf(s.dir)).exitCode, 0);
  assert.deepEqual((await statusOf(s.dir)).problems, []);
}

test("an index cut short after a batch is damage: status says so, doctor names it, --fix restores the records and revokes nothing", async (t) => {
  const s = await storeWithBatch(t);
  const lines = s.full.split("\n").filter(Boolean);
  // The batch's last two lines lost (the batch is one append: a crash never leaves part of it).
  const kept = `${lines.slice(0, -2).join("\n")}\n`;
  await writeFile(s.index, kept);
  const lostBytes = Buffer.byteLength(s.full) - Buffer.byteLength(kept);

  const status = await statusOf(s.dir);
  assert.equal(status.exitCode, 1);
  const damaged = status.problems.filter((p) => p.kind === "index-damaged");
  assert.equal(damaged.length, 1, JSON.stringify(status.problems));
  assert.match(damaged[0]?.message ?? "", /index\.jsonl has lost the records of 2 certificate\(s\)/);

  const doctor = await doctorOf(s.dir);
  assert.equal(doctor.exitCode, 1);
  assert.deepEqual(
    doctor.problems.map((p) => p.check),
    ["index"],
    JSON.stringify(doctor.problems),
  );
  assert.match(
    doctor.problems[0]?.message ?? "",
    new RegExp(`pki/index\\.jsonl has lost the records of 2 certificate\\(s\\) .*\\(it is ${Buffer.byteLength(kept)} bytes, ${lostBytes} fewer .*not revoked`),
  );
  const revocations = await readFile(join(s.pki, "revocations.jsonl"), "utf8");
  const fix = await doctorOf(s.dir, ["--fix"]);
  assert.equal(fix.exitCode, 0, JSON.stringify(fix.problems));
  await assertRestored(s, revocations);
});

test("an emptied index, and one cut then written to again: status and doctor report the damage, --fix puts every record back", async (t) => {
  const s = await storeWithBatch(t);
  const revocations = await readFile(join(s.pki, "revocations.jsonl"), "utf8");
  await truncate(s.index, 0);
  const status = await statusOf(s.dir);
  assert.equal(status.exitCode, 1);
  assert.match(
    status.problems.find((p) => p.kind === "index-damaged")?.message ?? "",
    /lost the records of 5 certificate\(s\) \(0 bytes, where its summary covered/,
  );
  assert.equal((await mtls(["doctor"], { cwd: s.dir })).exitCode, 1);
  assert.equal((await doctorOf(s.dir, ["--fix"])).exitCode, 0);
  await assertRestored(s, revocations);

  // Its last line cut, then two issues append to what is left: the journal is longer than the
  // summary covered, but those bytes no longer hash the same. The new certificates are recorded;
  // the lost one comes back.
  const full = await readFile(s.index, "utf8");
  await writeFile(s.index, `${full.split("\n").filter(Boolean).slice(0, -1).join("\n")}\n`);
  const added = [await issue(s.dir, "f"), await issue(s.dir, "g")];
  const again = await statusOf(s.dir);
  assert.match(again.problems.find((p) => p.kind === "index-damaged")?.message ?? "", /lost the records of 1 certificate\(s\) \(its first \d+ bytes changed/);
  const fix = await doctorOf(s.dir, ["--fix"]);
  assert.equal(fix.exitCode, 0, JSON.stringify(fix.problems));
  const list = await listed(s.dir);
  for (const serial of added) assert.equal(list.get(serial), "valid");
  await assertRestored({ ...s, full }, revocations);
});

test("a certificate no summarised index ever named is still a crash's: revoked, while the lost records beside it come back", async (t) => {
  const s = await storeWithBatch(t);
  // Issued after the last read, so no summary covers its line; then the state a crash before its
  // index append leaves: the line never written.
  const x = await issue(s.dir, "x");
  const revocations = await readFile(join(s.pki, "revocations.jsonl"), "utf8");
  await writeFile(s.index, s.full);
  const status = await statusOf(s.dir);
  assert.ok(!status.problems.some((p) => p.kind === "index-damaged"), JSON.stringify(status.problems));
  const doctor = await doctorOf(s.dir);
  assert.deepEqual(
    doctor.problems.map((p) => [p.check, /was signed but never recorded/.test(p.message)]),
    [["orphans", true]],
  );
  assert.equal((await doctorOf(s.dir, ["--fix"])).exitCode, 0);
  assert.ok((await crlSerials(s.pki)).has(norm(x)), "the crash's certificate is revoked");

  // The same crash, and a batch's lines lost to damage since the last read: only the crash's is revoked.
  const revoked = await readFile(join(s.pki, "revocations.jsonl"), "utf8");
  assert.notEqual(revoked, revocations);
  const y = await issue(s.dir, "y");
  const full = await readFile(s.index, "utf8");
  assert.equal((await mtls(["list"], { cwd: s.dir })).exitCode, 0);
  const z = await issue(s.dir, "z");
  const cut = full.split("\n").filter(Boolean).slice(0, -1);
  await writeFile(s.index, `${cut.join("\n")}\n`);
  const mixed = await doctorOf(s.dir);
  assert.deepEqual(
    mixed.problems.map((p) => p.check),
    ["index", "orphans"],
    JSON.stringify(mixed.problems),
  );
  assert.equal((await doctorOf(s.dir, ["--fix"])).exitCode, 0);
  const crl = await crlSerials(s.pki);
  assert.ok(crl.has(norm(z)), "the crash's certificate is revoked");
  assert.ok(!crl.has(norm(y)), "the lost record's certificate is not");
  assert.equal((await listed(s.dir)).get(y), "valid");
  assert.equal((await mtls(["doctor"], { cwd: s.dir })).exitCode, 0);
});

test("a summary of an earlier format, or none, is no evidence: a cut index is left to the crash rules as before", async (t) => {
  const s = await storeWithBatch(t);
  const summary = `${s.index}.summary`;
  const bytes = await readFile(summary);
  const trailer = bytes.subarray(bytes.length - 512).toString("latin1");
  const format = /^mtls-index-summary (\d+)/.exec(trailer)?.[1] as string;
  await writeFile(
    summary,
    Buffer.concat([
      bytes.subarray(0, bytes.length - 512),
      Buffer.from(trailer.replace(`mtls-index-summary ${format}`, `mtls-index-summary ${Number(format) - 1}`), "latin1"),
    ]),
  );
  await writeFile(s.index, `${s.full.split("\n").filter(Boolean).slice(0, -3).join("\n")}\n`);
  const status = await statusOf(s.dir);
  assert.ok(!status.problems.some((p) => p.kind === "index-damaged"), JSON.stringify(status.problems));
  const doctor = await doctorOf(s.dir);
  assert.ok(!doctor.problems.some((p) => p.check === "index"), JSON.stringify(doctor.problems));
  assert.ok(
    doctor.problems.some((p) => p.check === "packs"),
    JSON.stringify(doctor.problems),
  );
});
