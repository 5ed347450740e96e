// Crafted inputs to `mtls inspect` and the PKCS#12 reader: each ends in an input error (exit 3)
// that names the file, never in an internal error, and none buys unbounded work.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import test from "node:test";
import { makeZip } from "../../src/core/bundle/zip.js";
import type { CertInfo } from "../../src/core/cert.js";
import { body, children, NULL, octets, oid, readTime, readTlv, seq, type Tlv, tlv, uint } from "../../src/core/der.js";
import { safeDeep } from "../../src/core/display-text.js";
import { Exit, MtlsError } from "../../src/core/errors.js";
import { detectObjects } from "../../src/core/inspect/detect.js";
import { lintObjects, weakKeyReason } from "../../src/core/inspect/lints.js";
import { certificateFacts, type InspectedObject } from "../../src/core/inspect/objects.js";
import { decryptKeyPem } from "../../src/core/keys.js";
import * as pbe from "../../src/core/p12/pbe.js";
import { readPfx } from "../../src/core/p12/pfx.js";
import { encodePem } from "../../src/core/pem.js";

const OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1";
const OID_SHROUDED_BAG = "1.2.840.113549.1.12.10.1.2";
const OID_DATA = "1.2.840.113549.1.7.1";
const OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6";

/** Rejects with an MtlsError of exit 3 and this code; returns it for further checks. */
async function inputErr(p: Promise<unknown>, code: string): Promise<MtlsError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof MtlsError, `not an MtlsError: ${(err as Error).stack}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.exit, Exit.INPUT);
    assert.doesNotMatch(err.message, /\n/);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const explicit0 = (inner: Uint8Array) => tlv(0xa0, inner);
const dataInfo = (content: Buffer) => seq(oid(OID_DATA), explicit0(octets(content)));
const safeBag = (bagId: string, value: Buffer) => seq(oid(bagId), explicit0(value));
/** A PFX (version 3) around these ContentInfos, with a SHA-1 MacData: for `password`, or one nobody checks without a password. */
function pfx(infos: Buffer[], mac = true, password?: string): Buffer {
  const authSafe = seq(...infos);
  const salt = Buffer.alloc(8, 1);
  const digest = password === undefined ? Buffer.alloc(20) : pbe.pkcs12Mac("sha1", password, salt, 1, authSafe);
  return seq(uint(3), dataInfo(authSafe), ...(mac ? [seq(seq(seq(oid(pbe.OID.sha1), NULL), octets(digest)), octets(salt), uint(1))] : []));
}
const pbes2Params = (iterations: number) =>
  seq(
    oid(pbe.OID.pbes2),
    seq(
      seq(oid(pbe.OID.pbkdf2), seq(octets(Buffer.alloc(16)), uint(iterations), seq(oid(pbe.OID.hmacSha256), NULL))),
      seq(oid(pbe.OID.aes256cbc), octets(Buffer.alloc(16))),
    ),
  );
/** An EncryptedData part whose scheme asks for `iterations` (the ciphertext is never reached). */
const encryptedPart = (iterations: number) =>
  seq(oid(OID_ENCRYPTED_DATA), explicit0(seq(uint(0), seq(oid(OID_DATA), pbes2Params(iterations), tlv(0x80, Buffer.alloc(32))))));

test("inputs of 1 to 3 bytes are not recognised (exit 3), not read past their end", async () => {
  for (const bytes of [[0x30], [0x50, 0x4b], [0x30, 0x80, 0x00]]) await inputErr(detectObjects(Buffer.from(bytes), "short.bin"), "ERR_INSPECT_UNKNOWN");
});

test("encrypted-key-shaped DER with missing or wrong parameters is a damaged key, DER and PEM", async () => {
  const shapes = [
    seq(seq(), octets(Buffer.alloc(16))),
    seq(seq(oid(pbe.OID.pbes2), seq()), octets(Buffer.alloc(16))),
    seq(seq(oid(pbe.OID.pbes2)), octets(Buffer.alloc(16))),
    seq(seq(oid(pbe.OID.pbes2), seq(seq(oid(pbe.OID.pbkdf2)), seq())), octets(Buffer.alloc(16))),
    seq(seq(uint(5), NULL), octets(Buffer.alloc(16))),
  ];
  for (const der of shapes) {
    const e = await inputErr(detectObjects(der, "epk.der"), "ERR_INSPECT_PARSE");
    assert.match(e.message, /^epk\.der holds a damaged encrypted private key$/);
    await inputErr(detectObjects(Buffer.from(encodePem("ENCRYPTED PRIVATE KEY", der)), "epk.pem"), "ERR_INSPECT_PARSE");
  }
});

test("a PKCS#12 key bag that is not a private key: plaintext, shrouded, and in a PEM PKCS12 block", async () => {
  const garbage = seq(uint(0), seq(oid("1.2.3.4")), octets(Buffer.from("not a key")));
  const plain = pfx([dataInfo(seq(safeBag(OID_KEY_BAG, garbage)))]);
  const e = await inputErr(detectObjects(plain, "garbage.p12"), "ERR_INSPECT_PARSE");
  assert.match(e.message, /garbage\.p12 holds a PKCS#12 key bag that is not a private key/);
  await inputErr(detectObjects(Buffer.from(encodePem("PKCS12", plain)), "garbage.pem"), "ERR_INSPECT_PARSE");
  const { algorithm, encrypted } = await pbe.pbeEncrypt({ kind: "pbes2-aes256", iterations: 1000 }, "pw", garbage);
  const shrouded = pfx([dataInfo(seq(safeBag(OID_SHROUDED_BAG, seq(algorithm, octets(encrypted)))))], true, "pw");
  await inputErr(detectObjects(shrouded, "shrouded.p12", "pw"), "ERR_INSPECT_PARSE");
  await inputErr(detectObjects(Buffer.from(encodePem("PKCS12", shrouded)), "shrouded.pem", "pw"), "ERR_INSPECT_PARSE");
});

test("a zip whose manifest.json nests 5,000 deep is refused; a deep result is still made safe for a terminal", async () => {
  const deep = `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`;
  const zip = await makeZip([{ name: "manifest.json", data: Buffer.from(deep), mode: 0o644 }]);
  const e = await inputErr(detectObjects(zip, "deep.zip"), "ERR_INSPECT_PARSE");
  assert.match(e.message, /manifest\.json in deep\.zip nests 5000 levels deep/);
  // The sanitiser every human result goes through: iterative, copying only what changes.
  let v: Record<string, unknown> = { s: "bell\u0007" };
  const clean = { n: 1 };
  for (let i = 0; i < 100_000; i++) v = { a: v, b: [clean] };
  const safe = safeDeep(v);
  assert.notEqual(safe, v);
  let x = safe as Record<string, unknown>;
  while (x.a) {
    assert.equal((x.b as unknown[])[0], clean);
    x = x.a as Record<string, unknown>;
  }
  assert.equal(x.s, "bell\\u{7}");
  assert.equal(safeDeep({ a: [clean, "x"] }).a[0], clean);
});

test("PKCS#12 key derivation has one work budget per input, charged before anything is derived", async () => {
  // Four parts at 3M PBKDF2 iterations each: every one under the per-part cap, 12M together.
  const four = pfx([3, 3, 3, 3].map((m) => encryptedPart(m * 1_000_000)));
  const e = await inputErr(detectObjects(four, "four.p12", "pw"), "ERR_KDF_WORK");
  assert.match(e.message, /^four\.p12 asks for more key-derivation work than mtls does for one file \(\d+ .*at most 5000000\)$/);
  // Without a password nothing is derived, so nothing is charged: the structure is reported.
  const closed = await detectObjects(four, "four.p12");
  assert.equal(closed.objects[0]?.type, "pkcs12");
  // Two PKCS12 blocks in one input share it: each alone is within the budget (and reads).
  const sealed = await pbe.pbeEncrypt({ kind: "pbes2-aes256", iterations: 2_600_000 }, "pw", seq());
  const half = pfx([seq(oid(OID_ENCRYPTED_DATA), explicit0(seq(uint(0), seq(oid(OID_DATA), sealed.algorithm, tlv(0x80, sealed.encrypted)))))], false);
  assert.equal((await detectObjects(Buffer.from(encodePem("PKCS12", half)), "one.pem", "pw")).objects[0]?.type, "pkcs12");
  const pem = Buffer.from(encodePem("PKCS12", half) + encodePem("PKCS12", half));
  await inputErr(detectObjects(pem, "two.pem", "pw"), "ERR_KDF_WORK");
  // The budget is the caller's: a second file read against the same one is refused.
  const { algorithm, encrypted } = await pbe.pbeEncrypt({ kind: "pbes2-aes256", iterations: 600 }, "pw", seq(safeBag(OID_KEY_BAG, seq(uint(0)))));
  const small = pfx([seq(oid(OID_ENCRYPTED_DATA), explicit0(seq(uint(0), seq(oid(OID_DATA), algorithm, tlv(0x80, encrypted)))))], false);
  const budget = new pbe.KdfBudget("two files", 1000);
  assert.equal((await readPfx(small, "pw", budget)).keys.length, 1);
  await inputErr(readPfx(small, "pw", budget), "ERR_KDF_WORK");
});

test("an encrypted key file asking for more iterations than mtls runs is refused before decrypting", () => {
  const key = (alg: Buffer) => encodePem("ENCRYPTED PRIVATE KEY", seq(alg, octets(Buffer.alloc(48))));
  const cases = [
    pbes2Params(5_000_001),
    // scrypt: N·r·p, p unbounded by OpenSSL's memory limit.
    seq(
      oid(pbe.OID.pbes2),
      seq(
        seq(oid("1.3.6.1.4.1.11591.4.11"), seq(octets(Buffer.alloc(16)), uint(16384), uint(8), uint(1 << 20))),
        seq(oid(pbe.OID.aes256cbc), octets(Buffer.alloc(16))),
      ),
    ),
    // PKCS#12 PBE (openssl pkcs8 -v1 PBE-SHA1-3DES).
    seq(oid(pbe.OID.pbeSha3Des), seq(octets(Buffer.alloc(8)), uint(2 ** 31 - 1))),
  ];
  for (const alg of cases)
    assert.throws(
      () => decryptKeyPem(key(alg), "pass", "key huge.key"),
      (err: unknown) => err instanceof MtlsError && err.code === "ERR_KDF_WORK" && err.exit === Exit.INPUT && /^key huge\.key asks for \d+/.test(err.message),
    );
});

/** A CRL (unsigned: inspect reads it all the same) with `n` entries. */
function crl(n: number): Buffer {
  const time = (s: string) => tlv(0x17, Buffer.from(s));
  const entries: Buffer[] = [];
  for (let i = 1; i <= n; i++) entries.push(seq(uint(i), time("250101000000Z")));
  const name = seq(tlv(0x31, seq(oid("2.5.4.3"), tlv(0x0c, Buffer.from("CRL Issuer")))));
  const alg = seq(oid("1.2.840.10045.4.3.2"));
  return seq(seq(uint(1), alg, name, time("250101000000Z"), time("250108000000Z"), seq(...entries)), alg, tlv(0x03, Buffer.from([0, 1, 2])));
}

test("a CRL's entries are read from the DER when listed, not held as objects; JSON sees every one", async () => {
  const d = await detectObjects(crl(3000), "big.crl");
  const f = d.objects[0] as Extract<InspectedObject, { type: "crl" }>;
  assert.equal(Array.isArray(f.entries), false);
  assert.equal(f.entries.length, 3000);
  assert.deepEqual(f.entries.slice(0, 2), [
    { serial: "1", revokedAt: "2025-01-01T00:00:00Z", reason: "unspecified" },
    { serial: "2", revokedAt: "2025-01-01T00:00:00Z", reason: "unspecified" },
  ]);
  const all = JSON.parse(JSON.stringify(f)).entries;
  assert.equal(all.length, 3000);
  assert.equal(all[2999].serial, (3000).toString(16));
  assert.deepEqual([...f.entries].at(-1), all[2999]);
  // A damaged entry is found when the CRL is read, not half way through printing it.
  const bad = crl(3);
  bad[bad.indexOf(Buffer.from("250101000000Z"), bad.indexOf(Buffer.from("250108000000Z"))) + 2] = 0x39; // an entry in month 91
  await inputErr(detectObjects(bad, "bad.crl"), "ERR_INSPECT_PARSE");
});

test("chain lints look issuers up by name: 3,000 unrelated certificates cost a few comparisons each", async () => {
  let compared = 0;
  const name = (s: string) => {
    const raw = Buffer.from(s);
    const equals = (o: { raw: Buffer }) => {
      compared++;
      return raw.equals(o.raw);
    };
    return { raw, equals, toString: (enc: BufferEncoding) => raw.toString(enc) };
  };
  const n = 3000;
  const certs = Array.from({ length: n }, () => ({ subject: "CN=S", issuer: "CN=I", subjectDer: name("S"), issuerDer: name("I") }) as unknown as CertInfo);
  const facts = certs.map(() => ({
    type: "certificate",
    notBefore: "2025-01-01T00:00:00Z",
    notAfter: "2035-01-01T00:00:00Z",
    publicKey: { type: "ec-p256", spkiSha256: "" },
    signatureAlgorithm: "ecdsa-with-SHA256",
    isCa: true,
    selfSigned: false,
  })) as unknown as InspectedObject[];
  const lints = await lintObjects(
    { format: "pem", objects: facts, certs, crls: [], csrKeys: [], notes: [] },
    { now: new Date("2026-01-01T00:00:00Z"), expiringWithinMs: 0, purpose: "client" },
  );
  assert.equal(lints.filter((l) => l.id === "chain-incomplete").length, n - 1);
  assert.ok(compared < 4 * n, `${compared} comparisons`);
});

test("times: GeneralizedTime years below 100 stay themselves; impossible dates are refused, as OpenSSL does", () => {
  const t = (tag: number, s: string): [Buffer, Tlv] => {
    const b = tlv(tag, Buffer.from(s));
    return [b, readTlv(b, 0)];
  };
  assert.equal(readTime(...t(0x18, "00500101000000Z")).toISOString(), "0050-01-01T00:00:00.000Z");
  assert.equal(readTime(...t(0x18, "00040229120000Z")).toISOString(), "0004-02-29T12:00:00.000Z");
  assert.equal(readTime(...t(0x17, "490101000000Z")).toISOString(), "2049-01-01T00:00:00.000Z");
  assert.equal(readTime(...t(0x17, "500101000000Z")).toISOString(), "1950-01-01T00:00:00.000Z");
  assert.equal(readTime(...t(0x18, "20240229235959Z")).toISOString(), "2024-02-29T23:59:59.000Z");
  for (const [tag, s] of [
    [0x18, "20251301000000Z"],
    [0x18, "20250231000000Z"],
    [0x18, "20230229000000Z"],
    [0x18, "21000229000000Z"],
    [0x17, "250100000000Z"],
    [0x17, "250101240000Z"],
    [0x17, "250101006000Z"],
    [0x17, "250101000060Z"],
    [0x17, "2501010000Z"],
    [0x17, "25010100000+Z"],
  ] as const)
    assert.throws(() => readTime(...t(tag, s)), /unsupported time/, s);
});

test("display: an RSA key with e=1 is a weak key; a pathLen past 2^53 is no constraint, not Infinity", () => {
  const { publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "der" },
  });
  // Replace e=65537 in the SPKI's RSAPublicKey with 1.
  const [, bits] = children(publicKey, readTlv(publicKey, 0)) as [Tlv, Tlv];
  const rsa = body(publicKey, bits).subarray(1);
  const [n] = children(rsa, readTlv(rsa, 0)) as [Tlv];
  const e1 = seq(seq(oid("1.2.840.113549.1.1.1"), NULL), tlv(0x03, Buffer.concat([Buffer.from([0]), seq(rsa.subarray(n.offset, n.end), uint(1))])));
  const facts = { type: "rsa-2048", bits: 2048, spkiSha256: "" };
  assert.match(weakKeyReason(facts, e1) ?? "", /public exponent 1/);
  assert.equal(weakKeyReason(facts, publicKey), undefined);
  const cert = {
    pathLen: Number.POSITIVE_INFINITY,
    sans: [],
    spki: publicKey,
    der: crl(0),
    notBefore: new Date(0),
    notAfter: new Date(0),
  } as unknown as CertInfo;
  const f = certificateFacts({ ...cert, subjectDer: Buffer.alloc(0), issuerDer: Buffer.alloc(1) } as CertInfo);
  assert.equal("pathLen" in f, false);
});
