// #13 reproduction 5 and the OpenPGP parts of 11: bundles go only to the pinned key, every store
// directory is in the symlink check, pgp init proves the CA passphrase, the home key is sealed
// like the CA keys, and partner ids that are Object.prototype names work like any other.
import assert from "node:assert/strict";
import { copyFile, readFile, rename, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import * as openpgp from "openpgp";
import { children, readTlv } from "../../src/core/der.js";
import { decodePemBlocks } from "../../src/core/pem.js";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls, openssl, PASSPHRASE, snapshot } from "../helpers/run.js";

async function partnerKey(dir: string, name: string) {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: "ecc",
    curve: "curve25519Legacy",
    userIDs: [{ name, email: `${name}@partner.example` }],
    format: "armored",
  });
  await writeFile(join(dir, `${name}.asc`), publicKey);
  await writeFile(join(dir, `${name}.sec.asc`), privateKey);
  return {
    file: join(dir, `${name}.asc`),
    secret: join(dir, `${name}.sec.asc`),
    fingerprint: (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase(),
  };
}

test("#13: a swapped partner key file is exit 3 naming both fingerprints, nothing written; doctor reports it", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const acme = await partnerKey(dir, "acme");
  const other = await partnerKey(dir, "other");
  for (const [id, k] of [
    ["acme", acme],
    ["other", other],
  ] as const)
    assert.equal((await mtls(["partner", "add", id, "--pgp-key", k.file], { cwd: dir })).exitCode, 0);
  const { csr } = await makeCsr(dir, "acme");
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", csr], { cwd: dir })).exitCode, 0);
  await copyFile(join(pki, "pgp/partners/other.asc"), join(pki, "pgp/partners/acme.asc"));

  const before = await snapshot(pki);
  for (const args of [
    ["partner", "issue", "acme", "--generate", "--bundle", "acme-gen.zip.pgp"],
    ["partner", "export", "acme", "--out", "acme.zip.pgp"],
  ]) {
    const r = await mtls([...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${args.join(" ")}: ${r.stdout}`);
    assert.equal(json(r).error?.code, "ERR_PGP_KEY_MISMATCH");
    assert.match(json(r).error?.message ?? "", new RegExp(`holds OpenPGP key ${other.fingerprint}, but partners.json pins ${acme.fingerprint} for acme`));
  }
  assert.deepEqual(await snapshot(pki), before, "nothing was written, not even the signing key");
  await assert.rejects(readFile(join(dir, "acme-gen.zip.pgp")));
  await assert.rejects(readFile(join(dir, "acme.zip.pgp")));

  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 1, doctor.stdout);
  const pgp = json(doctor).result.problems.filter((p: { check: string }) => p.check === "pgp");
  assert.equal(pgp.length, 1);
  assert.match(pgp[0].message, new RegExp(`${other.fingerprint}.*${acme.fingerprint}`));

  // The right key back in place: delivery works and the partner opens it.
  await writeFile(join(pki, "pgp/partners/acme.asc"), await readFile(acme.file));
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--bundle", "acme-gen.zip.pgp", "--json"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stdout);
  assert.equal(json(issued).result.bundle.recipientFingerprint, acme.fingerprint);
  const open = await mtls(["bundle", "open", "acme-gen.zip.pgp", "--key", acme.secret, "--signer", join(pki, "pgp/home-party.asc"), "--out", "opened"], {
    cwd: dir,
  });
  assert.equal(open.exitCode, 0, open.stderr);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("#13: every store directory is inside the symlink check, probe included", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const key = await partnerKey(dir, "acme");
  assert.equal((await mtls(["partner", "add", "acme", "--pgp-key", key.file], { cwd: dir })).exitCode, 0);
  for (const sub of ["pgp", "pgp/partners", "crl", "certs", "ca"]) {
    const path = join(pki, sub);
    await rename(path, `${path}.real`);
    await symlink(`${path}.real`, path);
    for (const args of [["list"], ["probe", "https://127.0.0.1:9/", "--scenarios", "valid"]]) {
      const r = await mtls([...args, "--json"], { cwd: dir });
      assert.equal(r.exitCode, 5, `${sub} with ${args[0]}: ${r.stdout}`);
      assert.equal(json(r).error?.code, "ERR_SYMLINK", sub);
    }
    await rename(path, `${path}.link`);
    await rename(`${path}.real`, path);
  }
  // Nor is a certificate archived by serial.
  const { csr } = await makeCsr(dir, "acme");
  const serial = json(await mtls(["partner", "issue", "acme", "--csr", csr, "--json"], { cwd: dir })).result.serial;
  const certFile = join(pki, `certs/${serial}.pem`);
  await rename(certFile, join(dir, "elsewhere.pem"));
  await symlink(join(dir, "elsewhere.pem"), certFile);
  const exported = await mtls(["partner", "export", "acme", "--no-encrypt", "--out", "plain.zip", "--json"], { cwd: dir });
  assert.equal(exported.exitCode, 5, exported.stdout);
  assert.equal(json(exported).error?.code, "ERR_SYMLINK");
  // A partner's key file planted as a link is not followed either.
  const keyFile = join(pki, "pgp/partners/acme.asc");
  await rename(keyFile, join(dir, "elsewhere.asc"));
  await symlink(join(dir, "elsewhere.asc"), keyFile);
  const r = await mtls(["partner", "issue", "acme", "--generate", "--bundle", "b.zip.pgp", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 5, r.stdout);
  assert.equal(json(r).error?.code, "ERR_SYMLINK");
});

test("#13: pgp init refuses a wrong CA passphrase; the home key is sealed with PBKDF2 × 600,000 that OpenSSL opens", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const before = await snapshot(pki);
  const wrong = await mtls(["pgp", "init", "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "not the CA passphrase" } });
  assert.equal(wrong.exitCode, 3, wrong.stdout);
  assert.equal(json(wrong).error?.code, "ERR_PASSPHRASE_WRONG");
  assert.deepEqual(await snapshot(pki), before);
  const init = await mtls(["pgp", "init", "--json"], { cwd: dir });
  assert.equal(init.exitCode, 0, init.stdout);

  // The envelope is the CA keys' PBES2 layout; OpenSSL's own PBKDF2 and AES open it.
  const der = decodePemBlocks(await readFile(join(pki, "private/home-party.pgp.asc"), "utf8"))[0]?.der as Buffer;
  const [alg, enc] = children(der, readTlv(der, 0));
  const [, params] = children(der, alg as ReturnType<typeof readTlv>);
  const [kdf, cipher] = children(der, params as ReturnType<typeof readTlv>);
  const [, kdfParams] = children(der, kdf as ReturnType<typeof readTlv>);
  const [salt, iter] = children(der, kdfParams as ReturnType<typeof readTlv>);
  const [, iv] = children(der, cipher as ReturnType<typeof readTlv>);
  const body = (x: unknown) => der.subarray((x as { start: number }).start, (x as { end: number }).end);
  assert.equal(Number.parseInt(body(iter).toString("hex"), 16), 600_000);
  const k = await openssl([
    "kdf",
    "-keylen",
    "32",
    "-kdfopt",
    "digest:SHA256",
    "-kdfopt",
    `pass:${PASSPHRASE}`,
    "-kdfopt",
    `hexsalt:${body(salt).toString("hex")}`,
    "-kdfopt",
    "iter:600000",
    "PBKDF2",
  ]);
  assert.equal(k.exitCode, 0, k.stderr);
  await writeFile(join(dir, "sealed.bin"), body(enc));
  const plain = await openssl([
    "enc",
    "-d",
    "-aes-256-cbc",
    "-K",
    k.stdout.trim().replace(/:/g, ""),
    "-iv",
    body(iv).toString("hex"),
    "-in",
    join(dir, "sealed.bin"),
  ]);
  assert.equal(plain.exitCode, 0, plain.stderr);
  const key = await openpgp.readPrivateKey({ armoredKey: plain.stdout });
  assert.equal(key.getFingerprint().toUpperCase(), json(init).result.fingerprint);
});

test("#13: a store whose home key is in OpenPGP's S2K (older releases) still signs bundles", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: "ecc",
    curve: "curve25519Legacy",
    userIDs: [{ name: "Old home" }],
    passphrase: PASSPHRASE,
    format: "armored",
  });
  const fingerprint = (await openpgp.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase();
  await writeFile(join(pki, "private/home-party.pgp.asc"), privateKey, { mode: 0o600 });
  await writeFile(join(pki, "pgp/home-party.asc"), publicKey).catch(async () => {
    await (await import("node:fs/promises")).mkdir(join(pki, "pgp"));
    await writeFile(join(pki, "pgp/home-party.asc"), publicKey);
  });
  const config = JSON.parse(await readFile(join(pki, "config.json"), "utf8"));
  await writeFile(join(pki, "config.json"), JSON.stringify({ ...config, delivery: { signingKeyFingerprint: fingerprint, userId: "Old home" } }));
  const acme = await partnerKey(dir, "acme");
  assert.equal((await mtls(["partner", "add", "acme", "--pgp-key", acme.file], { cwd: dir })).exitCode, 0);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--bundle", "a.zip.pgp", "--json"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stdout);
  assert.equal(json(issued).result.bundle.signerFingerprint, fingerprint);
  const open = await mtls(["bundle", "open", "a.zip.pgp", "--key", acme.secret, "--signer", join(pki, "pgp/home-party.asc"), "--out", "opened"], { cwd: dir });
  assert.equal(open.exitCode, 0, open.stderr);
});

test('#13: the partner id "constructor" works end to end; other Object.prototype names are refused or inert', async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const key = await partnerKey(dir, "constructor");
  const add = await mtls(["partner", "add", "constructor", "--pgp-key", key.file, "--json"], { cwd: dir });
  assert.equal(add.exitCode, 0, add.stdout);
  assert.equal(json(add).result.created, true);
  assert.equal(json(add).result.partner.id, "constructor");
  assert.match(await readFile(join(pki, "partners.json"), "utf8"), /"constructor": \{/);
  const { csr } = await makeCsr(dir, "ctor");
  const issued = await mtls(["partner", "issue", "constructor", "--csr", csr, "--json"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stdout);
  assert.equal(json(issued).result.partnerRegistered, false);
  for (const args of [
    ["partner", "list"],
    ["partner", "show", "constructor"],
    ["partner", "export", "constructor", "--out", "c.zip.pgp"],
    ["partner", "offboard", "constructor", "--yes"],
    ["list", "--partner", "constructor"],
    ["doctor"],
    ["status"],
  ]) {
    const r = await mtls([...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
  }
  const list = json(await mtls(["partner", "list", "--json"], { cwd: dir })).result.partners;
  assert.deepEqual(
    list.map((p: { id: string; pgp?: { fingerprint: string } }) => [p.id, p.pgp?.fingerprint]),
    [["constructor", key.fingerprint]],
  );
  const before = await snapshot(pki);
  for (const id of ["__proto__", "hasOwnProperty", "toString", "valueOf", "isPrototypeOf"]) {
    const r = await mtls(["partner", "add", id, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${id}: ${r.stdout}`);
    assert.equal(json(r).error?.code, "ERR_PARTNER_ID");
  }
  assert.deepEqual(await snapshot(pki), before);
  // Written by hand into the registry, such keys are plain entries, not prototype tricks.
  const reg = JSON.parse(await readFile(join(pki, "partners.json"), "utf8"));
  const hostile = `{"partners":{"__proto__":{"id":"__proto__","createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"},${JSON.stringify(reg.partners).slice(1, -1)}}}`;
  await writeFile(join(pki, "partners.json"), hostile);
  const listed = await mtls(["partner", "list", "--json"], { cwd: dir });
  assert.equal(listed.exitCode, 0, listed.stdout);
  assert.deepEqual(
    json(listed).result.partners.map((p: { id: string }) => p.id),
    ["__proto__", "constructor"],
  );
});
