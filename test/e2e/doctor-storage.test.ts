// #15: doctor's two kinds of checks. The records are read and repaired through the storage
// interface (an orphan is moved aside in the transaction, its original dropped only once the
// copy holds the same bytes); the directory storage's own repair acts only on what it can
// re-judge as its own, whatever problems it is handed.
import assert from "node:assert/strict";
import { copyFile, mkdir, readdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { DirectoryStorage } from "../../src/core/store/directory.js";
import { storageHealthOf } from "../../src/core/store/health.js";
import { initTempCa, json, mtls } from "../helpers/run.js";

const checksOf = async (dir: string) => {
  const r = await mtls(["doctor", "--json"], { cwd: dir });
  return { exitCode: r.exitCode, problems: json(r).result.problems as Array<{ check: string; message: string; key?: string; path?: string }> };
};

test("an unrecorded certificate is moved aside through the transaction, and a move a crash cut short is finished", async (t) => {
  const dir = await initTempCa(t, ["--insecure-no-passphrase"]);
  const issued = json(await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key", "--json"], { cwd: dir })).result;
  // The state a crash before the index append leaves: the certificate without its index line.
  const indexPath = join(dir, "pki/index.jsonl");
  const lines = (await readFile(indexPath, "utf8")).split("\n").filter((l) => l && !l.includes(issued.serial));
  await writeFile(indexPath, lines.map((l) => `${l}\n`).join(""));
  const sick = await checksOf(dir);
  const orphan = sick.problems.find((p) => p.check === "orphans");
  assert.ok(orphan, JSON.stringify(sick.problems));
  assert.equal(orphan.key, `certs/${issued.serial}.pem`, "problems name the blob by its key");
  assert.equal(orphan.path, join(dir, "pki", "certs", `${issued.serial}.pem`), "and show where the storage keeps it");

  const original = await readFile(join(dir, "pki/certs", `${issued.serial}.pem`));
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 0);
  assert.deepEqual(await readFile(join(dir, "pki/certs/orphans", `${issued.serial}.pem`)), original);
  assert.ok(!(await readdir(join(dir, "pki/certs"))).includes(`${issued.serial}.pem`));
  assert.equal((await stat(join(dir, "pki/certs/orphans", `${issued.serial}.pem`))).mode & 0o777, 0o644);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);

  // A crash after the commit, before the original was dropped: both files, the same bytes.
  await copyFile(join(dir, "pki/certs/orphans", `${issued.serial}.pem`), join(dir, "pki/certs", `${issued.serial}.pem`));
  const cut = await checksOf(dir);
  assert.deepEqual(
    cut.problems.map((p) => [p.check, p.message]),
    [["orphans", `certs/${issued.serial}.pem was moved to certs/orphans/ but is still here`]],
  );
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 0);
  assert.ok(!(await readdir(join(dir, "pki/certs"))).includes(`${issued.serial}.pem`));
  assert.deepEqual(await readFile(join(dir, "pki/certs/orphans", `${issued.serial}.pem`)), original);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("the directory storage's repair removes only its own temporaries, whatever problems it is handed", async (t) => {
  const dir = await initTempCa(t, ["--insecure-no-passphrase"]);
  const pki = join(dir, "pki");
  const storage = new DirectoryStorage(pki);
  const health = storageHealthOf(storage);
  assert.ok(health);
  const ours = join(pki, ".index.jsonl.tmp-999999-0badc0de");
  await writeFile(ours, "half");
  await writeFile(join(pki, "notes.txt"), "mine");
  const found = await health.health({});
  assert.deepEqual(
    found.filter((p) => p.check === "leftovers").map((p) => p.path),
    [ours],
  );
  // Problems that are not what the storage reported: a store file, a file of the user's, a path outside the store.
  const forged = [join(pki, "config.json"), join(pki, "notes.txt"), join(dir, "acme.key")].map((path) => ({
    check: "leftovers" as const,
    message: "forged",
    hint: "",
    fixable: true,
    path,
  }));
  await writeFile(join(dir, "acme.key"), "not a store file");
  await health.repair([...forged, ...found]);
  for (const p of forged) await stat(p.path as string);
  await assert.rejects(stat(ours));
  // Moving aside drops the original only while the copy is byte for byte the same.
  await writeFile(join(pki, "certs/a.pem"), "one");
  await writeFile(join(pki, "certs/b.pem"), "two");
  await health.discardMoved("certs/a.pem", "certs/b.pem");
  assert.equal(await readFile(join(pki, "certs/a.pem"), "utf8"), "one");
});

test("a pack entry that is not the certificate it names is reported and left alone; a torn lock file is no internal error", async (t) => {
  const dir = await initTempCa(t, ["--insecure-no-passphrase"]);
  const pki = join(dir, "pki");
  const crlBefore = await readFile(join(pki, "revocations.jsonl"), "utf8").catch(() => "");
  await mkdir(join(pki, "certs/packs"), { recursive: true });
  // A name far longer than any serial, and a short one whose data is no certificate.
  const long = "ab".repeat(150);
  await writeFile(
    join(pki, "certs/packs/0badc0de.pack"),
    `${JSON.stringify({ key: `certs/${long}.pem`, data: "x" })}\n${JSON.stringify({ key: "certs/0badc0de.pem", data: "not a certificate" })}\n`,
  );
  // What a kill between writing a lock file and linking it leaves: an empty one, a minute old.
  const lockTemp = join(pki, ".lock.0123456789abcdef");
  await writeFile(lockTemp, "");
  const old = new Date(Date.now() - 5 * 60_000);
  await utimes(lockTemp, old, old);

  const sick = await checksOf(dir);
  assert.notEqual(sick.exitCode, 70);
  const packs = sick.problems.filter((p) => p.check === "packs").map((p) => p.message);
  assert.ok(
    packs.some((m) => m.includes(`certs/${long}.pem, which is not a certificate with that serial`)),
    JSON.stringify(packs),
  );
  assert.ok(
    packs.some((m) => m.includes("certs/0badc0de.pem, which is not a certificate with that serial")),
    JSON.stringify(packs),
  );
  assert.ok(!packs.some((m) => m.includes("was signed but never recorded")), "nothing made up is revoked");
  assert.ok(
    sick.problems.some((p) => p.check === "leftovers" && p.message.includes(".lock.0123456789abcdef")),
    JSON.stringify(sick.problems),
  );

  const fix = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.notEqual(fix.exitCode, 70, fix.stderr);
  assert.equal(await readFile(join(pki, "revocations.jsonl"), "utf8").catch(() => ""), crlBefore, "no revocation of a serial a pack merely names");
  await assert.rejects(stat(lockTemp), { code: "ENOENT" });
});

test("an index that lost the lines of several commands is not a crash: --fix revokes nothing, and the index's backup puts it right", async (t) => {
  const dir = await initTempCa(t, ["--insecure-no-passphrase"]);
  const pki = join(dir, "pki");
  for (const p of ["a", "b"]) assert.equal((await mtls(["partner", "issue", p, "--generate", "--out-key", `${p}.key`, "--json"], { cwd: dir })).exitCode, 0);
  await writeFile(join(dir, "fleet.jsonl"), ["c", "d", "e"].map((p) => JSON.stringify({ partner: p, generate: true })).join("\n"));
  const batch = await mtls(["partner", "issue", "--batch", "fleet.jsonl", "--keys-out", "keys.jsonl", "--json"], { cwd: dir });
  assert.equal(batch.exitCode, 0, batch.stdout + batch.stderr);
  const indexPath = join(pki, "index.jsonl");
  const backup = await readFile(indexPath);
  const revocations = await readFile(join(pki, "revocations.jsonl"), "utf8");
  const certs = (await readdir(join(pki, "certs"))).sort();
  // Emptied: five certificates of three commands unnamed. Cut after its first line (a's): four of two.
  for (const [kept, count, commands] of [
    ["", 5, 3],
    [`${backup.toString("utf8").split("\n")[0]}\n`, 4, 2],
  ] as const) {
    await writeFile(indexPath, kept);
    const sick = await checksOf(dir);
    const lost = sick.problems.filter((p) => p.check === "orphans" || p.check === "packs");
    assert.equal(lost.length, count, JSON.stringify(sick.problems));
    for (const p of lost)
      assert.match(
        p.message,
        new RegExp(`has no index line, nor do ${count - 1} more: ${commands} commands issued them, .* index\\.jsonl has probably lost their lines`),
      );
    const fix = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
    assert.equal(fix.exitCode, 1, fix.stdout);
    assert.equal(await readFile(join(pki, "revocations.jsonl"), "utf8"), revocations, "nothing is revoked");
    assert.deepEqual((await readdir(join(pki, "certs"))).sort(), certs, "nothing is moved aside");
  }
  await writeFile(indexPath, backup);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("unrecorded certificates: one rotation's crash is revoked; several failed commands only with --revoke-unrecorded; an index and audit log put back together are told by notBefore", async (t) => {
  const dir = await initTempCa(t, ["--insecure-no-passphrase"]);
  const pki = join(dir, "pki");
  const indexPath = join(pki, "index.jsonl");
  const issue = async (p: string, env: Record<string, string> = {}) => {
    const r = await mtls(["partner", "issue", p, "--generate", "--out-key", `${p}.key`, "--force", "--json"], { cwd: dir, env });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    return json(r).result.serial as string;
  };
  /** The state a crash before the index append leaves: the certificate without its line. */
  const unrecord = async (serial: string) =>
    writeFile(
      indexPath,
      (await readFile(indexPath, "utf8"))
        .split("\n")
        .filter((l) => l && !l.includes(`"serial":"${serial}"`))
        .map((l) => `${l}\n`)
        .join(""),
    );
  const orphans = async () => (await checksOf(dir)).problems.filter((p) => p.check === "orphans");
  const revokedCount = async () => (await readFile(join(pki, "revocations.jsonl"), "utf8")).trim().split("\n").length;

  // A rotation audits its one certificate twice (issue and rotate): still one command.
  await issue("a");
  const rotate = await mtls(["partner", "rotate", "a", "--generate", "--out-key", "a2.key", "--json"], { cwd: dir });
  assert.equal(rotate.exitCode, 0, rotate.stdout + rotate.stderr);
  await unrecord(json(rotate).result.newSerial);
  assert.match((await orphans())[0]?.message ?? "", /was signed but never recorded/);
  const before = await revokedCount();
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 0);
  assert.equal(await revokedCount(), before + 1);

  // Two failed commands with a good one between, and no doctor run: taken for lost lines until told.
  const x = await issue("x");
  await issue("y");
  const z = await issue("z");
  await unrecord(x);
  await unrecord(z);
  assert.ok(
    (await orphans()).every((p) => /2 commands issued them/.test(p.message)),
    JSON.stringify(await orphans()),
  );
  assert.equal((await mtls(["doctor", "--revoke-unrecorded"], { cwd: dir })).exitCode, 2, "only with --fix");
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 1);
  const fixed = await mtls(["doctor", "--fix", "--revoke-unrecorded", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  assert.equal(await revokedCount(), before + 3);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);

  // The index and the audit log put back together from a copy older than two issues, a minute
  // apart: no audit record names them, their notBefore tells two commands apart.
  const copies = await Promise.all(["index.jsonl", "audit.log"].map((f) => readFile(join(pki, f))));
  const at = (minutes: number) => ({ MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: new Date(Date.now() + minutes * 60_000).toISOString() });
  await issue("p", at(1));
  await issue("q", at(2));
  await writeFile(indexPath, copies[0] as Buffer);
  await writeFile(join(pki, "audit.log"), copies[1] as Buffer);
  const lost = await orphans();
  assert.equal(lost.length, 2, JSON.stringify(lost));
  assert.ok(
    lost.every((p) => /2 commands issued them/.test(p.message)),
    JSON.stringify(lost),
  );
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 1);
  assert.equal(await revokedCount(), before + 3, "nothing revoked");
});
