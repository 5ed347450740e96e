import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { initTempCa, json, mtls, openssl, PASSPHRASE, snapshot, tempDir } from "../helpers/run.js";

test("ca init creates root + intermediate that openssl accepts, with CA extensions", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const v = await openssl(["verify", "-x509_strict", "-CAfile", join(pki, "ca/root.pem"), join(pki, "ca/intermediate.pem")]);
  assert.equal(v.exitCode, 0, v.stderr);
  const root = (await openssl(["x509", "-in", join(pki, "ca/root.pem"), "-noout", "-text"])).stdout;
  assert.match(root, /Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
  assert.match(root, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
  assert.match(root, /Subject Key Identifier/);
  assert.match(root, /Subject: O = Test Org, CN = Test Root CA/);
  const int = (await openssl(["x509", "-in", join(pki, "ca/intermediate.pem"), "-noout", "-text"])).stdout;
  assert.match(int, /CA:TRUE, pathlen:0/);
  assert.match(int, /Authority Key Identifier/);
  assert.match(int, /Issuer: O = Test Org, CN = Test Root CA/);
  // Key files private, key directory closed.
  assert.equal((await stat(join(pki, "private/root.key"))).mode & 0o777, 0o600);
  assert.equal((await stat(join(pki, "private/intermediate.key"))).mode & 0o777, 0o600);
  assert.equal((await stat(join(pki, "private"))).mode & 0o777, 0o700);
});

test("the encrypted CA key opens with openssl pkey and the right passphrase only, PBKDF2 x600000", async (t) => {
  const dir = await initTempCa(t);
  const key = join(dir, "pki/private/intermediate.key");
  const ok = await openssl(["pkey", "-in", key, "-passin", `pass:${PASSPHRASE}`, "-noout", "-text"]);
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.match(ok.stdout, /Private-Key: \(256 bit/);
  const wrong = await openssl(["pkey", "-in", key, "-passin", "pass:not the passphrase", "-noout"]);
  assert.notEqual(wrong.exitCode, 0);
  const none = await openssl(["pkey", "-in", key, "-passin", "pass:", "-noout"]);
  assert.notEqual(none.exitCode, 0);
  const asn = (await openssl(["asn1parse", "-in", key])).stdout;
  assert.match(asn, /PBES2/);
  assert.match(asn, /PBKDF2/);
  assert.match(asn, /INTEGER\s+:0927C0/); // 600,000 iterations
  assert.match(asn, /hmacWithSHA256/);
  assert.match(asn, /aes-256-cbc/);
});

test("ca init --key-type ec-p384 signs with SHA-384; rsa-3072 works; --no-intermediate is single tier", async (t) => {
  const p384 = await initTempCa(t, ["--key-type", "ec-p384"]);
  const txt = (await openssl(["x509", "-in", join(p384, "pki/ca/intermediate.pem"), "-noout", "-text"])).stdout;
  assert.match(txt, /Signature Algorithm: ecdsa-with-SHA384/);
  assert.match(txt, /NIST CURVE: P-384/);
  const rsa = await initTempCa(t, ["--key-type", "rsa-3072", "--no-intermediate"]);
  const r = json(await mtls(["ca", "show", "--json"], { cwd: rsa }));
  assert.equal(r.result.root.keyType, "rsa-3072");
  assert.equal(r.result.intermediate, undefined);
  const rootTxt = (await openssl(["x509", "-in", join(rsa, "pki/ca/root.pem"), "-noout", "-text"])).stdout;
  assert.match(rootTxt, /CA:TRUE, pathlen:0/);
  assert.match(rootTxt, /sha256WithRSAEncryption/);
});

test("ca init refuses to overwrite a CA (exit 4) and leaves it as it was", async (t) => {
  const dir = await initTempCa(t);
  const before = await snapshot(join(dir, "pki"));
  const r = await mtls(["ca", "init", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 4);
  assert.equal(json(r).error?.code, "ERR_CA_EXISTS");
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("ca init without a passphrase and without a terminal is a usage error; --insecure-no-passphrase warns", async (t) => {
  const dir = await tempDir(t);
  const r = await mtls(["ca", "init", "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "" } });
  assert.equal(r.exitCode, 2);
  assert.equal(json(r).error?.code, "ERR_PASSPHRASE_REQUIRED");
  const weak = await mtls(["ca", "init", "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "short" } });
  assert.equal(weak.exitCode, 3);
  assert.equal(json(weak).error?.code, "ERR_PASSPHRASE_WEAK");
  const insecure = await mtls(["ca", "init", "--insecure-no-passphrase", "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "" } });
  assert.equal(insecure.exitCode, 0, insecure.stderr);
  assert.match(json(insecure).warnings.join("\n"), /unencrypted/);
  assert.match(insecure.stderr, /warning: .*unencrypted/);
  const key = await openssl(["pkey", "-in", join(dir, "pki/private/root.key"), "-noout"]);
  assert.equal(key.exitCode, 0);
});

test("a passphrase on the command line is refused; a passphrase file works", async (t) => {
  const dir = await tempDir(t);
  const argv = await mtls(["ca", "init", "--passphrase", "secret-in-argv", "--json"], { cwd: dir });
  assert.equal(argv.exitCode, 2);
  assert.equal(json(argv).error?.code, "ERR_PASSPHRASE_ARGV");
  assert.doesNotMatch(argv.stdout + argv.stderr, /secret-in-argv/);
  await writeFile(join(dir, "pass.txt"), "from a file 123\n", { mode: 0o600 });
  const r = await mtls(["ca", "init", "--passphrase-file", "pass.txt", "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "" } });
  assert.equal(r.exitCode, 0, r.stderr);
  const ok = await openssl(["pkey", "-in", join(dir, "pki/private/root.key"), "-passin", "pass:from a file 123", "-noout"]);
  assert.equal(ok.exitCode, 0);
});

test("invalid option values are usage errors (exit 2) that name the value", async (t) => {
  const dir = await tempDir(t);
  const url = await mtls(["ca", "init", "--crl-url", "ftp://x", "--json"], { cwd: dir });
  assert.equal(url.exitCode, 2);
  assert.match(json(url).error?.message ?? "", /ftp:\/\/x/);
  const kt = await mtls(["ca", "init", "--key-type", "dsa", "--json"], { cwd: dir });
  assert.equal(kt.exitCode, 2);
  assert.match(json(kt).error?.message ?? "", /dsa/);
  const days = await mtls(["ca", "init", "--root-days", "100", "--intermediate-days", "200", "--json"], { cwd: dir });
  assert.equal(days.exitCode, 2);
  assert.deepEqual(await snapshot(dir), {});
});

test("a CA name or organisation that RFC 4514 would read as hex, or with control characters, is refused (exit 2: a bad flag value), never exit 70", async (t) => {
  const dir = await tempDir(t);
  for (const args of [
    ["--name", "#x"],
    ["--name", "a\u001b[2Jb"],
    ["--name", "T", "--org", "#0c0141"],
    ["--name", "T\u0085"],
  ]) {
    const r = await mtls(["ca", "init", ...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 2, `${JSON.stringify(args)}: ${r.stdout}`);
    assert.equal(json(r).error?.code, "ERR_CA_NAME");
  }
  assert.deepEqual(await snapshot(dir), {});
  const ok = await mtls(["ca", "init", "--name", "Acme, Inc. #1", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stderr);
});

test("ca init onto a mount point builds the store inside it (rename cannot replace a mount point)", async (t) => {
  const dir = await tempDir(t);
  const mnt = join(dir, "pki");
  await mkdir(mnt);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "mode=0755", "mtls-test", mnt]);
  if (mounted.status !== 0) return t.skip(`cannot mount a tmpfs here (needs root): ${mounted.stderr}`);
  try {
    // A refused init leaves the mount point as it was.
    const bad = await mtls(["ca", "init", "--pki", mnt, "--key-type", "dsa-1024"], { cwd: dir });
    assert.equal(bad.exitCode, 2, bad.stderr);
    assert.deepEqual(await readdir(mnt), []);
    const r = await mtls(["ca", "init", "--pki", mnt, "--org", "Test Org", "-q"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
    // The same entries as a store made where rename works, and no scratch directory left.
    const plain = join(dir, "plain");
    assert.equal((await mtls(["ca", "init", "--pki", plain, "--org", "Test Org", "-q"], { cwd: dir })).exitCode, 0);
    assert.deepEqual((await readdir(mnt)).sort(), (await readdir(plain)).sort());
    const doctor = json(await mtls(["--pki", mnt, "doctor", "--json"], { cwd: dir }));
    assert.equal(doctor.ok, true, JSON.stringify(doctor));
    assert.equal((await stat(join(mnt, "private"))).mode & 0o777, 0o700);
  } finally {
    spawnSync("umount", [mnt]);
  }
});

test("two ca init at once into one existing directory: at most one CA, whole, and a loser leaves nothing; the root gets 0755", async (t) => {
  const dir = await tempDir(t);
  for (let round = 0; round < 4; round++) {
    const target = join(dir, `pki${round}`);
    await mkdir(target, { mode: 0o777 });
    await chmod(target, 0o777);
    const runs = await Promise.all([1, 2].map((n) => mtls(["ca", "init", "--pki", target, "--name", `Race ${n}`, "-q", "--json"], { cwd: dir })));
    const won = runs.filter((r) => r.exitCode === 0);
    for (const r of runs) if (r.exitCode !== 0) assert.equal(r.exitCode, 4, r.stdout);
    assert.ok(won.length <= 1, "never two CAs in one directory");
    if (won.length === 0) {
      assert.deepEqual(await readdir(target), [], "both stepped back: nothing left");
      continue;
    }
    const doctor = json(await mtls(["--pki", target, "doctor", "--json"], { cwd: dir }));
    assert.equal(doctor.ok, true, JSON.stringify(doctor));
    assert.ok((await readdir(target)).includes("audit.log"));
    assert.equal(doctor.result.checked.auditRecords > 0, true);
    assert.equal((await stat(target)).mode & 0o777, 0o755);
  }
});
