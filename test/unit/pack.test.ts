// #21: a transaction creating many certificates (a batch) writes one flushed pack before the
// index append, its certificates' only copy, and raises the store's format; reads find the pack.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openPki } from "../../src/core/session.js";
import { PACK_FORMAT_VERSION } from "../../src/core/store/config.js";
import { decodePack } from "../../src/core/store/pack.js";
import { runInProcess } from "../helpers/in-process.js";

const dir = await mkdtemp(join(tmpdir(), "mtls-pack-"));
after(() => rm(dir, { recursive: true, force: true }));
const init = await runInProcess(["ca", "init", "--insecure-no-passphrase", "--name", "Pack", "--json"], { cwd: dir });
assert.equal(init.exitCode, 0, init.stderr);
const pkiDir = join(dir, "pki");

const pem = (n: number) => `-----BEGIN CERTIFICATE-----\nAAAA${n}\n-----END CERTIFICATE-----\n`;

test("many new certificate files go into one pack, their only copy, and the store's format is raised", async () => {
  const pki = await openPki(pkiDir, { actor: "test" });
  assert.equal(JSON.parse(await readFile(join(pkiDir, "config.json"), "utf8")).formatVersion, 1);
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
  assert.deepEqual(
    (await readdir(join(pkiDir, "certs"))).filter((n) => n.endsWith(".pem")),
    [],
  );
  assert.equal(JSON.parse(await readFile(join(pkiDir, "config.json"), "utf8")).formatVersion, PACK_FORMAT_VERSION);
  for (const [i, s] of serials.entries()) {
    assert.equal(new TextDecoder().decode(await pki.storage.get(`certs/${s}.pem`)), pem(i));
    assert.equal(new TextDecoder().decode(await pki.storage.get(`certs/${s}.chain.pem`)), pem(i) + pem(9));
  }
  assert.equal(await pki.storage.get("certs/0bff.pem"), undefined);
  // A per-serial file, when there is one (an earlier format wrote them), wins over the pack.
  await writeFile(join(pkiDir, "certs/0a02.pem"), pem(7));
  assert.equal(new TextDecoder().decode(await pki.storage.get("certs/0a02.pem")), pem(7));
  await rm(join(pkiDir, "certs/0a02.pem"));
});

test("the same storage sees a pack written after its first read, and no longer one moved away", async () => {
  const pki = await openPki(pkiDir, { actor: "test" });
  assert.equal(new TextDecoder().decode(await pki.storage.get("certs/0a01.pem")), pem(0));
  await pki.transact("test.batch", async (tx) => {
    for (const s of ["0d01", "0d02"]) tx.put(`certs/${s}.pem`, pem(4), { exclusive: true });
  });
  assert.equal(new TextDecoder().decode(await pki.storage.get("certs/0d02.pem")), pem(4));
  await rm(join(pkiDir, "certs/packs/0d01.pack"));
  assert.equal(await pki.storage.get("certs/0d02.pem"), undefined);
  assert.equal(new TextDecoder().decode(await pki.storage.get("certs/0a03.pem")), pem(2));
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
