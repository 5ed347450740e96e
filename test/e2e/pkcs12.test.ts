// #19: PKCS#12 files that every reader opens without `-legacy`: OpenSSL 3, Java keytool, Node's
// TLS stack and curl against nginx; a wrong password is refused by each. One CA for the file.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import tls from "node:tls";
import { curlWithCert } from "../helpers/curl.js";
import { haveNginx, startNginx } from "../helpers/gateways.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { have, json, mtls, openssl, run, snapshot } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-p12-"));
  const r = await mtls(["ca", "init", "--name", "P12 Test", "--org", "Test Org", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
});
after(() => rm(dir, { recursive: true, force: true }));

const PROFILES = ["modern", "legacy-des"] as const;
const KEYS = ["ec-p256", "rsa-2048"] as const;

/** A partner certificate with its key on disk, exported as a .p12 with `partner export --format p12`. */
async function exportP12(profile: string, keyType: string, tag = "p") {
  const id = `${tag}-${profile}-${keyType}`;
  const key = join(dir, `${id}.key`);
  const issued = await mtls(["partner", "issue", id, "--generate", "--key-type", keyType, "--out-key", key, "--json"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stdout);
  const p12 = join(dir, `${id}.p12`);
  const pw = join(dir, `${id}.pass`);
  const r = await mtls(["partner", "export", id, "--format", "p12", "--p12", profile, "--key", key, "--out", p12, "--p12-password-file", pw, "--json"], {
    cwd: dir,
  });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const result = json(r).result;
  assert.equal(result.p12Password, undefined, "the password goes to the file only");
  assert.equal(result.profile, profile);
  return { id, key, p12, pw, password: (await readFile(pw, "utf8")).trim(), serial: json(issued).result.serial as string };
}

const wrongPw = async () => {
  const f = join(dir, "wrong.pass");
  await writeFile(f, "not-the-password\n");
  return f;
};

for (const profile of PROFILES) {
  for (const keyType of KEYS) {
    test(`${profile} × ${keyType}: openssl pkcs12 (no -legacy), keytool and Node open it; a wrong password is refused by each`, async () => {
      const f = await exportP12(profile, keyType);
      assert.equal((await stat(f.p12)).mode & 0o777, 0o600);
      assert.equal((await stat(f.pw)).mode & 0o777, 0o600);
      assert.match(f.password, /^[a-z2-9]{5}(-[a-z2-9]{5}){4}$/);

      const info = await openssl(["pkcs12", "-info", "-noout", "-passin", `file:${f.pw}`, "-in", f.p12]);
      assert.equal(info.exitCode, 0, info.stderr);
      const expected = profile === "modern" ? /PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256/ : /pbeWithSHA1And3-KeyTripleDES-CBC/;
      assert.match(info.stderr, expected);
      assert.match(info.stderr, profile === "modern" ? /MAC: sha256/ : /MAC: sha1/);
      assert.doesNotMatch(info.stderr, /RC2/);
      assert.equal((await openssl(["pkcs12", "-info", "-noout", "-passin", `file:${await wrongPw()}`, "-in", f.p12])).exitCode === 0, false);

      // The key inside is the partner's key; the friendly name is the partner id; the chain is there.
      const dump = await openssl(["pkcs12", "-in", f.p12, "-passin", `file:${f.pw}`, "-nodes"]);
      assert.equal(dump.exitCode, 0, dump.stderr);
      assert.match(dump.stdout, new RegExp(`friendlyName: ${f.id}`));
      assert.equal((dump.stdout.match(/BEGIN CERTIFICATE/g) ?? []).length, 3, "leaf, intermediate, root");
      const pub = async (pem: string) => (await openssl(["pkey", "-pubout"], { input: pem })).stdout;
      assert.equal(await pub(dump.stdout), await pub(await readFile(f.key, "utf8")));

      if (have("keytool")) {
        const kt = await run("keytool", ["-list", "-storetype", "PKCS12", "-keystore", f.p12, "-storepass:file", f.pw]);
        assert.equal(kt.exitCode, 0, kt.stdout + kt.stderr);
        assert.match(kt.stdout, new RegExp(`${f.id}, .*PrivateKeyEntry`));
        const bad = await run("keytool", ["-list", "-storetype", "PKCS12", "-keystore", f.p12, "-storepass:file", await wrongPw()]);
        assert.notEqual(bad.exitCode, 0);
        assert.match(bad.stdout + bad.stderr, /password was incorrect|Integrity check failed|keystore password/i);
      }

      // mtls inspect names the profile it wrote and reads the file back.
      const inspected = json(await mtls(["inspect", f.p12, "--password-file", f.pw, "--json"], { cwd: dir })).result.objects[0];
      assert.deepEqual([inspected.profile, inspected.mac.verified, inspected.friendlyNames, inspected.certificates], [profile, true, [f.id], 3]);

      const pfx = await readFile(f.p12);
      assert.doesNotThrow(() => tls.createSecureContext({ pfx, passphrase: f.password }));
      assert.throws(() => tls.createSecureContext({ pfx, passphrase: "not-the-password" }), /mac verify failure/);
    });
  }
}

test("curl --cert-type P12 authenticates against nginx with each profile; a wrong password fails", async (t) => {
  if (!haveNginx()) return t.skip("nginx is not installed");
  const srv = await serverCert(dir);
  const gw = await startNginx(t, dir, { serverCert: srv.cert, serverKey: srv.key, caBundle: join(dir, "pki/ca/ca-bundle.pem") });
  for (const [profile, keyType] of [
    ["modern", "ec-p256"],
    ["legacy-des", "rsa-2048"],
  ] as const) {
    const f = await exportP12(profile, keyType, "curl");
    const ok = await run("curl", [
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      srv.cert,
      "--cert-type",
      "P12",
      "--cert",
      `${f.p12}:${f.password}`,
      `https://localhost:${gw.port}/`,
    ]);
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`ok SUCCESS CN=${f.id}`));
    const bad = await run("curl", [
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      srv.cert,
      "--cert-type",
      "P12",
      "--cert",
      `${f.p12}:wrong`,
      `https://localhost:${gw.port}/`,
    ]);
    assert.notEqual(bad.exitCode, 0);
    assert.match(bad.stderr, /could not parse PKCS12|mac verify|PKCS12/i);
  }
  // Without any certificate nginx refuses: the 200s above came from the .p12 files.
  const none = await curlWithCert(gw.port, { cacert: srv.cert });
  assert.equal(none.status, 400);
});

test("partner issue --generate --p12 legacy-des: the .p12 sits next to the PEM files in the bundle; its password only on stderr, once", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "p12@partner.example" });
  assert.equal((await mtls(["partner", "add", "bundled", "--pgp-key", key.publicFile], { cwd: dir })).exitCode, 0);
  const r = await mtls(["partner", "issue", "bundled", "--generate", "--p12", "legacy-des", "--bundle", "bundled.zip.pgp"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  const password = /PKCS#12 password \(shown once[^)]*\): (\S+)/.exec(r.stderr)?.[1];
  assert.ok(password, r.stderr);
  assert.equal((r.stderr.match(new RegExp(password, "g")) ?? []).length, 1);
  assert.doesNotMatch(r.stdout, new RegExp(password));
  assert.match(r.stdout, /PKCS#12: +bundled\.p12 in the bundle \(legacy-des profile\)/);

  assert.equal((await g.gpg(["--import", join(dir, "pki/pgp/home-party.asc")])).exitCode, 0);
  const zip = join(dir, "bundled.zip");
  const d = await g.gpg(["--trust-model", "always", "--output", zip, "--decrypt", join(dir, "bundled.zip.pgp")]);
  assert.equal(d.exitCode, 0, d.stderr);
  const out = join(dir, "bundled");
  assert.equal((await run("unzip", ["-o", zip, "-d", out])).exitCode, 0);
  assert.deepEqual((await readdir(out)).sort(), ["README.txt", "bundled.p12", "ca.pem", "certificate.pem", "chain.pem", "manifest.json", "private-key.pem"]);
  const manifest = JSON.parse(await readFile(join(out, "manifest.json"), "utf8"));
  assert.ok(manifest.files.some((f: { name: string }) => f.name === "bundled.p12"));
  await writeFile(join(dir, "bundled.pass"), `${password}\n`);
  const info = await openssl(["pkcs12", "-info", "-noout", "-passin", `file:${join(dir, "bundled.pass")}`, "-in", join(out, "bundled.p12")]);
  assert.equal(info.exitCode, 0, info.stderr);

  // The password is in none of the bundle's files and nowhere in the PKI (audit log included).
  for (const f of await readdir(out)) assert.doesNotMatch(await readFile(join(out, f), "latin1"), new RegExp(password), f);
  const { execFileSync } = await import("node:child_process");
  const grep = (() => {
    try {
      return execFileSync("grep", ["-rl", password, join(dir, "pki")]).toString();
    } catch {
      return "";
    }
  })();
  assert.equal(grep, "");
  assert.match(await readFile(join(dir, "pki/audit.log"), "utf8"), /"p12":"legacy-des"/);
});

test("--json: the password needs a destination (exit 2, nothing issued); --p12-password-in-json puts it in the result", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "json@partner.example" });
  assert.equal((await mtls(["partner", "add", "jsonp", "--pgp-key", key.publicFile], { cwd: dir })).exitCode, 0);
  const before = await snapshot(join(dir, "pki"));
  const refused = await mtls(["partner", "issue", "jsonp", "--generate", "--p12", "modern", "--bundle", "j1.zip.pgp", "--json"], { cwd: dir });
  assert.equal(refused.exitCode, 2);
  assert.equal(json(refused).error?.code, "ERR_P12_PASSWORD_DESTINATION");
  assert.deepEqual(await snapshot(join(dir, "pki")), before);

  const r = await mtls(["partner", "issue", "jsonp", "--generate", "--p12", "modern", "--bundle", "j2.zip.pgp", "--json", "--p12-password-in-json"], {
    cwd: dir,
  });
  assert.equal(r.exitCode, 0, r.stderr);
  const doc = json(r).result;
  assert.match(doc.p12Password, /^[a-z2-9-]{29}$/);
  assert.equal(doc.p12.password, undefined);
  assert.equal(doc.p12.profile, "modern");
  assert.doesNotMatch(r.stderr, new RegExp(doc.p12Password));

  const noBundle = await mtls(["partner", "issue", "jsonp", "--generate", "--p12", "modern", "--out-key", join(dir, "x.key")], { cwd: dir });
  assert.equal(noBundle.exitCode, 2, "a .p12 without a bundle is refused: use p12 create");
});

test("p12 create: a PKCS#12 for a key the user supplies (openssl-made P-384, encrypted); a key that is not the certificate's is refused", async () => {
  const key = join(dir, "own.key");
  const cert = join(dir, "own.pem");
  const kpass = join(dir, "own.keypass");
  await writeFile(kpass, "key passphrase\n");
  const mk = await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:secp384r1",
    "-passout",
    `file:${kpass}`,
    "-keyout",
    key,
    "-out",
    cert,
    "-subj",
    "/CN=own.example",
    "-days",
    "3",
  ]);
  assert.equal(mk.exitCode, 0, mk.stderr);
  const out = join(dir, "own.p12");
  const r = await mtls([
    "p12",
    "create",
    "--cert",
    cert,
    "--key",
    key,
    "--key-passphrase-file",
    kpass,
    "--profile",
    "legacy-des",
    "--out",
    out,
    "--p12-password-file",
    join(dir, "own.pass"),
  ]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /friendly name: +own\.example/);
  const dump = await openssl(["pkcs12", "-in", out, "-passin", `file:${join(dir, "own.pass")}`, "-nodes", "-nocerts"]);
  assert.equal(dump.exitCode, 0, dump.stderr);
  assert.match((await openssl(["pkey", "-noout", "-text"], { input: dump.stdout })).stdout, /NIST CURVE: P-384/);

  const other = await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", join(dir, "other.key")]);
  assert.equal(other.exitCode, 0);
  const bad = await mtls([
    "p12",
    "create",
    "--cert",
    cert,
    "--key",
    join(dir, "other.key"),
    "--out",
    join(dir, "bad.p12"),
    "--p12-password-file",
    join(dir, "bad.pass"),
    "--json",
  ]);
  assert.equal(bad.exitCode, 3);
  assert.equal(json(bad).error?.code, "ERR_KEY_MISMATCH");
  await assert.rejects(stat(join(dir, "bad.p12")));
  const noKey = await mtls(["partner", "export", "p-modern-ec-p256", "--format", "p12", "--out", join(dir, "nokey.p12")], { cwd: dir });
  assert.equal(noKey.exitCode, 2);
  assert.match(noKey.stderr, /--key <file>/);
});

test("PKCS#12 options where no PKCS#12 is made are refused (exit 2), not ignored", async () => {
  const cases = [
    ["partner", "issue", "x", "--generate", "--out-key", join(dir, "ignored.key"), "--p12-password-file", join(dir, "ignored.pass")],
    ["partner", "export", "p-modern-ec-p256", "--out", join(dir, "ignored.zip"), "--no-encrypt", "--p12", "legacy-des"],
    ["partner", "export", "p-modern-ec-p256", "--out", join(dir, "ignored.zip"), "--no-encrypt", "--key", join(dir, "p-modern-ec-p256.key")],
    ["partner", "export", "p-modern-ec-p256", "--out", join(dir, "ignored.zip"), "--no-encrypt", "--p12-password-in-json"],
  ];
  const before = await snapshot(join(dir, "pki"));
  for (const args of cases) {
    const r = await mtls([...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 2, `${args.join(" ")}: ${r.stdout}`);
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  await assert.rejects(stat(join(dir, "ignored.key")));
});

test("p12 create and partner export: a --key asking for more PBKDF2 iterations than mtls runs is refused (exit 3) before decrypting", async () => {
  const { NULL, octets, oid, seq, uint } = await import("../../src/core/der.js");
  const { encodePem } = await import("../../src/core/pem.js");
  const alg = seq(
    oid("1.2.840.113549.1.5.13"),
    seq(
      seq(oid("1.2.840.113549.1.5.12"), seq(octets(Buffer.alloc(16)), uint(5_000_001), seq(oid("1.2.840.113549.2.9"), NULL))),
      seq(oid("2.16.840.1.101.3.4.1.42"), octets(Buffer.alloc(16))),
    ),
  );
  const key = join(dir, "costly.key");
  await writeFile(key, encodePem("ENCRYPTED PRIVATE KEY", seq(alg, octets(Buffer.alloc(48)))));
  const kpass = join(dir, "costly.keypass");
  await writeFile(kpass, "pass\n");
  const issued = await mtls(
    ["partner", "issue", "costly", "--generate", "--out-key", join(dir, "costly-real.key"), "--out", join(dir, "costly.pem"), "--json"],
    {
      cwd: dir,
    },
  );
  assert.equal(issued.exitCode, 0, issued.stdout);
  for (const args of [
    ["p12", "create", "--cert", join(dir, "costly.pem")],
    ["partner", "export", "costly", "--format", "p12"],
  ]) {
    const out = join(dir, `costly-${args[0]}.p12`);
    const r = await mtls([...args, "--key", key, "--key-passphrase-file", kpass, "--out", out, "--p12-password-file", `${out}.pass`, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, r.stdout + r.stderr);
    assert.equal(json(r).error?.code, "ERR_KDF_WORK");
    assert.match(json(r).error?.message ?? "", /costly\.key asks for 5000001 key-derivation iterations; mtls runs at most 5000000/);
    await assert.rejects(stat(out));
  }
});

test("p12 create: a --name with control characters is refused; one in the CN is escaped; an unrelated --chain certificate is warned about", async () => {
  const mk = (name: string, subj: string) =>
    openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, `${name}.key`),
      "-out",
      join(dir, `${name}.pem`),
      "-subj",
      subj,
      "-days",
      "3",
    ]);
  assert.equal((await mk("ctl", "/CN=evil\u001b[2Jname")).exitCode, 0);
  assert.equal((await mk("stray", "/CN=Stray CA")).exitCode, 0);
  const create = (out: string, extra: string[]) =>
    mtls([
      "p12",
      "create",
      "--cert",
      join(dir, "ctl.pem"),
      "--key",
      join(dir, "ctl.key"),
      "--out",
      join(dir, out),
      "--p12-password-file",
      join(dir, `${out}.pass`),
      "--json",
      ...extra,
    ]);
  const named = await create("named.p12", ["--name", "alias\u0007\u202e"]);
  assert.equal(named.exitCode, 3, named.stdout);
  assert.equal(json(named).error?.code, "ERR_P12_NAME");
  assert.doesNotMatch(named.stdout + named.stderr, /[\u0007\u001b\u202e]/);
  await assert.rejects(stat(join(dir, "named.p12")));
  const r = await create("ctl.p12", ["--chain", join(dir, "stray.pem")]);
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  assert.equal(json(r).result.friendlyName, "evil\\u{1b}[2Jname");
  assert.equal(json(r).result.certificates, 2);
  assert.match(json(r).warnings.join("\n"), /CN=Stray CA \(serial [0-9a-f]+\) does not issue CN=evil.*; it is in the file anyway/);
  const info = await openssl(["pkcs12", "-in", join(dir, "ctl.p12"), "-passin", `file:${join(dir, "ctl.p12.pass")}`, "-nokeys", "-info"]);
  assert.equal(info.exitCode, 0, info.stderr);
  assert.doesNotMatch(info.stdout + info.stderr, /\u001b/);
  assert.match(info.stdout, /friendlyName: evil\\u\{1b\}\[2Jname/);
});
