import assert from "node:assert/strict";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls, openssl, snapshot } from "../helpers/run.js";

async function verifyClient(pki: string, cert: string) {
  return openssl([
    "verify",
    "-x509_strict",
    "-purpose",
    "sslclient",
    "-CAfile",
    join(pki, "ca/root.pem"),
    "-untrusted",
    join(pki, "ca/intermediate.pem"),
    cert,
  ]);
}

test("EC and RSA CSRs made by openssl req are issued; openssl verify -purpose sslclient accepts them", async (t) => {
  const dir = await initTempCa(t, ["--crl-url", "http://pki.test.example/crl/issuing.crl"]);
  const pki = join(dir, "pki");
  for (const key of ["ec", "ec-p384", "rsa2048"] as const) {
    const { csr } = await makeCsr(dir, `p-${key}`, { key, addext: [`subjectAltName=DNS:${key}.partner.example,URI:spiffe://example.org/ns/prod/sa/${key}`] });
    const r = await mtls(["partner", "issue", "acme", "--csr", csr, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
    const res = json(r).result;
    assert.match(res.serial, /^[0-9a-f]{32}$/);
    assert.match(res.fingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(res.sans, [`dns:${key}.partner.example`, `uri:spiffe://example.org/ns/prod/sa/${key}`]);
    const v = await verifyClient(pki, res.certPath);
    assert.equal(v.exitCode, 0, v.stdout + v.stderr);
    const text = (await openssl(["x509", "-in", res.certPath, "-noout", "-text"])).stdout;
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(text, /Extended Key Usage: \n\s+TLS Web Client Authentication\n/);
    assert.match(text, /Subject Key Identifier/);
    assert.match(text, /Authority Key Identifier/);
    // SPIFFE IDs must be URI SANs, not DNS names.
    assert.match(text, new RegExp(`DNS:${key}\\.partner\\.example, URI:spiffe://example\\.org/ns/prod/sa/${key}`));
    assert.match(text, /CRL Distribution Points:\s+Full Name:\s+URI:http:\/\/pki\.test\.example\/crl\/issuing\.crl/);
    // Serial in the certificate is the serial we report.
    const serial = (await openssl(["x509", "-in", res.certPath, "-noout", "-serial"])).stdout.trim().replace("serial=", "").toLowerCase();
    assert.equal(serial, res.serial);
    // The full chain file is leaf + intermediate.
    const chain = await readFile(res.chainPath, "utf8");
    assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2);
  }
  const list = json(await mtls(["list", "--json"], { cwd: dir }));
  assert.equal(list.result.certificates.length, 3);
});

test("a CSR asking for CA:true and serverAuth gets a client leaf and a warning", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "greedy", { addext: ["basicConstraints=critical,CA:true", "extendedKeyUsage=serverAuth"] });
  const r = await mtls(["partner", "issue", "greedy", "--csr", csr, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  const doc = json(r);
  assert.match(doc.warnings.join("\n"), /basicConstraints \(CA:true\).*extKeyUsage \(serverAuth\).*not copied/);
  const text = (await openssl(["x509", "-in", doc.result.certPath, "-noout", "-text"])).stdout;
  assert.match(text, /CA:FALSE/);
  assert.doesNotMatch(text, /TLS Web Server Authentication/);
});

test("--cn and --san override the CSR; an empty subject without SANs gets CN=<partner-id>", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "over", { addext: ["subjectAltName=DNS:old.example"] });
  const r = json(
    await mtls(["partner", "issue", "over", "--csr", csr, "--cn", "New Name", "--san", "email:ops@partner.example", "--san", "ip:127.0.0.1", "--json"], {
      cwd: dir,
    }),
  );
  assert.equal(r.result.subject, "CN=New Name");
  assert.deepEqual(r.result.sans, ["email:ops@partner.example", "ip:127.0.0.1"]);
  const bare = await makeCsr(dir, "bare", { subj: "/" });
  const b = json(await mtls(["partner", "issue", "bare-id", "--csr", bare.csr, "--json"], { cwd: dir }));
  assert.equal(b.result.subject, "CN=bare-id");
});

test("tampered, weak, unsupported and non-CSR input is refused with exit 3 and the store unchanged", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const good = await makeCsr(dir, "good");
  const pem = await readFile(good.csr, "utf8");
  // Flip one character inside the subject area of the base64 body: still parses, signature breaks.
  const lines = pem.split("\n");
  const l = lines[2] as string;
  lines[2] = l.slice(0, 10) + (l[10] === "A" ? "B" : "A") + l.slice(11);
  await writeFile(join(dir, "tampered.csr"), lines.join("\n"));
  const weak = await makeCsr(dir, "weak", { key: "rsa1024" });
  const k1 = await makeCsr(dir, "k1", { key: "ec-secp256k1" });
  await writeFile(join(dir, "garbage.csr"), "this is not a CSR\n");
  await writeFile(join(dir, "cert.pem"), await readFile(join(pki, "ca/root.pem")));
  const before = await snapshot(pki);
  const cases: Array<[string, string, RegExp]> = [
    ["tampered.csr", "ERR_CSR_(SIGNATURE|PARSE)", /tampered\.csr/],
    [weak.csr, "ERR_KEY_POLICY", /rsa-1024.*at least 2048/],
    [k1.csr, "ERR_KEY_POLICY", /secp256k1/],
    ["garbage.csr", "ERR_CSR_PARSE", /garbage\.csr/],
    ["cert.pem", "ERR_PEM_LABEL", /not a CERTIFICATE REQUEST \(found: CERTIFICATE\)/],
  ];
  for (const [file, code, message] of cases) {
    const r = await mtls(["partner", "issue", "acme", "--csr", file, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${file}: ${r.stdout}`);
    const doc = json(r);
    assert.match(doc.error?.code ?? "", new RegExp(`^${code}$`), file);
    assert.match(doc.error?.message ?? "", message);
    assert.match(r.stderr, /^error: /m);
  }
  assert.deepEqual(await snapshot(pki), before);
});

test("a DER CSR and a CSR on standard input are accepted", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "der");
  await openssl(["req", "-in", csr, "-outform", "DER", "-out", join(dir, "der.der")]);
  const r = await mtls(["partner", "issue", "der", "--csr", "der.der", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  // The same partner again (#12: its CN belongs to partner der, no other partner may have it).
  const s = await mtls(["partner", "issue", "der", "--csr", "-", "--json"], { cwd: dir, input: await readFile(csr) });
  assert.equal(s.exitCode, 0, s.stderr);
  assert.equal(json(s).result.partnerId, "der");

  // Bytes that begin as a DER CSR are that CSR, never a PEM CSR hidden after it (openssl reads the
  // DER one): trailing data is refused (exit 3) and nothing is issued; two PEM CSRs in one file too.
  const hidden = await makeCsr(dir, "hidden", { subj: "/CN=hidden-name", addext: ["subjectAltName=DNS:payments.unreviewed.example"] });
  await writeFile(join(dir, "poly.der"), Buffer.concat([await readFile(join(dir, "der.der")), Buffer.from("\n"), await readFile(hidden.csr)]));
  await writeFile(join(dir, "two.pem"), Buffer.concat([await readFile(csr), await readFile(hidden.csr)]));
  for (const [file, message] of [
    ["poly.der", /bytes after its DER structure/],
    ["two.pem", /holds 2 CERTIFICATE REQUEST blocks/],
  ] as const) {
    const before = await snapshot(join(dir, "pki"));
    const p = await mtls(["partner", "issue", "der", "--csr", file, "--json"], { cwd: dir });
    assert.equal(p.exitCode, 3, p.stdout);
    assert.match(json(p).error?.message ?? "", message);
    assert.deepEqual(await snapshot(join(dir, "pki")), before);
  }
});

test("--generate writes the key 0600 only where asked; it matches the cert and is nowhere in the PKI", async (t) => {
  const dir = await initTempCa(t);
  const r = await mtls(
    [
      "partner",
      "issue",
      "gen",
      "--generate",
      "--key-type",
      "rsa-2048",
      "--san",
      "uri:spiffe://example.org/partner/gen",
      "--out-key",
      "gen.key",
      "--out",
      "gen.pem",
      "--json",
    ],
    { cwd: dir },
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const res = json(r).result;
  assert.equal(res.source, "generated");
  assert.equal((await stat(join(dir, "gen.key"))).mode & 0o777, 0o600);
  const fromKey = await openssl(["pkey", "-in", join(dir, "gen.key"), "-pubout"]);
  const fromCert = await openssl(["x509", "-in", join(dir, "gen.pem"), "-noout", "-pubkey"]);
  assert.equal(fromKey.stdout, fromCert.stdout);
  const keyBody = (await readFile(join(dir, "gen.key"), "utf8")).split("\n")[1] as string;
  for (const f of await readdir(join(dir, "pki"), { recursive: true })) {
    const p = join(dir, "pki", f);
    if ((await stat(p)).isFile()) assert.ok(!(await readFile(p, "utf8")).includes(keyBody), `key material found in ${f}`);
  }
  assert.ok(!r.stdout.includes(keyBody));
  const noDest = await mtls(["partner", "issue", "gen", "--generate", "--json"], { cwd: dir });
  assert.equal(noDest.exitCode, 2);
  assert.equal(json(noDest).error?.code, "ERR_KEY_DESTINATION");
  const exists = await mtls(["partner", "issue", "gen", "--generate", "--out-key", "gen.key", "--json"], { cwd: dir });
  assert.equal(exists.exitCode, 4);
});

test("partner ids are validated; days and SANs are checked against policy", async (t) => {
  const dir = await initTempCa(t, ["--max-days", "100"]);
  const { csr } = await makeCsr(dir, "p");
  const before = await snapshot(join(dir, "pki"));
  for (const id of ["../x", "Has Space", "UPPER", "a".repeat(65), "_lead", "a/b", ".hidden"]) {
    const r = await mtls(["partner", "issue", id, "--csr", csr, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, id);
    assert.equal(json(r).error?.code, "ERR_PARTNER_ID");
  }
  const long = await mtls(["partner", "issue", "p", "--csr", csr, "--days", "101", "--json"], { cwd: dir });
  assert.equal(long.exitCode, 3);
  assert.equal(json(long).error?.code, "ERR_POLICY_VALIDITY");
  for (const san of ["dns:has space.example", "uri:no-scheme", "ip:999.1.1.1", "dns:*.wild.example", "foo:bar"]) {
    // A bad --san is a bad flag value (exit 2); the same SAN in a CSR or a batch line is input (3).
    const r = await mtls(["partner", "issue", "p", "--csr", csr, "--san", san, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 2, san);
    assert.equal(json(r).error?.code, "ERR_SAN");
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("a wrong passphrase is exit 3 and never echoed; a world-readable CA key is refused", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "p");
  const r = await mtls(["partner", "issue", "p", "--csr", csr, "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "wrong guess 999" } });
  assert.equal(r.exitCode, 3);
  assert.equal(json(r).error?.code, "ERR_PASSPHRASE_WRONG");
  assert.doesNotMatch(r.stdout + r.stderr, /wrong guess 999/);
  const none = await mtls(["partner", "issue", "p", "--csr", csr, "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "" } });
  assert.equal(none.exitCode, 2);
  assert.equal(json(none).error?.code, "ERR_PASSPHRASE_REQUIRED");
  const { chmod } = await import("node:fs/promises");
  await chmod(join(dir, "pki/private/intermediate.key"), 0o644);
  const open = await mtls(["partner", "issue", "p", "--csr", csr, "--json"], { cwd: dir });
  assert.equal(open.exitCode, 5);
  assert.equal(json(open).error?.code, "ERR_KEY_PERMISSIONS");
  assert.match(json(open).error?.hint ?? "", /chmod 600/);
});

test("single-tier CA: the root signs and the leaf verifies against the root alone", async (t) => {
  const dir = await initTempCa(t, ["--no-intermediate"]);
  const { csr } = await makeCsr(dir, "p");
  const r = json(await mtls(["partner", "issue", "p", "--csr", csr, "--json"], { cwd: dir }));
  const v = await openssl(["verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", join(dir, "pki/ca/root.pem"), r.result.certPath]);
  assert.equal(v.exitCode, 0, v.stderr);
});
