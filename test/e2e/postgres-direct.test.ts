// #16: commands on a database store run on the database itself (SqlStorage), with no copy of the
// store on local disk. A copy would be made under the temp directory: here TMPDIR names first an
// empty directory, which must stay empty, then one that does not exist, where no copy could be made.
import assert from "node:assert/strict";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { fileCluster, pgSkipReason } from "../helpers/postgres.js";
import { json, mtls, tempDir } from "../helpers/run.js";

const skip = pgSkipReason();
const pg = fileCluster();
const N = 2000;

test("#16 a database store of 2,000 certificates: issue, list, status, revoke and doctor run on the database, no working copy made", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await (await pg()).newStore("direct");
  const tmp = join(dir, "tmp");
  await mkdir(tmp);
  const env = { PGPASSWORD: s.password, TMPDIR: tmp };
  const run = async (args: string[], opts: { tmpdir?: string } = {}) =>
    mtls([...args, "--store", s.url, "--json"], { cwd: dir, env: { ...env, TMPDIR: opts.tmpdir ?? tmp }, timeoutMs: 300_000 });

  const init = await run(["ca", "init", "--name", "Direct"]);
  assert.equal(init.exitCode, 0, init.stderr);
  // A second CA in the same database is refused, and the first stays as it was.
  const again = await run(["ca", "init", "--name", "Again"]);
  assert.equal(again.exitCode, 4, again.stderr);
  assert.equal(json(again).error?.code, "ERR_CA_EXISTS");

  const lines = Array.from({ length: N }, (_, i) => JSON.stringify({ partner: `p-${i % 50}`, generate: true, sans: [`uri:spiffe://direct.example/w/${i}`] }));
  await writeFile(join(dir, "batch.jsonl"), `${lines.join("\n")}\n`);
  const batch = await run(["partner", "issue", "--batch", "batch.jsonl", "--key-dir", "keys"]);
  assert.equal(batch.exitCode, 0, batch.stderr);
  assert.equal(json(batch).result.issued, N);
  assert.deepEqual(await readdir(tmp), []);

  const list = await run(["list"]);
  assert.equal(list.exitCode, 0, list.stderr);
  const certs = json(list).result.certificates as Array<{ serial: string; status: string }>;
  assert.equal(certs.length, N);
  assert.equal(new Set(certs.map((c) => c.serial)).size, N);

  const revoke = await run(["revoke", certs[7]?.serial as string, "--yes"]);
  assert.equal(revoke.exitCode, 0, revoke.stderr);

  // No temp directory at all: a command that needed a local copy of the store would fail.
  const gone = join(dir, "no-such-tmp");
  const status = await run(["status"], { tmpdir: gone });
  assert.ok(status.exitCode === 0 || status.exitCode === 1, status.stderr);
  assert.equal(json(status).error, undefined);
  const listed = await run(["list"], { tmpdir: gone });
  assert.equal(listed.exitCode, 0, listed.stderr);
  const after = json(listed).result.certificates as Array<{ serial: string; status: string }>;
  assert.equal(after.length, N);
  assert.equal(after.find((c) => c.serial === certs[7]?.serial)?.status, "revoked");
  const doctor = await run(["doctor"], { tmpdir: gone });
  assert.equal(doctor.exitCode, 0, doctor.stdout);

  assert.deepEqual(await readdir(tmp), []);
});
