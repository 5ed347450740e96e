// Where there is no PKI, every command says so with exit 5. A --pki that names a file (or a path
// through one) is no PKI either, named as such and left as it was: lstat's throwIfNoEntry spares
// only ENOENT, and a path through a file fails with ENOTDIR, which once surfaced as exit 70.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { json, mtls, snapshot, tempDir } from "../helpers/run.js";

test("--pki naming a file: exit 5 naming it as no directory, in every command, the file untouched", async (t) => {
  const dir = await tempDir(t);
  const { csr } = await makeCsr(dir, "p");
  const file = join(dir, "notadir");
  await writeFile(file, "x\n");
  await writeFile(join(dir, "batch.jsonl"), `${JSON.stringify({ partner: "p", csr: "p.csr" })}\n`);
  const commands = [
    ["revoke", "00", "--yes"],
    ["list"],
    ["inspect", csr],
    ["partner", "issue", "p", "--csr", csr],
    ["partner", "issue", "--batch", "batch.jsonl"],
    ["partner", "export", "p", "--out", "p.zip.pgp"],
    ["crl", "publish"],
    ["report", "--html", "r.html"],
    ["audit", "verify"],
    ["status"],
    ["doctor"],
    ["partner", "rotate", "--finish"],
  ];
  for (const args of commands) {
    const r = await mtls(["--pki", "notadir", ...args, "--json"], { cwd: dir });
    const label = args.join(" ");
    assert.equal(r.exitCode, 5, `${label}: ${r.stdout}${r.stderr}`);
    const doc = json(r);
    assert.equal(doc.error?.code, "ERR_NO_PKI", label);
    assert.equal(doc.error?.message, `no PKI found at ${file}: it is not a directory`, label);
    assert.match(r.stderr, /^error: no PKI found at .*notadir: it is not a directory$/m, label);
  }
  const nested = await mtls(["--pki", "notadir/pki", "list"], { cwd: dir });
  assert.equal(nested.exitCode, 5, nested.stderr);
  assert.match(nested.stderr, new RegExp(`no PKI found at ${file}/pki: ${file} is not a directory`));
  assert.equal(await readFile(file, "utf8"), "x\n");
});

test("partner rotate --finish with no PKI is exit 5, not 'nothing due' (exit 0) nor an unknown partner (exit 3)", async (t) => {
  const dir = await tempDir(t);
  for (const args of [
    ["partner", "rotate", "--finish"],
    ["partner", "rotate", "--finish", "acme"],
  ]) {
    const r = await mtls(["--pki", "missing", ...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 5, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    const doc = json(r);
    assert.equal(doc.ok, false);
    assert.equal(doc.error?.code, "ERR_NO_PKI");
  }
});

test("ca init over a file: exit 4 naming it, the file untouched and nothing made beside it", async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, "notadir"), "x\n");
  const before = await snapshot(dir);
  for (const pki of ["notadir", "notadir/pki"]) {
    const r = await mtls(["--pki", pki, "ca", "init", "--name", "T", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 4, r.stdout + r.stderr);
    assert.equal(json(r).error?.message, `${join(dir, "notadir")} exists and is not a directory`);
  }
  assert.deepEqual(await snapshot(dir), before);
});
