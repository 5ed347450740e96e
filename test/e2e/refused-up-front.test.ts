// Flag values and combinations a command cannot honour are refused before it does anything, with
// the exit code its help names and one line naming the value: not an internal error from deep
// inside (pgp init --email, demo --dir), nor a silent no-op (--out-key with --csr, audit --since).
import assert from "node:assert/strict";
import { access, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls, snapshot, tempDir } from "../helpers/run.js";

test("pgp init --email that is no address: exit 3 naming it, the store unchanged", async (t) => {
  const dir = await initTempCa(t);
  const before = await snapshot(join(dir, "pki"));
  for (const email of ["bob", "bob@", "a b@example.com"]) {
    const r = await mtls(["pgp", "init", "--email", email, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${email}: ${r.stdout}${r.stderr}`);
    const doc = json(r);
    assert.equal(doc.error?.code, "ERR_ADDRESS");
    assert.match(doc.error?.message ?? "", new RegExp(`^invalid --email "${email}": `));
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("demo --dir naming a file, or a path through one: exit 4 naming the file, which stays as it was", async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, "a.txt");
  await writeFile(file, "keep\n");
  for (const target of [file, join(file, "demo")]) {
    const r = await mtls(["demo", "--dir", target, "--json"]);
    assert.equal(r.exitCode, 4, `${target}: ${r.stdout}${r.stderr}`);
    assert.equal(json(r).error?.message, `${file} exists and is not a directory`);
  }
  assert.equal(await readFile(file, "utf8"), "keep\n");
});

test("--out-key with --csr (partner issue, partner rotate): exit 2 before anything is written", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "acme", { subj: "/CN=acme-client" });
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", csr], { cwd: dir })).exitCode, 0);
  const { csr: next } = await makeCsr(dir, "acme-next", { subj: "/CN=acme-client" });
  const { csr: other } = await makeCsr(dir, "other", { subj: "/CN=other-client" });
  const before = await snapshot(join(dir, "pki"));
  const runs = [
    ["partner", "issue", "other", "--csr", other, "--out-key", "other-out.key"],
    ["partner", "rotate", "acme", "--csr", next, "--out-key", "acme-out.key"],
  ];
  for (const args of runs) {
    const r = await mtls([...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.equal(json(r).error?.message, "--out-key goes with --generate: a CSR's private key stays with the partner");
    await assert.rejects(access(join(dir, args.at(-1) as string)), `${args.at(-1)} is not written`);
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("audit --since: an unreadable date is exit 2 instead of matching nothing; ISO dates and durations still filter", async (t) => {
  const dir = await initTempCa(t);
  for (const since of ["yesterday", "2026-13-45", "2026-02-30", "March 5", "7x"]) {
    const r = await mtls(["audit", "--since", since, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 2, `${since}: ${r.stdout}${r.stderr}`);
    assert.equal(json(r).error?.message, `invalid --since "${since}": expected an ISO date or a duration back from now`);
  }
  for (const since of ["2000-01-01", "2000-01-01T00:00:00Z", "7d"]) {
    const r = await mtls(["audit", "--since", since, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, `${since}: ${r.stdout}${r.stderr}`);
    assert.ok(json(r).result.records.length > 0, since);
  }
  const future = await mtls(["audit", "--since", "2999-01-01", "--json"], { cwd: dir });
  assert.deepEqual(json(future).result.records, []);
});
