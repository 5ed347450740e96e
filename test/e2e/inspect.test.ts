// #19: `mtls inspect` reports what `openssl x509/req/crl/pkey/pkcs12` report about files openssl
// made, detects PEM and DER by itself, and triggers each lint on a file made to fail it.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { json, mtls, openssl, type RunResult } from "../helpers/run.js";

let dir: string;
let other: string;
let partnerCert: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-inspect-"));
  assert.equal((await mtls(["ca", "init", "--name", "Inspect Test", "--org", "Test Org", "--json"], { cwd: dir })).exitCode, 0);
  const p = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key", "--out", "acme.pem", "--san", "dns:acme.example", "--json"], {
    cwd: dir,
  });
  assert.equal(p.exitCode, 0, p.stdout);
  partnerCert = join(dir, "acme.pem");
  // A second CA made with openssl ca, for files that are not this PKI's.
  other = join(dir, "other");
  await mkdir(join(other, "newcerts"), { recursive: true });
  await writeFile(join(other, "index.txt"), "");
  await writeFile(join(other, "serial"), "1000\n");
  await writeFile(join(other, "crlnumber"), "01\n");
  await writeFile(
    join(other, "ca.cnf"),
    `[ca]\ndefault_ca = d\n[d]\ndir = ${other}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/newcerts\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\ndefault_crl_days = 7\nunique_subject = no\n[p]\ncommonName = supplied\n`,
  );
  await ok(
    openssl([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      o("ca.key"),
      "-out",
      o("ca.pem"),
      "-subj",
      "/CN=Other CA",
      "-days",
      "30",
    ]),
  );
});
after(() => rm(dir, { recursive: true, force: true }));

const o = (name: string) => join(other, name);
const ca = (extra: string[]) => openssl(["ca", "-batch", "-config", o("ca.cnf"), "-keyfile", o("ca.key"), "-cert", o("ca.pem"), ...extra]);

async function ok(p: Promise<RunResult>): Promise<RunResult> {
  const r = await p;
  assert.equal(r.exitCode, 0, r.stderr);
  return r;
}

/** `mtls inspect --json` in the PKI's directory; returns the result. */
async function inspect(file: string, extra: string[] = []) {
  const r = await mtls(["inspect", file, "--json", ...extra], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  return json(r).result;
}

const lintIds = (result: { lints: Array<{ id: string }> }) => result.lints.map((l) => l.id).sort();
const opensslSans = (text: string) =>
  (/Subject Alternative Name: *\n\s*(.*)/.exec(text)?.[1] ?? "").split(", ").map((s) =>
    s
      .replace(/^DNS:/, "dns:")
      .replace(/^IP Address:/, "ip:")
      .replace(/^URI:/, "uri:")
      .replace(/^email:/, "email:"),
  );

test("a certificate made by openssl, PEM and DER: serial, subject, SANs, validity, key type as openssl x509 -text reports them", async () => {
  const key = join(dir, "c.key");
  const pem = join(dir, "c.pem");
  await ok(
    openssl([
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      key,
      "-out",
      pem,
      "-days",
      "400",
      "-subj",
      "/C=DE/O=Partner GmbH/CN=api.partner.example",
      "-addext",
      "subjectAltName=DNS:api.partner.example,IP:10.0.0.1,URI:spiffe://partner.example/api,email:ops@partner.example",
      "-addext",
      "extendedKeyUsage=clientAuth",
    ]),
  );
  const der = join(dir, "c.der");
  await ok(openssl(["x509", "-in", pem, "-outform", "DER", "-out", der]));
  const text = (await ok(openssl(["x509", "-in", pem, "-noout", "-text"]))).stdout;
  const serial = (await ok(openssl(["x509", "-in", pem, "-noout", "-serial"]))).stdout.trim().replace("serial=", "").toLowerCase().replace(/^0+/, "");
  const subject = (await ok(openssl(["x509", "-in", pem, "-noout", "-subject", "-nameopt", "sep_comma_plus_space"]))).stdout.trim().replace("subject=", "");
  const dates = (await ok(openssl(["x509", "-in", pem, "-noout", "-startdate", "-enddate"]))).stdout;
  const [nb, na] = [/notBefore=(.*)/, /notAfter=(.*)/].map((re) => new Date(re.exec(dates)?.[1] as string).toISOString().replace(".000Z", "Z"));
  for (const [file, format] of [
    [pem, "pem"],
    [der, "der"],
  ] as const) {
    const r = await inspect(file);
    assert.equal(r.format, format);
    const c = r.objects[0];
    assert.equal(c.type, "certificate");
    assert.equal(c.serial, serial);
    assert.equal(c.subject, subject);
    assert.deepEqual(c.sans, opensslSans(text));
    assert.equal(c.notBefore, nb);
    assert.equal(c.notAfter, na);
    assert.equal(c.publicKey.type, "rsa-2048");
    assert.match(text, /Public-Key: \(2048 bit\)/);
    assert.equal(c.signatureAlgorithm, /Signature Algorithm: (\S+)/.exec(text)?.[1]);
    assert.deepEqual(c.extKeyUsage, ["clientAuth"]);
  }
  // Human output like step/openssl, on stdout; standard input works too.
  const human = await mtls(["inspect", "-"], { cwd: dir, input: await readFile(pem) });
  assert.equal(human.exitCode, 0, human.stderr);
  assert.match(human.stdout, /Certificate 1:\n {4}Serial Number: [0-9a-f]+\n/);
  assert.match(human.stdout, /Subject: C=DE, O=Partner GmbH, CN=api\.partner\.example/);
  assert.match(human.stdout, /Public Key Algorithm: rsa-2048/);
});

test("a CSR, a CRL and keys (clear, encrypted PKCS#8, encrypted traditional) made by openssl; a key is never printed", async () => {
  const { csr } = await makeCsr(dir, "r", { key: "ec-p384", subj: "/O=Req/CN=req.example", addext: ["subjectAltName=DNS:req.example"] });
  const req = (await inspect(csr)).objects[0];
  const reqText = (await ok(openssl(["req", "-in", csr, "-noout", "-text"]))).stdout;
  assert.equal(req.type, "csr");
  assert.equal(req.subject, "O=Req, CN=req.example");
  assert.deepEqual(req.sans, opensslSans(reqText));
  assert.equal(req.publicKey.type, "ec-p384");
  assert.match(reqText, /NIST CURVE: P-384/);
  assert.equal(req.signatureValid, true);

  await makeCsr(other, "rev", { subj: "/CN=rev.example" });
  await ok(ca(["-in", o("rev.csr"), "-out", o("rev.pem"), "-days", "5"]));
  await ok(ca(["-revoke", o("rev.pem"), "-crl_reason", "keyCompromise"]));
  await ok(ca(["-gencrl", "-out", o("fresh.crl")]));
  const crl = (await inspect(o("fresh.crl"))).objects[0];
  const crlText = (await ok(openssl(["crl", "-in", o("fresh.crl"), "-noout", "-text"]))).stdout;
  assert.equal(crl.type, "crl");
  assert.equal(crl.issuer, "CN=Other CA");
  assert.equal(crl.number, /CRL Number: *\n\s*(\d+)/.exec(crlText)?.[1]);
  assert.equal(crl.thisUpdate, new Date(/Last Update: (.*)/.exec(crlText)?.[1] as string).toISOString().replace(".000Z", "Z"));
  assert.equal(crl.nextUpdate, new Date(/Next Update: (.*)/.exec(crlText)?.[1] as string).toISOString().replace(".000Z", "Z"));
  assert.deepEqual(
    crl.entries.map((e: { serial: string; reason: string }) => [e.serial, e.reason]),
    [["1000", "keyCompromise"]],
  );
  assert.match(crlText, /Serial Number: 1000[\s\S]*Key Compromise/);

  const clear = join(dir, "clear.key");
  const enc8 = join(dir, "enc8.key");
  const trad = join(dir, "trad.key");
  await ok(openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", clear]));
  await ok(openssl(["pkey", "-in", clear, "-aes256", "-passout", "pass:secret", "-out", enc8]));
  await ok(openssl(["genrsa", "-aes128", "-passout", "pass:secret", "-traditional", "-out", trad, "2048"]));
  const k = (await inspect(clear)).objects[0];
  assert.deepEqual([k.type, k.encrypted, k.publicKey.type], ["private-key", false, "ec-p256"]);
  assert.equal(k.publicKeyPem, (await ok(openssl(["pkey", "-in", clear, "-pubout"]))).stdout);
  const e = (await inspect(enc8)).objects[0];
  assert.deepEqual([e.encrypted, e.publicKey], [true, undefined]);
  assert.match(e.encryption, /PBES2 \(PBKDF2-HMAC-SHA256, AES-256-CBC\)/);
  const tr = (await inspect(trad)).objects[0];
  assert.deepEqual([tr.encrypted, tr.format, tr.encryption], [true, "RSA PRIVATE KEY (traditional)", "AES-128-CBC"]);
  // Nothing of a private key reaches the output, in either mode.
  const secretBody = (await readFile(clear, "utf8")).split("\n")[1] as string;
  for (const args of [
    ["inspect", clear],
    ["inspect", clear, "--json"],
  ]) {
    const r = await mtls(args, { cwd: dir });
    assert.doesNotMatch(r.stdout + r.stderr, /PRIVATE KEY-----/);
    assert.ok(!(r.stdout + r.stderr).includes(secretBody.slice(0, 40)));
  }
});

test("a PKCS#12 made by openssl: structure without a password; certificates and key with --password-file; a wrong one exits 3", async () => {
  const pw = join(dir, "o.pass");
  await writeFile(pw, "p12 password\n");
  const p12 = join(dir, "o.p12");
  await ok(openssl(["pkcs12", "-export", "-inkey", join(dir, "acme.key"), "-in", partnerCert, "-name", "acme", "-passout", `file:${pw}`, "-out", p12]));
  const closed = await inspect(p12);
  assert.equal(closed.objects[0].type, "pkcs12");
  assert.equal(closed.objects[0].profile, "modern", "OpenSSL 3's default uses the modern profile's algorithms");
  assert.equal(closed.objects[0].mac.algorithm, "HMAC-SHA-256");
  assert.ok(closed.notes.some((n: string) => /--password-file/.test(n)));
  const open_ = await inspect(p12, ["--password-file", pw]);
  assert.equal(open_.objects[0].mac.verified, true);
  assert.deepEqual(open_.objects[0].friendlyNames, ["acme"]);
  const pub = (await ok(openssl(["pkey", "-in", join(dir, "acme.key"), "-pubout", "-outform", "DER"]))).stdout;
  assert.ok(pub.length > 0);
  const cert = open_.objects.find((x: { type: string }) => x.type === "certificate");
  assert.equal(cert.serial, json(await mtls(["inspect", partnerCert, "--json"], { cwd: dir })).result.objects[0].serial);
  assert.equal(open_.objects[0].keys[0].publicKey.spkiSha256, cert.publicKey.spkiSha256);
  await writeFile(join(dir, "wrong.pass"), "nope\n");
  const wrong = await mtls(["inspect", p12, "--password-file", join(dir, "wrong.pass"), "--json"], { cwd: dir });
  assert.equal(wrong.exitCode, 3);
  assert.equal(json(wrong).error?.code, "ERR_P12_PASSWORD");
});

test("each lint fires on a file made to fail it, with its reason; a clean partner certificate has none; --strict exits 1", async () => {
  const clean = await mtls(["inspect", partnerCert, "--strict", "--json"], { cwd: dir });
  assert.equal(clean.exitCode, 0, clean.stdout);
  assert.deepEqual(json(clean).result.lints, []);

  const csrFor = async (name: string, extra: string[] = [], newkey = ["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]) => {
    await ok(
      openssl(["req", "-new", "-newkey", ...newkey, "-nodes", "-keyout", o(`${name}.key`), "-out", o(`${name}.csr`), "-subj", `/CN=${name}.example`, ...extra]),
    );
    return o(`${name}.csr`);
  };
  await ok(ca(["-in", await csrFor("expired"), "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-out", o("expired.pem")]));
  await ok(ca(["-in", await csrFor("future"), "-startdate", "20991201000000Z", "-enddate", "20991231000000Z", "-out", o("future.pem")]));
  await ok(ca(["-in", await csrFor("soon"), "-days", "10", "-out", o("soon.pem")]));
  await ok(ca(["-in", await csrFor("weak", [], ["rsa:1024"]), "-days", "100", "-out", o("weak.pem")]));
  await ok(ca(["-in", await csrFor("mismatch", ["-addext", "subjectAltName=DNS:other.example"]), "-days", "100", "-out", o("mismatch.pem")]));
  await ok(ca(["-in", await csrFor("sha1"), "-days", "100", "-md", "sha1", "-out", o("sha1.pem")]));
  // A CSR whose signature no longer matches: flip the last byte of its DER.
  await ok(openssl(["req", "-in", await csrFor("tampered"), "-outform", "DER", "-out", o("tampered.der")]));
  const tampered = await readFile(o("tampered.der"));
  tampered.writeUInt8((tampered.at(-1) as number) ^ 0x01, tampered.length - 1);
  await writeFile(o("tampered.der"), tampered);
  await ok(ca(["-gencrl", "-crl_lastupdate", "20200101000000Z", "-crl_nextupdate", "20200108000000Z", "-out", o("stale.crl")]));
  const server = await mtls(["server", "issue", "gw", "--dns", "gw.example", "--out", "gw.pem", "--out-key", "gw.key"], { cwd: dir });
  assert.equal(server.exitCode, 0, server.stderr);
  const revoked = await mtls(["partner", "issue", "gone", "--generate", "--out-key", "gone.key", "--out", "gone.pem", "--json"], { cwd: dir });
  assert.equal((await mtls(["revoke", json(revoked).result.serial, "--yes"], { cwd: dir })).exitCode, 0);
  const serial = json(await mtls(["list", "--partner", "acme", "--json"], { cwd: dir })).result.certificates[0].serial;
  const chain = await readFile(join(dir, `pki/certs/${serial}.chain.pem`), "utf8");
  const [leaf, inter] = chain.split(/(?<=-----END CERTIFICATE-----\n)/);
  await writeFile(join(dir, "reversed.pem"), `${inter}${leaf}`);
  await writeFile(join(dir, "gap.pem"), `${leaf}${await readFile(join(dir, "pki/ca/root.pem"), "utf8")}`);

  const cases: Array<[string, string, RegExp, string[]?]> = [
    [o("expired.pem"), "expired", /expired at 2020-02-01T00:00:00Z/],
    [o("future.pem"), "not-yet-valid", /not valid before 2099-12-01/],
    [o("soon.pem"), "expiring", /expires within 30 days/],
    [o("weak.pem"), "weak-key", /rsa-1024: under 2048 bits/],
    [o("mismatch.pem"), "san-cn-mismatch", /mismatch\.example is not among the SANs/],
    [o("soon.pem"), "not-issued-by-this-pki", /not signed by a CA of this PKI \(issuer CN=Other CA\)/],
    [join(dir, "gw.pem"), "no-client-auth", /no clientAuth in the extended key usage \(serverAuth\)/],
    [join(dir, "gone.pem"), "revoked", /revoked at .* \(unspecified\) on this PKI's CRL/],
    [join(dir, "reversed.pem"), "chain-out-of-order", /certificate 2 \(CN=acme\) is not followed by its issuer/],
    [join(dir, "gap.pem"), "chain-incomplete", /is not in the file/],
    [o("stale.crl"), "crl-stale", /past its nextUpdate \(2020-01-08T00:00:00Z\)/],
    [o("stale.crl"), "crl-not-signed-by-this-ca", /not signed by a CA of this PKI/],
    [o("soon.pem"), "expiring", /expires within 400 days/, ["--expiring-within", "400d"]],
    [o("sha1.pem"), "weak-signature", /signed with sha1WithRSAEncryption|signed with ecdsa-with-SHA1/],
    [o("tampered.der"), "csr-bad-signature", /signature does not verify/],
    [partnerCert, "no-server-auth", /no serverAuth in the extended key usage \(clientAuth\)/, ["--purpose", "server"]],
  ];
  for (const [file, id, reason, extra] of cases) {
    const r = await inspect(file, extra ?? []);
    const lint = r.lints.find((l: { id: string }) => l.id === id);
    assert.ok(lint, `${file}: expected ${id}, got ${JSON.stringify(lintIds(r))}`);
    assert.match(lint.message, reason);
    const strict = await mtls(["inspect", file, "--strict", ...(extra ?? [])], { cwd: dir });
    assert.equal(strict.exitCode, 1, `${file} --strict`);
    assert.match(strict.stdout, new RegExp(`✖ ${id} `));
  }
  // The server certificate is clean for its own purpose.
  assert.deepEqual((await inspect(join(dir, "gw.pem"), ["--purpose", "server"])).lints, []);
  // This PKI's own CRL, signed by it and current: no lints.
  assert.deepEqual((await inspect(join(dir, "pki/crl/crl-bundle.pem"))).lints, []);
});

test("hostile subjects print terminal-safe; oversized and unknown input is refused with exit 3", async () => {
  const evil = "evil\u202egnp.exe\u001b[31m";
  await ok(
    openssl([
      "req",
      "-x509",
      "-utf8",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "evil.key"),
      "-out",
      join(dir, "evil.pem"),
      "-subj",
      `/CN=${evil}`,
      "-days",
      "100",
    ]),
  );
  const r = await mtls(["inspect", join(dir, "evil.pem")], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.ok(!r.stdout.includes("\u202e") && !r.stdout.includes("\u001b"), "no raw bidi or escape character");
  assert.match(r.stdout, /CN=evil\\u\{202e\}gnp\.exe\\u\{1b\}\[31m/);
  assert.equal(json(await mtls(["inspect", join(dir, "evil.pem"), "--json"], { cwd: dir })).result.objects[0].subject, `CN=${evil}`);

  const big = join(dir, "big.pem");
  const fh = await open(big, "w");
  await fh.truncate(33 * 1024 * 1024);
  await fh.close();
  const tooBig = await mtls(["inspect", big, "--json"], { cwd: dir });
  assert.equal(tooBig.exitCode, 3);
  assert.equal(json(tooBig).error?.code, "ERR_INPUT_TOO_LARGE");
  await writeFile(join(dir, "junk.bin"), "just some text\n");
  const junk = await mtls(["inspect", join(dir, "junk.bin"), "--json"], { cwd: dir });
  assert.equal(junk.exitCode, 3);
  assert.equal(json(junk).error?.code, "ERR_INSPECT_UNKNOWN");
});

test("invisible characters in a subject (soft hyphen, U+180E, a tag character) are shown escaped, not drawn as nothing", async () => {
  const cn = "acme\u00ad-cli\u180eent\u{e0020}";
  const { csr } = await makeCsr(dir, "invisible", { subj: `/CN=${cn}`, extra: ["-utf8"] });
  const r = await mtls(["inspect", csr], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.ok(!/[\u00ad\u180e]|\u{e0020}/u.test(r.stdout), "no raw invisible character");
  assert.match(r.stdout, /Subject: CN=acme\\u\{ad\}-cli\\u\{180e\}ent\\u\{e0020\}/);
  // --json keeps the value, as \u escapes a terminal does not act on.
  const doc = await mtls(["inspect", csr, "--json"], { cwd: dir });
  assert.ok(!/[\u00ad\u180e]|\u{e0020}/u.test(doc.stdout), "no raw invisible character in --json");
  assert.equal(json(doc).result.objects[0].subject, `CN=${cn}`);
});

test("delivery bundles: a plain zip shows its manifest; an encrypted one the key ids gpg names, without decrypting", async (t) => {
  const plain = await mtls(["partner", "export", "acme", "--no-encrypt", "--out", "acme.zip"], { cwd: dir });
  assert.equal(plain.exitCode, 0, plain.stderr);
  const z = (await inspect(join(dir, "acme.zip"))).objects[0];
  assert.equal(z.container, "zip");
  assert.equal(z.manifest.partnerId, "acme");
  assert.ok(z.files.some((f: { name: string }) => f.name === "certificate.pem"));
  if (!haveGpg()) return t.skip("gpg is not installed");
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "inspect@partner.example" });
  assert.equal((await mtls(["partner", "add", "acme", "--pgp-key", key.publicFile], { cwd: dir })).exitCode, 0);
  for (const armor of [[], ["--armor"]]) {
    const out = `acme${armor.length ? ".asc" : ".pgp"}`;
    assert.equal((await mtls(["partner", "export", "acme", "--out", out, ...armor], { cwd: dir })).exitCode, 0);
    const b = await inspect(join(dir, out));
    const packets = await g.gpg(["--list-packets", "--list-only", join(dir, out)]);
    const keyids = [...(packets.stdout + packets.stderr).matchAll(/keyid ([0-9A-F]{16})/g)].map((m) => m[1]);
    assert.equal(b.objects[0].container, "openpgp");
    assert.equal(b.objects[0].armored, armor.length > 0);
    assert.deepEqual(b.objects[0].recipients, [...new Set(keyids)]);
    assert.ok(b.notes.some((n: string) => /encrypted/.test(n)));
  }
});

/** `mtls inspect --json` of crafted bytes: exit 3, one JSON document naming the error, no stack on stderr. */
async function refused(name: string, bytes: Uint8Array, code: string, extra: string[] = []) {
  const file = join(dir, name);
  await writeFile(file, bytes);
  const r = await mtls(["inspect", file, "--json", ...extra], { cwd: dir });
  assert.equal(r.exitCode, 3, `${name}: ${r.stdout}${r.stderr}`);
  const doc = json(r);
  assert.equal(doc.error?.code, code, name);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, name);
  const human = await mtls(["inspect", file, ...extra], { cwd: dir });
  assert.equal(human.exitCode, 3, name);
  assert.match(human.stderr, /^error: [^\n]+\n( {2}hint: [^\n]+\n)?$/, name);
  return doc.error;
}

test("crafted files end in exit 3 and one JSON document: 1-3 bytes, key-shaped DER, a key bag that is not a key, a 5,000-deep manifest", async () => {
  const { NULL, octets, oid, seq, tlv, uint } = await import("../../src/core/der.js");
  const { makeZip } = await import("../../src/core/bundle/zip.js");
  await refused("one.bin", Buffer.from([0x30]), "ERR_INSPECT_UNKNOWN");
  await refused("three.bin", Buffer.from([0x50, 0x4b, 0x03]), "ERR_INSPECT_UNKNOWN");
  await refused("epk-empty.der", seq(seq(), octets(Buffer.alloc(8))), "ERR_INSPECT_PARSE");
  await refused("epk-pbes2.der", seq(seq(oid("1.2.840.113549.1.5.13"), seq()), octets(Buffer.alloc(8))), "ERR_INSPECT_PARSE");
  const ex0 = (b: Buffer) => tlv(0xa0, b);
  const data = (b: Buffer) => seq(oid("1.2.840.113549.1.7.1"), ex0(octets(b)));
  const keyBag = seq(oid("1.2.840.113549.1.12.10.1.1"), ex0(seq(uint(0), seq(oid("1.2.3.4")), octets(Buffer.from("x")))));
  const mac = seq(seq(seq(oid("1.3.14.3.2.26"), NULL), octets(Buffer.alloc(20))), octets(Buffer.alloc(8)), uint(1));
  await refused("keybag.p12", seq(uint(3), data(seq(data(seq(keyBag)))), mac), "ERR_INSPECT_PARSE");
  const deep = Buffer.from(`${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`);
  const error = await refused("deep.zip", await makeZip([{ name: "manifest.json", data: deep, mode: 0o644 }]), "ERR_INSPECT_PARSE");
  assert.match(error?.message ?? "", /nests 5000 levels deep/);
});

test("PKCS#12 key derivation is bounded per file: four parts each under the per-part cap are refused before any runs", async () => {
  const { NULL, octets, oid, seq, tlv, uint } = await import("../../src/core/der.js");
  const ex0 = (b: Buffer) => tlv(0xa0, b);
  const pbes2 = seq(
    oid("1.2.840.113549.1.5.13"),
    seq(
      seq(oid("1.2.840.113549.1.5.12"), seq(octets(Buffer.alloc(16)), uint(4_000_000), seq(oid("1.2.840.113549.2.9"), NULL))),
      seq(oid("2.16.840.1.101.3.4.1.42"), octets(Buffer.alloc(16))),
    ),
  );
  const part = seq(oid("1.2.840.113549.1.7.6"), ex0(seq(uint(0), seq(oid("1.2.840.113549.1.7.1"), pbes2, tlv(0x80, Buffer.alloc(32))))));
  const authSafe = seq(part, part, part, part);
  const mac = seq(seq(seq(oid("1.3.14.3.2.26"), NULL), octets(Buffer.alloc(20))), octets(Buffer.alloc(8)), uint(1));
  const p12 = seq(uint(3), seq(oid("1.2.840.113549.1.7.1"), ex0(octets(authSafe))), mac);
  const pw = join(dir, "budget.pass");
  await writeFile(pw, "pw\n");
  const error = await refused("budget.p12", p12, "ERR_KDF_WORK", ["--password-file", pw]);
  assert.match(error?.message ?? "", /budget\.p12 asks for more key-derivation work than mtls does for one file/);
  // Without a password nothing is derived: the structure is reported as before.
  assert.equal((await inspect(join(dir, "budget.p12"))).objects[0].encryption.length, 4);
});

test("a CRL of 50,000 entries: human output lists 50 of them, --json every one, in order", async () => {
  const { oid, seq, tlv, uint } = await import("../../src/core/der.js");
  const time = (s: string) => tlv(0x17, Buffer.from(s));
  const entries = Array.from({ length: 50_000 }, (_, i) => seq(uint(i + 1), time("250101000000Z")));
  const alg = seq(oid("1.2.840.10045.4.3.2"));
  const name = seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from("Big CRL")))));
  const crl = seq(seq(uint(1), alg, name, time("250101000000Z"), time("250108000000Z"), seq(...entries)), alg, tlv(0x03, Buffer.from([0, 1])));
  const file = join(dir, "big.crl");
  await writeFile(file, crl);
  const result = await inspect(file);
  assert.equal(result.objects[0].entries.length, 50_000);
  assert.deepEqual(result.objects[0].entries[49_999], { serial: (50_000).toString(16), revokedAt: "2025-01-01T00:00:00Z", reason: "unspecified" });
  const human = await mtls(["inspect", file], { cwd: dir });
  assert.equal(human.exitCode, 0, human.stderr);
  assert.match(human.stdout, /Revoked Certificates \(50000\):\n( {8}[0-9a-f]+ 2025-01-01T00:00:00Z unspecified\n){50} {8}… and 49950 more/);
});
