import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { open, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import * as openpgp from "openpgp";
import { makeCsr } from "../helpers/csr.js";
import { type GpgHome, type GpgKey, genKey, gpgHome, haveGpg, revokeKey } from "../helpers/gpg.js";
import { openHomeKey } from "../helpers/home-key.js";
import { initTempCa, json, mtls, openssl, run, snapshot } from "../helpers/run.js";
import { craftZip } from "../helpers/zip.js";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function partnerWithKey(t: import("node:test").TestContext, kind: "cv25519" | "rsa4096" = "cv25519") {
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const key = await genKey(g, kind, { email: `pki-${kind}@partner.example` });
  const add = await mtls(["partner", "add", "acme", "--pgp-key", key.publicFile, "--name", "Acme Payments", "--json"], { cwd: dir });
  assert.equal(add.exitCode, 0, add.stderr);
  assert.equal(json(add).result.partner.pgp.fingerprint, key.fingerprint);
  return { dir, g, key };
}

/** gpg --decrypt as the partner would, returning the zip and gpg's status lines. */
async function gpgDecrypt(g: GpgHome, dir: string, bundle: string) {
  await g.gpg(["--import", join(dir, "pki/pgp/home-party.asc")]);
  const out = join(dir, `${bundle}.zip`);
  const r = await g.gpg(["--status-fd", "2", "--trust-model", "always", "--output", out, "--decrypt", join(dir, bundle)]);
  return { ...r, zip: out };
}

for (const kind of ["cv25519", "rsa4096"] as const) {
  test(`export → gpg --decrypt (${kind} key from gpg --gen-key): good signature, files match the manifest, cert verifies`, async (t) => {
    if (!haveGpg()) return t.skip("gpg is not installed");
    const { dir, g } = await partnerWithKey(t, kind);
    const { csr } = await makeCsr(dir, "acme");
    assert.equal((await mtls(["partner", "issue", "acme", "--csr", csr], { cwd: dir })).exitCode, 0);
    const exp = await mtls(["partner", "export", "acme", "--out", "acme.zip.pgp", "--gateway-url", "https://api.home.example/v1/", "--json"], { cwd: dir });
    assert.equal(exp.exitCode, 0, exp.stderr);
    const home = json(exp).result.signerFingerprint;
    assert.equal((await stat(join(dir, "acme.zip.pgp"))).mode & 0o777, 0o600);
    const d = await gpgDecrypt(g, dir, "acme.zip.pgp");
    assert.equal(d.exitCode, 0, d.stderr);
    assert.match(d.stderr, /\[GNUPG:\] GOODSIG /);
    assert.match(d.stderr, new RegExp(`\\[GNUPG:\\] VALIDSIG ${home} `));
    assert.match(d.stderr, /\[GNUPG:\] DECRYPTION_OKAY/);
    const unzipDir = join(dir, "unzipped");
    const u = await run("unzip", ["-o", d.zip, "-d", unzipDir]);
    assert.equal(u.exitCode, 0, u.stderr);
    const manifest = JSON.parse(await readFile(join(unzipDir, "manifest.json"), "utf8"));
    assert.deepEqual((await readdir(unzipDir)).sort(), ["README.txt", "ca.pem", "certificate.pem", "chain.pem", "manifest.json"]);
    for (const f of manifest.files) assert.equal(sha256(await readFile(join(unzipDir, f.name))), f.sha256, f.name);
    assert.equal(manifest.signerFingerprint, home);
    const v = await openssl([
      "verify",
      "-purpose",
      "sslclient",
      "-CAfile",
      join(unzipDir, "ca.pem"),
      "-untrusted",
      join(unzipDir, "chain.pem"),
      join(unzipDir, "certificate.pem"),
    ]);
    assert.equal(v.exitCode, 0, v.stderr);
    const readme = await readFile(join(unzipDir, "README.txt"), "utf8");
    assert.match(readme, /for acme \(Acme Payments\)/);
    assert.match(readme, new RegExp(`VALIDSIG ${home}`));
    assert.match(readme, /renew by\s+\d{4}-\d\d-\d\dT/);
    assert.match(readme, /curl --cert chain\.pem --key <your private key> .*https:\/\/api\.home\.example\/v1\//);
    assert.match(readme, /openssl verify -purpose sslclient -CAfile ca\.pem -untrusted chain\.pem certificate\.pem/);
  });
}

test("Option B: --generate for a partner with a PGP key puts the key in the bundle only; it matches the cert", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const { dir, g } = await partnerWithKey(t);
  const r = await mtls(["partner", "issue", "acme", "--generate", "--san", "uri:spiffe://partner.example/acme", "--bundle", "acme-b.zip.pgp", "--json"], {
    cwd: dir,
  });
  assert.equal(r.exitCode, 0, r.stderr);
  const res = json(r).result;
  assert.equal(res.bundle.path, join(dir, "acme-b.zip.pgp"));
  const d = await gpgDecrypt(g, dir, "acme-b.zip.pgp");
  assert.equal(d.exitCode, 0, d.stderr);
  const unzipDir = join(dir, "b");
  assert.equal((await run("unzip", ["-o", d.zip, "-d", unzipDir])).exitCode, 0);
  assert.equal((await stat(join(unzipDir, "private-key.pem"))).mode & 0o777, 0o600);
  const fromKey = await openssl(["pkey", "-in", join(unzipDir, "private-key.pem"), "-pubout"]);
  const fromCert = await openssl(["x509", "-in", res.certPath, "-noout", "-pubkey"]);
  assert.equal(fromKey.stdout, fromCert.stdout);
  // Nothing in the PKI, and nothing the command printed, holds the key in the clear.
  const der = (await openssl(["pkey", "-in", join(unzipDir, "private-key.pem"), "-outform", "DER"], {})).stdout;
  const body = (await readFile(join(unzipDir, "private-key.pem"), "utf8")).split("\n").slice(1, -2).join("");
  for (const f of await readdir(join(dir, "pki"), { recursive: true })) {
    const p = join(dir, "pki", f);
    if (!(await stat(p)).isFile()) continue;
    const content = await readFile(p);
    assert.ok(!content.includes(body.slice(0, 40)), `key material in ${f}`);
    assert.ok(!content.toString("latin1").includes(der.slice(20, 60)), `DER key material in ${f}`);
  }
  assert.ok(!r.stdout.includes(body.slice(0, 40)) && !r.stderr.includes(body.slice(0, 40)));
  // Without --bundle the default name is <partner>-<serial prefix>.zip.pgp in the working directory.
  const r2 = json(await mtls(["partner", "issue", "acme", "--generate", "--json"], { cwd: dir })).result;
  assert.equal(r2.bundle.path, join(dir, `acme-${r2.serial.slice(0, 8)}.zip.pgp`));
});

test("bundle open: round trip, then each refusal is a clear exit 3 and writes nothing", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const { dir, g, key } = await partnerWithKey(t);
  const other = await genKey(g, "cv25519", { email: "someone-else@partner.example" });
  const { csr } = await makeCsr(dir, "acme");
  await mtls(["partner", "issue", "acme", "--csr", csr], { cwd: dir });
  assert.equal((await mtls(["partner", "export", "acme", "--out", "b.pgp"], { cwd: dir })).exitCode, 0);
  const homePub = join(dir, "pki/pgp/home-party.asc");

  const ok = await mtls(["bundle", "open", "b.pgp", "--key", key.secretFile, "--signer", homePub, "--out", "opened", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stderr);
  const files = json(ok)
    .result.files.map((f: { name: string }) => f.name)
    .sort();
  assert.deepEqual(files, ["README.txt", "ca.pem", "certificate.pem", "chain.pem", "manifest.json"]);

  const bundle = await readFile(join(dir, "b.pgp"));
  const tampered = Buffer.from(bundle);
  const at = Math.floor(tampered.length * 0.7);
  tampered[at] = (tampered[at] as number) ^ 0x55;
  await writeFile(join(dir, "tampered.pgp"), tampered);

  // Correctly signed by the home party's real key, but hostile inside: the checks must still hold.
  const homeKey = await openHomeKey(join(dir, "pki"));
  const recipient = await openpgp.readKey({ armoredKey: key.publicArmored });
  const sealed = async (zip: Buffer) =>
    openpgp.encrypt({ message: await openpgp.createMessage({ binary: zip }), encryptionKeys: recipient, signingKeys: homeKey, format: "binary" });
  const unzipped = json(ok).result.files as Array<{ name: string; path: string }>;
  const original = await Promise.all(unzipped.map(async (f) => ({ name: f.name, data: await readFile(f.path) })));
  const altered = original.map((e) => (e.name === "ca.pem" ? { ...e, data: Buffer.from(`${e.data}# appended\n`) } : e));
  await writeFile(join(dir, "mismatch.pgp"), await sealed(craftZip(altered)));
  await writeFile(join(dir, "slip.pgp"), await sealed(craftZip([...original, { name: "../escape.txt", data: Buffer.from("x") }])));
  await writeFile(join(dir, "extra.pgp"), await sealed(craftZip([...original, { name: "extra.sh", data: Buffer.from("rm -rf /") }])));
  await writeFile(
    join(dir, "link.pgp"),
    await sealed(craftZip([...original.filter((e) => e.name !== "ca.pem"), { name: "ca.pem", data: Buffer.from("/etc/passwd"), mode: 0o120777 }])),
  );
  // Every file listed and matching, but a manifest field nested 5,000 deep: no stack overflow, one JSON document.
  const deepManifest = original.map((e) =>
    e.name === "manifest.json"
      ? { ...e, data: Buffer.from(`${e.data.toString().replace(/\}\s*$/, `, "x": ${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}`)}`) }
      : e,
  );
  await writeFile(join(dir, "deep.pgp"), await sealed(craftZip(deepManifest)));
  const unsigned = await openpgp.encrypt({ message: await openpgp.createMessage({ binary: craftZip(original) }), encryptionKeys: recipient, format: "binary" });
  await writeFile(join(dir, "unsigned.pgp"), unsigned);

  const cases: Array<[string, string[], string, RegExp]> = [
    ["wrong key", ["b.pgp", "--key", other.secretFile, "--signer", homePub], "ERR_BUNDLE_KEY", /not encrypted to this key/],
    ["tampered ciphertext", ["tampered.pgp", "--key", key.secretFile, "--signer", homePub], "ERR_BUNDLE_(CORRUPT|SIGNATURE)", /integrity|damaged|signature/],
    ["bad signature (other signer)", ["b.pgp", "--key", key.secretFile, "--signer", other.publicFile], "ERR_BUNDLE_SIGNATURE", /not a valid signature/],
    ["unsigned", ["unsigned.pgp", "--key", key.secretFile, "--signer", homePub], "ERR_BUNDLE_SIGNATURE", /not signed/],
    ["manifest mismatch", ["mismatch.pgp", "--key", key.secretFile, "--signer", homePub], "ERR_BUNDLE_MANIFEST", /ca\.pem does not match its manifest/],
    ["zip-slip", ["slip.pgp", "--key", key.secretFile, "--signer", homePub], "ERR_BUNDLE_ENTRY", /unsafe entry "\.\.\/escape\.txt"/],
    [
      "file not in manifest",
      ["extra.pgp", "--key", key.secretFile, "--signer", homePub],
      "ERR_BUNDLE_MANIFEST",
      /extra\.sh is in the bundle but not in its manifest/,
    ],
    ["symlink entry", ["link.pgp", "--key", key.secretFile, "--signer", homePub], "ERR_BUNDLE_ZIP", /not a regular file/],
    ["deep manifest", ["deep.pgp", "--key", key.secretFile, "--signer", homePub], "ERR_BUNDLE_MANIFEST", /manifest\.json nests more than 64 levels/],
  ];
  for (const [label, args, code, message] of cases) {
    const r = await mtls(["bundle", "open", ...args, "--out", "refused", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${label}: ${r.stdout}`);
    assert.match(json(r).error?.code ?? "", new RegExp(`^${code}$`), label);
    assert.match(json(r).error?.message ?? "", message, label);
    assert.match(r.stderr, /^error: .+\n/, label);
    await assert.rejects(stat(join(dir, "refused")), label);
    await assert.rejects(stat(join(dir, "escape.txt")), label);
  }
  // Compression as such is fine, within the limit: a signed bundle that openpgp compressed opens.
  const zlib = { preferredCompressionAlgorithm: openpgp.enums.compression.zlib };
  const squeezed = await openpgp.encrypt({
    message: await openpgp.createMessage({ binary: craftZip(original) }),
    encryptionKeys: recipient,
    signingKeys: homeKey,
    format: "binary",
    config: zlib,
  });
  await writeFile(join(dir, "compressed.pgp"), squeezed);
  assert.match((await g.gpg(["--list-packets", join(dir, "compressed.pgp")])).stdout, /:compressed packet: algo=2/);
  const compressed = await mtls(["bundle", "open", "compressed.pgp", "--key", key.secretFile, "--signer", homePub, "--out", "opened-z", "--json"], {
    cwd: dir,
  });
  assert.equal(compressed.exitCode, 0, compressed.stderr);
  const noSigner = await mtls(["bundle", "open", "b.pgp", "--key", key.secretFile, "--json"], { cwd: dir });
  assert.equal(noSigner.exitCode, 2);
});

test("a compressed bomb (zlib, zip, bzip2 by gpg; encrypted or bare) is refused past 64 MiB decompressed, nothing written", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const { dir, g, key } = await partnerWithKey(t);
  assert.equal((await mtls(["pgp", "init"], { cwd: dir })).exitCode, 0);
  const homePub = join(dir, "pki/pgp/home-party.asc");
  // Twice the limit of zeros, as a sparse file: gpg squeezes it to ~130 KB (zlib) or a few hundred bytes (bzip2).
  const zeros = join(dir, "zeros");
  const fh = await open(zeros, "w");
  await fh.truncate(128 * 1024 * 1024);
  await fh.close();
  const bombs: string[] = [];
  for (const algo of ["zlib", "zip", "bzip2"]) {
    // Unsigned and made with the partner's public key alone, as anyone could.
    const out = join(dir, `bomb-${algo}.pgp`);
    const enc = await g.gpg(["--trust-model", "always", "-z", "9", "--compress-algo", algo, "-r", key.email, "-o", out, "--encrypt", zeros]);
    assert.equal(enc.exitCode, 0, enc.stderr);
    bombs.push(out);
  }
  // Not encrypted at all: openpgp inflates a bare compressed packet as it reads the message.
  const bare = join(dir, "bomb-bare.pgp");
  assert.equal((await g.gpg(["-z", "9", "--compress-algo", "zlib", "-u", key.email, "-o", bare, "--sign", zeros])).exitCode, 0);
  bombs.push(bare);
  for (const bomb of bombs) {
    assert.ok((await stat(bomb)).size < 1024 * 1024, bomb);
    const r = await mtls(["bundle", "open", bomb, "--key", key.secretFile, "--signer", homePub, "--out", "refused", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${bomb}: ${r.stdout}`);
    assert.equal(json(r).error?.code, "ERR_BUNDLE_TOO_LARGE", bomb);
    assert.equal(json(r).error?.message, "the bundle's content is larger than 64 MiB once decompressed", bomb);
    await assert.rejects(stat(join(dir, "refused")), bomb);
  }
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.includes("refused")),
    [],
  );
  // inspect reads OpenPGP messages from anyone: the bare one is the same bomb there.
  const inspected = await mtls(["inspect", bare, "--json"], { cwd: dir });
  assert.equal(inspected.exitCode, 3, inspected.stdout);
  assert.equal(json(inspected).error?.code, "ERR_BUNDLE_TOO_LARGE");
  assert.match(json(inspected).error?.message ?? "", /^the OpenPGP message in .*bomb-bare\.pgp is larger than 64 MiB once decompressed$/);
});

test("a passphrase-protected partner key opens with MTLS_PGP_PASSPHRASE, not without", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "locked@partner.example", passphrase: "partner secret 1" });
  await mtls(["partner", "add", "locked", "--pgp-key", key.publicFile], { cwd: dir });
  assert.equal((await mtls(["partner", "issue", "locked", "--generate"], { cwd: dir })).exitCode, 0);
  const [bundle] = (await readdir(dir)).filter((f) => f.endsWith(".zip.pgp"));
  const args = ["bundle", "open", bundle as string, "--key", key.secretFile, "--signer", "pki/pgp/home-party.asc", "--out", "o", "--json"];
  const none = await mtls(args, { cwd: dir });
  assert.equal(none.exitCode, 2);
  assert.equal(json(none).error?.code, "ERR_PASSPHRASE_REQUIRED");
  const wrong = await mtls(args, { cwd: dir, env: { MTLS_PGP_PASSPHRASE: "nope" } });
  assert.equal(wrong.exitCode, 3);
  const right = await mtls(args, { cwd: dir, env: { MTLS_PGP_PASSPHRASE: "partner secret 1" } });
  assert.equal(right.exitCode, 0, right.stderr);
  assert.equal((await stat(join(dir, "o/private-key.pem"))).mode & 0o777, 0o600);
});

test("partner add refuses keys that are expired, revoked, weak, private, or not keys; the store is unchanged", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const expired = await genKey(g, "cv25519", { email: "old@partner.example", expire: "1d", fakedTime: "20200101T000000" });
  const revokedSource = await genKey(g, "cv25519", { email: "revoked@partner.example" });
  const revoked = await revokeKey(g, revokedSource);
  const weak = await genKey(g, "rsa1024", { email: "weak@partner.example" });
  const signOnly = await genKey(g, "sign-only", { email: "sign-only@partner.example" });
  await writeFile(join(dir, "garbage.asc"), "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n");
  const before = await snapshot(join(dir, "pki"));
  const cases: Array<[string, RegExp]> = [
    [expired.publicFile, /expired on 2020-01-02/],
    [revoked, /is revoked/],
    [weak.publicFile, /too weak \(rsa\w*-1024\)/],
    [signOnly.publicFile, /has no valid encryption subkey/],
    [weak.secretFile, /is a private key/],
    [join(dir, "garbage.asc"), /not a readable OpenPGP public key/],
  ];
  for (const [file, message] of cases) {
    const r = await mtls(["partner", "add", "acme", "--pgp-key", file, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${file}: ${r.stdout}`);
    assert.equal(json(r).error?.code, "ERR_PGP_KEY");
    assert.match(json(r).error?.message ?? "", message, file);
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  const noKey = await mtls(["partner", "export", "nobody", "--out", "x.pgp", "--json"], { cwd: dir });
  assert.equal(noKey.exitCode, 3);
});

test("--no-encrypt writes a deterministic plain zip (with a warning); export without a PGP key on file is refused", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "plain");
  await mtls(["partner", "issue", "plain", "--csr", csr], { cwd: dir });
  const refused = await mtls(["partner", "export", "plain", "--out", "p.pgp", "--json"], { cwd: dir });
  assert.equal(refused.exitCode, 3);
  assert.equal(json(refused).error?.code, "ERR_NO_PGP_KEY");
  const a = await mtls(["partner", "export", "plain", "--no-encrypt", "--out", "a.zip"], { cwd: dir });
  assert.equal(a.exitCode, 0, a.stderr);
  assert.match(a.stderr, /warning: the bundle is a plain zip/);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await mtls(["partner", "export", "plain", "--no-encrypt", "--out", "b.zip"], { cwd: dir })).exitCode, 0);
  assert.deepEqual(await readFile(join(dir, "a.zip")), await readFile(join(dir, "b.zip")));
  const list = await run("unzip", ["-Z1", join(dir, "a.zip")]);
  assert.deepEqual(list.stdout.trim().split("\n"), ["README.txt", "ca.pem", "certificate.pem", "chain.pem", "manifest.json"]);
  const exists = await mtls(["partner", "export", "plain", "--no-encrypt", "--out", "a.zip", "--json"], { cwd: dir });
  assert.equal(exists.exitCode, 4);
});

test("the home party's signing key is created once, shown, and partners list their keys", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const { dir } = await partnerWithKey(t);
  const init = await mtls(["pgp", "init", "--email", "pki@home.example", "--json"], { cwd: dir });
  assert.equal(init.exitCode, 0, init.stderr);
  const again = await mtls(["pgp", "init", "--json"], { cwd: dir });
  assert.equal(again.exitCode, 4);
  const show = json(await mtls(["pgp", "show", "--json"], { cwd: dir })).result;
  assert.equal(show.fingerprint, json(init).result.fingerprint);
  assert.match(show.userId, /<pki@home\.example>/);
  const armor = await mtls(["pgp", "show", "--armor"], { cwd: dir });
  assert.match(armor.stdout, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/);
  // The private half is encrypted at rest with the CA passphrase, mode 0600.
  const priv = join(dir, "pki/private/home-party.pgp.asc");
  assert.equal((await stat(priv)).mode & 0o777, 0o600);
  // In the CA keys' PBES2 envelope (#13), not OpenPGP's cheaper S2K: no armored key in sight.
  const sealedText = await readFile(priv, "utf8");
  assert.match(sealedText, /^-----BEGIN MTLS ENCRYPTED OPENPGP PRIVATE KEY-----/);
  assert.doesNotMatch(sealedText, /PGP PRIVATE KEY BLOCK/);
  assert.equal((await openHomeKey(join(dir, "pki"))).getFingerprint().toUpperCase(), json(init).result.fingerprint);
  const list = json(await mtls(["partner", "list", "--json"], { cwd: dir })).result.partners;
  assert.equal(list[0].id, "acme");
  assert.match(list[0].pgp.fingerprint, /^[0-9A-F]{40}$/);
  const showPartner = await mtls(["partner", "show", "acme"], { cwd: dir });
  assert.match(showPartner.stdout, /OpenPGP key:\s+[0-9A-F]{40}/);
});

export type { GpgKey };
