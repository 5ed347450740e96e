// #21: a transaction creating many certificates (a batch) writes one flushed pack before the
// index append, then the per-serial files from it; a reader whose file is absent finds the pack.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openPki } from "../../src/core/session.js";
import { decodePack } from "../../src/core/store/pack.js";
import { runInProcess } from "../helpers/in-process.js";

const dir = await mkdtemp(join(tmpdir(), "mtls-pack-"));
after(() => rm(dir, { recursive: true, force: true }));
const init = await runInProcess(["ca", "init", "--insecure-no-passphrase", "--name", "Pack", "--json"], { cwd: dir });
assert.equal(init.exitCode, 0, init.stderr);
const pkiDir = join(dir, "pki");

const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nAAAA${n}\n-----END CERTIFICATE-----\n`;

test("many new certificate files go into one pack, and the files are written from it after the commit", async () => {
  const pki = await openPki(pkiDir, { actor: "test" });
  const serials = ["0a01", "0a02", "0a03"];
  await pki.transact("test.batch", async (tx) => {
    for (const [i, s] of serials.entries())
      tx.put(`certs/${s}.pem`, pem(i), { exclusive: true }).put(`certs/${s}.chain.pem`, pem(i) + pem(9), { exclusive: true });
  });
  assert.deepEqual(await readdir(join(pkiDir, "certs/packs")), ["0a01.pack"]);
  const entries = decodePack(await readFile(join(pkiDir, "certs/packs/0a01.pack"), "utf8"));
  assert.deepEqual(
    entries.map((e) => e.key),
    serials.flatMap((s) => [`certs/${s}.pem`, `certs/${s}.chain.pem`]),
  );
  for (const [i, s] of serials.entries()) {
    assert.equal(await readFile(join(pkiDir, `certs/${s}.pem`), "utf8"), pem(i));
    assert.equal(await readFile(join(pkiDir, `certs/${s}.chain.pem`), "utf8"), pem(i) + pem(9));
  }
  // A file a crash kept from being written after the commit: read from the pack.
  await rm(join(pkiDir, "certs/0a02.pem"));
  assert.equal(new TextDecoder().decode(await pki.storage.get("certs/0a02.pem")), pem(1));
  assert.equal(await pki.storage.get("certs/0bff.pem"), undefined);
});

test("one certificate is written as its own files, without a pack; a pack line cut short is ignored", async () => {
  const pki = await openPki(pkiDir, { actor: "test" });
  await pki.transact("test.one", async (tx) => {
    tx.put("certs/0b01.pem", pem(1), { exclusive: true }).put("certs/0b01.chain.pem", pem(1), { exclusive: true });
  });
  assert.equal(await readFile(join(pkiDir, "certs/0b01.pem"), "utf8"), pem(1));
  assert.deepEqual(await readdir(join(pkiDir, "certs/packs")), ["0a01.pack"]);
  const text = `${JSON.stringify({ key: "certs/0c01.pem", data: pem(5) })}\n{"key":"certs/0c02.pem","da`;
  assert.deepEqual(decodePack(text), [{ key: "certs/0c01.pem", data: pem(5) }]);
});
