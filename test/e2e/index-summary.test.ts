// #21: list and status read index.jsonl.summary, a cache of the index; doctor checks it.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { initTempCa, mtls } from "../helpers/run.js";

test("a summary edited to disagree with the index: doctor reports it, --fix deletes it, list tells the truth again", async (t) => {
  const dir = await initTempCa(t);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key", "--json"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stderr);
  const serial = JSON.parse(issued.stdout).result.serial as string;
  assert.match((await mtls(["list"], { cwd: dir })).stdout, new RegExp(`${serial} .* valid`));
  const path = join(dir, "pki/index.jsonl.summary");
  await writeFile(path, (await readFile(path, "utf8")).replace("\tv\t", "\tr\t"));
  assert.match((await mtls(["list"], { cwd: dir })).stdout, /revoked/, "the cache is trusted while its stamp matches");

  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 1, doctor.stdout);
  const problems = JSON.parse(doctor.stdout).result.problems as Array<{ check: string; message: string }>;
  assert.deepEqual(
    problems.map((p) => [p.check, p.message]),
    [["index-summary", "index.jsonl.summary does not match index.jsonl"]],
  );
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  assert.equal((await mtls(["doctor", "--json"], { cwd: dir })).exitCode, 0);
  const list = await mtls(["list"], { cwd: dir });
  assert.match(list.stdout, new RegExp(`${serial} .* valid`));
  assert.doesNotMatch(list.stdout, /revoked/);
});
