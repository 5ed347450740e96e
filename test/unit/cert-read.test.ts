// #21: certificates are read without @peculiar/x509 (it costs as much start-up time as Node
// itself). The reader must say exactly what x509 says, since subjects are stored and compared:
// openssl makes certificates with awkward names and extensions, and both readers read them.
import "reflect-metadata";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as x509 from "@peculiar/x509";
import { isSignedBy, parseCertificate } from "../../src/core/cert.js";
import { parseCsr } from "../../src/core/csr.js";
import { MtlsError } from "../../src/core/errors.js";
import { commonNamesFromText, describeName, nameText } from "../../src/core/name.js";
import { decodePemBlocks, looksLikePem, pemOrDer } from "../../src/core/pem.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-cert-read-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      join(dir, "ca.key"),
      "-out",
      join(dir, "ca.pem"),
      "-subj",
      "/CN=Test CA",
      "-days",
      "3",
    ],
    { stdio: "ignore" },
  );
});
after(() => (process.env.KEEP ? undefined : rm(dir, { recursive: true, force: true })));

/** A leaf signed by the test CA; `mask` picks the string type openssl writes (string_mask). */
async function make(name: string, subj: string, exts: string[], mask = "utf8only", extraArgs: string[] = []): Promise<Buffer> {
  const cnf = join(dir, `${name}.cnf`);
  await writeFile(cnf, `[req]\ndistinguished_name=dn\nstring_mask=${mask}\nutf8=yes\n[dn]\n[ext]\n${exts.join("\n")}\n`);
  const csr = execFileSync(
    "openssl",
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-subj", subj, "-config", cnf, ...extraArgs],
    { encoding: "utf8" },
  );
  await writeFile(join(dir, `${name}.csr`), csr);
  execFileSync(
    "openssl",
    [
      "x509",
      "-req",
      "-in",
      join(dir, `${name}.csr`),
      "-CA",
      join(dir, "ca.pem"),
      "-CAkey",
      join(dir, "ca.key"),
      "-days",
      "2",
      "-extfile",
      cnf,
      "-extensions",
      "ext",
      "-out",
      join(dir, `${name}.pem`),
    ],
    { stdio: "ignore" },
  );
  return decodePemBlocks(await readFile(join(dir, `${name}.pem`), "utf8"))[0]?.der as Buffer;
}

const KU: Array<[number, string]> = [
  [x509.KeyUsageFlags.digitalSignature, "digitalSignature"],
  [x509.KeyUsageFlags.nonRepudiation, "nonRepudiation"],
  [x509.KeyUsageFlags.keyEncipherment, "keyEncipherment"],
  [x509.KeyUsageFlags.dataEncipherment, "dataEncipherment"],
  [x509.KeyUsageFlags.keyAgreement, "keyAgreement"],
  [x509.KeyUsageFlags.keyCertSign, "keyCertSign"],
  [x509.KeyUsageFlags.cRLSign, "cRLSign"],
];

/** What x509 reads, in CertInfo's terms (the reader mtls used before #21). */
function viaX509(der: Buffer) {
  const c = new x509.X509Certificate(new Uint8Array(der));
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  const ku = c.getExtension(x509.KeyUsagesExtension);
  const san = c.getExtension(x509.SubjectAlternativeNameExtension);
  const types: Record<string, string> = { dns: "dns", url: "uri", email: "email", ip: "ip" };
  return {
    serial: c.serialNumber.toLowerCase().replace(/^0+(?=.)/, ""),
    subject: c.subject,
    issuer: c.issuer,
    commonNames: c.subjectName.getField("CN"),
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    spki: Buffer.from(c.publicKey.rawData).toString("hex"),
    subjectDer: Buffer.from(c.subjectName.toArrayBuffer()).toString("hex"),
    sans: (san?.names.items ?? []).filter((n) => types[n.type]).map((n) => ({ type: types[n.type], value: n.value })),
    isCa: bc?.ca ?? false,
    pathLen: bc?.pathLength,
    keyUsage: ku ? KU.filter(([f]) => (ku.usages & f) !== 0).map(([, n]) => n) : [],
    extKeyUsage: Array.from(c.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [], String),
    subjectKeyId: c.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    authorityKeyId: c.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    crlUrls: Array.from(c.getExtension(x509.CRLDistributionPointsExtension)?.distributionPoints ?? []).flatMap((dp) =>
      (dp.distributionPoint?.fullName ?? []).flatMap((g) => (g.uniformResourceIdentifier ? [g.uniformResourceIdentifier] : [])),
    ),
  };
}

const EKU_OIDS: Record<string, string> = { clientAuth: "1.3.6.1.5.5.7.3.2", serverAuth: "1.3.6.1.5.5.7.3.1", OCSPSigning: "1.3.6.1.5.5.7.3.9" };

function viaMtls(der: Buffer) {
  const c = parseCertificate(der);
  return {
    serial: c.serial,
    subject: c.subject,
    issuer: c.issuer,
    commonNames: c.commonNames,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    spki: c.spki.toString("hex"),
    subjectDer: c.subjectDer.toString("hex"),
    sans: c.sans,
    isCa: c.isCa,
    pathLen: c.pathLen,
    keyUsage: c.keyUsage,
    extKeyUsage: c.extKeyUsage.map((u) => EKU_OIDS[u] ?? u),
    subjectKeyId: c.subjectKeyId,
    authorityKeyId: c.authorityKeyId,
    crlUrls: c.crlUrls,
  };
}

const CASES: Array<{ name: string; subj: string; exts: string[]; mask?: string; args?: string[] }> = [
  {
    name: "plain",
    subj: "/C=DE/O=Acme/CN=api.acme.example",
    exts: [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=clientAuth,serverAuth,1.2.3.4",
      "subjectKeyIdentifier=hash",
      "authorityKeyIdentifier=keyid",
      "crlDistributionPoints=URI:http://crl.example/a.crl,URI:http://crl.example/b.crl",
    ],
  },
  {
    name: "escapes",
    subj: '/O=a\\,b\\+c "q" <x>;y\\\\z/OU=#hash/OU= lead and trail /CN=tab\there\nand cr\r',
    exts: ["basicConstraints=critical,CA:TRUE,pathlen:3", "keyUsage=keyCertSign,cRLSign"],
  },
  {
    name: "unicode",
    subj: "/O=Müller & Söhne/CN=日本語 \u{1F600}",
    exts: ["subjectAltName=DNS:a.example,IP:10.0.0.1,IP:2001:db8:0:0:1:0:0:1,IP:::1,IP:fe80:0:0:0:0:0:0:0,email:x@y.example,URI:spiffe://t/w/1"],
  },
  {
    name: "bmp",
    subj: "/O=Zürich BMP/CN=bmp name",
    exts: ["subjectAltName=dirName:dn_sect,otherName:1.2.3.4;UTF8:hi,DNS:b.example", "[dn_sect]", "CN=inner"],
    mask: "MASK:0x800",
  },
  { name: "teletex", subj: "/O=T61 Ünïcode/CN=t61", exts: [], mask: "MASK:0x4" },
  { name: "multi-rdn", subj: "/O=Acme/CN=one+CN=two+OU=ops/DC=example/emailAddress=a@b.example/serialNumber=1234", exts: [], args: ["-multivalue-rdn"] },
  { name: "unknown-oid", subj: "/2.5.4.97=VATDE-1/street=Main/CN=x", exts: [] },
];

for (const c of CASES) {
  test(`certificate "${c.name}" reads as x509 reads it`, async () => {
    const der = await make(c.name, c.subj, c.exts, c.mask, c.args);
    assert.deepEqual(viaMtls(der), viaX509(der));
  });
}

test("the text of a DER Name and a CN in stored text read as x509 reads them", async () => {
  for (const c of CASES) {
    const der = await readFile(join(dir, `${c.name}.pem`), "utf8").then((pem) => decodePemBlocks(pem)[0]?.der as Buffer);
    const cert = new x509.X509Certificate(new Uint8Array(der));
    assert.equal(nameText(Buffer.from(cert.subjectName.toArrayBuffer())), cert.subject);
    assert.deepEqual(commonNamesFromText(cert.subject), new x509.Name(cert.subject).getField("CN"), c.name);
  }
  for (const text of ['CN="quoted, value", O=x', "CN=a\\+b+CN=c", "CN=#0c0161, O=a\\,b", "XX=1\\,2, CN=a", "CN=a\\\\,O=b\\,c"]) {
    let expected: string[];
    try {
      expected = new x509.Name(text).getField("CN");
    } catch {
      expected = [];
    }
    assert.deepEqual(commonNamesFromText(text), expected, text);
  }
});

test("a signature check by the issuer's key: true for the issuer, false for another key", async () => {
  const ca = parseCertificate(decodePemBlocks(await readFile(join(dir, "ca.pem"), "utf8"))[0]?.der as Buffer);
  const leaf = parseCertificate(await make("signed", "/CN=s", []));
  assert.equal(await isSignedBy(leaf, ca), true);
  assert.equal(await isSignedBy(leaf, leaf), false);
  assert.equal(await isSignedBy(ca, ca), true);
});

test("bytes that are not a certificate are an input error naming what was read", () => {
  for (const bad of [Buffer.alloc(0), Buffer.from("30820001", "hex"), Buffer.from("3003020101", "hex"), Buffer.from("not a cert")]) {
    assert.throws(
      () => parseCertificate(bad, "the gateway certificate"),
      (e: unknown) => e instanceof MtlsError && e.code === "ERR_CERT_PARSE" && /the gateway certificate/.test(e.message),
    );
  }
});

/** A CSR made by openssl with the given key and signing options and SAN/extension requests. */
function opensslCsr(name: string, keyArgs: string[], subj: string, addext: string[]): Buffer {
  const out = join(dir, `${name}.req.der`);
  execFileSync(
    "openssl",
    [
      "req",
      "-new",
      ...keyArgs,
      "-nodes",
      "-keyout",
      "/dev/null",
      "-subj",
      subj,
      "-utf8",
      ...addext.flatMap((e) => ["-addext", e]),
      "-outform",
      "DER",
      "-out",
      out,
    ],
    { stdio: "ignore" },
  );
  return readFileSync(out);
}

async function csrViaX509(der: Buffer) {
  const csr = new x509.Pkcs10CertificateRequest(new Uint8Array(der));
  const types: Record<string, string> = { dns: "dns", url: "uri", email: "email", ip: "ip" };
  const san = csr.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension) as x509.SubjectAlternativeNameExtension | undefined;
  return {
    subject: csr.subject,
    subjectEmpty: csr.subjectName.toJSON().length === 0,
    spki: Buffer.from(csr.publicKey.rawData).toString("hex"),
    sans: (san?.names.items ?? []).filter((n) => types[n.type]).map((n) => ({ type: types[n.type], value: n.value })),
    extensions: csr.extensions.map((e) => e.type),
    signatureValid: await csr.verify(),
  };
}

test("CSRs (EC, RSA, RSA-PSS, Ed25519; SANs and extension requests) read as x509 reads them", async () => {
  const cases: Array<[string, string[], string, string[]]> = [
    [
      "ec",
      ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
      "/O=Acme \\+ Co/CN=api.acme.example",
      ["subjectAltName=DNS:a.example,IP:::1,URI:spiffe://x/y"],
    ],
    [
      "rsa",
      ["-newkey", "rsa:2048", "-sha512"],
      "/CN=Zoë",
      ["basicConstraints=critical,CA:TRUE", "extendedKeyUsage=serverAuth,1.2.3.4", "keyUsage=digitalSignature"],
    ],
    ["pss", ["-newkey", "rsa:2048", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"], "/CN=pss", []],
    ["empty", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "/", ["subjectAltName=DNS:only.example"]],
  ];
  for (const [name, keyArgs, subj, exts] of cases) {
    const der = opensslCsr(name, keyArgs, subj, exts);
    const mine = await parseCsr(der, name);
    const ref = await csrViaX509(der);
    assert.deepEqual(
      {
        subject: mine.subject,
        subjectEmpty: mine.subjectEmpty,
        spki: mine.spki.toString("hex"),
        sans: mine.sans,
        extensions: mine.requestedExtensions.length + (mine.sans.length || mine.unsupportedSans.length ? 1 : 0),
        signatureValid: mine.signatureValid,
      },
      { ...ref, extensions: ref.extensions.length },
      name,
    );
    assert.equal(mine.signatureValid, true, name);
  }
  const rsa = await parseCsr(
    opensslCsr("rsa2", ["-newkey", "rsa:2048"], "/CN=r", ["basicConstraints=critical,CA:TRUE", "extendedKeyUsage=serverAuth,1.2.3.4"]),
    "r",
  );
  assert.deepEqual(rsa.requestedExtensions, ["basicConstraints (CA:true)", "extKeyUsage (serverAuth, 1.2.3.4)"]);
  const ed = await parseCsr(opensslCsr("ed", ["-newkey", "ed25519"], "/CN=ed", []), "ed");
  assert.equal(ed.signatureValid, true);
  // One flipped bit in the signed part: still a CSR, but its signature no longer verifies.
  const tampered = Buffer.from(opensslCsr("t", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "/CN=tamper", []));
  const at = tampered.indexOf(Buffer.from("tamper"));
  tampered[at] = (tampered[at] as number) ^ 0x01;
  assert.equal((await parseCsr(tampered, "t")).signatureValid, false);
  assert.equal((await csrViaX509(tampered)).signatureValid, false);
});

test("names built from attributes, or re-encoded from DER, are byte for byte what x509 builds", () => {
  const rdns: Array<[string, string]> = [
    ["C", "DE"],
    ["O", "Müller, Söhne & Co"],
    ["OU", "a+b"],
    ["DC", "example"],
    ["E", "ops@example.com"],
    ["CN", " lead#"],
  ];
  const mine = describeName({ rdns });
  const ref = new x509.Name(rdns.map(([k, v]) => ({ [k]: [v] })));
  assert.equal(mine.der.toString("hex"), Buffer.from(ref.toArrayBuffer()).toString("hex"));
  assert.equal(mine.text, ref.toString());
  assert.deepEqual(mine.commonNames, ref.getField("CN"));
  assert.equal(describeName({ rdns: [] }).empty, true);
  // A Name whose lengths are not minimal (0x81 0x0b where 0x0b would do): re-encoded minimally.
  const loose = Buffer.from("3081103181 0d3081 0a0603550403 0c03 616263".replace(/ /g, ""), "hex");
  const fixed = describeName({ der: loose });
  assert.equal(fixed.der.toString("hex"), Buffer.from(new x509.Name(new Uint8Array(loose)).toArrayBuffer()).toString("hex"));
  assert.equal(fixed.text, "CN=abc");
});

test("a certificate is its DER alone: trailing bytes are refused, so the fingerprint is the one openssl prints; PEM after long text is found", async () => {
  const pem = await readFile(join(dir, "ca.pem"), "utf8");
  const der = decodePemBlocks(pem)[0]?.der as Buffer;
  const fingerprint = execFileSync("openssl", ["x509", "-in", join(dir, "ca.pem"), "-noout", "-fingerprint", "-sha256"], { encoding: "utf8" });
  assert.equal(parseCertificate(der).fingerprint, `sha256:${fingerprint.split("=")[1]?.trim().replaceAll(":", "").toLowerCase()}`);
  assert.throws(
    () => parseCertificate(Buffer.concat([der, Buffer.from("GARBAGE")])),
    (e: MtlsError) => e.code === "ERR_CERT_PARSE" && /7 bytes after the certificate/.test(e.message),
  );
  // `openssl x509 -text` of an RSA-4096 certificate puts its PEM block past the first 5 KiB.
  const text = Buffer.from(`Certificate:\n${"    00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff\n".repeat(120)}${pem}`);
  assert.ok(text.indexOf("-----BEGIN ") > 5000);
  assert.ok(looksLikePem(text));
  assert.deepEqual(pemOrDer(text, ["CERTIFICATE"], "ca.txt"), der);
});
