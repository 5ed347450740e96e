import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { oid, seq, tlv, uint } from "../../src/core/der.js";
import { MtlsError } from "../../src/core/errors.js";
import { randomSerial } from "../../src/core/ids.js";
import { prepareRequest } from "../../src/core/issue/issue.js";
import { exportSpki, generateKeyPair } from "../../src/core/keys.js";
import { encodePem, pemOrDer } from "../../src/core/pem.js";
import { createCertificate } from "../../src/core/pki.js";
import type { StoreConfig } from "../../src/core/store/config.js";

const config = {
  formatVersion: 1,
  createdAt: "",
  ca: { name: "t", keyType: "ec-p256", intermediate: true },
  policy: { defaultDays: 90, maxDays: 398, warnDays: 30 },
  crl: { validityDays: 7 },
} as StoreConfig;

async function issuer() {
  const k = await generateKeyPair("ec-p256");
  const now = new Date();
  return createCertificate({
    serial: randomSerial(),
    subject: { rdns: [["CN", "fuzz CA"]] },
    notBefore: now,
    notAfter: new Date(now.getTime() + 1000 * 86_400_000),
    spki: await exportSpki(k.publicKey),
    signingKey: k.privateKey,
    signingKeyType: "ec-p256",
    profile: { kind: "intermediate", pathLen: 0 },
  });
}

function opensslCsr(args: string[]): Buffer {
  const dir = mkdtempSync(join(tmpdir(), "mtls-fuzz-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-new",
        ...args,
        "-nodes",
        "-keyout",
        join(dir, "k"),
        "-out",
        join(dir, "c"),
        "-outform",
        "DER",
        "-subj",
        "/O=Fuzz/CN=fuzz.example",
        "-addext",
        "subjectAltName=DNS:fuzz.example,URI:spiffe://fuzz/x",
      ],
      { stdio: "ignore" },
    );
    return readFileSync(join(dir, "c"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Buffer, r: () => number): Buffer {
  const b = Buffer.from(input);
  const at = () => Math.floor(r() * b.length);
  switch (Math.floor(r() * 6)) {
    case 0:
      for (let i = 0, n = 1 + Math.floor(r() * 3); i < n; i++) {
        const j = at();
        b[j] = (b[j] as number) ^ (1 << Math.floor(r() * 8));
      }
      return b;
    case 1:
      return b.subarray(0, at());
    case 2: {
      const j = at();
      return Buffer.concat([b.subarray(0, j), Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256))), b.subarray(j)]);
    }
    case 3: {
      const j = at();
      return Buffer.concat([b.subarray(0, j), b.subarray(Math.min(b.length, j + 1 + Math.floor(r() * 16)))]);
    }
    case 4: {
      const j = at();
      return Buffer.concat([b.subarray(0, j), b.subarray(j, j + 32), b.subarray(j)]);
    }
    default: {
      // PEM with a damaged body: a changed, dropped or doubled base64 line.
      const lines = `-----BEGIN CERTIFICATE REQUEST-----\n${b
        .toString("base64")
        .match(/.{1,64}/g)
        ?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`.split("\n");
      const k = 1 + Math.floor(r() * (lines.length - 3));
      const how = Math.floor(r() * 3);
      if (how === 0) lines.splice(k, 1);
      else if (how === 1) lines.splice(k, 0, lines[k] as string);
      else lines[k] = (lines[k] as string).replace(/[A-Za-z]/, "!");
      return Buffer.from(lines.join("\n"));
    }
  }
}

test("a fuzz loop over thousands of mutated CSRs: each is issued or refused as input (exit 3), never a crash", async (t) => {
  const seed = Number(process.env.MTLS_TEST_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed}`);
  const r = rng(seed);
  const ca = await issuer();
  const seeds = [opensslCsr(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]), opensslCsr(["-newkey", "rsa:2048"])];
  const counts = { accepted: 0, refused: 0 };
  const codes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const input = mutate(seeds[i % 2] as Buffer, r);
    try {
      await prepareRequest({ partnerId: "fuzz", csr: input, csrSource: "CSR fuzz" }, config, ca, new Date());
      counts.accepted++;
    } catch (err) {
      if (!(err instanceof MtlsError) || err.exit !== 3) {
        assert.fail(`mutation ${i} (seed ${seed}) threw ${(err as Error)?.name}: ${(err as Error)?.message}\ninput: ${input.toString("hex")}`);
      }
      counts.refused++;
      codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
    }
  }
  t.diagnostic(`accepted ${counts.accepted}, refused ${counts.refused}: ${[...codes].map(([c, n]) => `${c} ${n}`).join(", ")}`);
  assert.ok(counts.refused > 2000, "most mutations are refused");
  assert.ok((codes.get("ERR_CSR_SIGNATURE") ?? 0) > 0 && (codes.get("ERR_CSR_PARSE") ?? 0) > 0);
});

/** A CSR signed correctly around a subject and extensions of our choosing. */
function craftCsr(subject: Buffer, extensions: Buffer[] = []): Buffer {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ format: "der", type: "spki" });
  const attrs = extensions.length ? tlv(0xa0, seq(oid("1.2.840.113549.1.9.14"), tlv(0x31, seq(...extensions)))) : Buffer.from([0xa0, 0x00]);
  const info = seq(uint(0), subject, spki, attrs);
  const sig = sign("sha256", info, privateKey);
  return seq(info, seq(oid("1.2.840.10045.4.3.2")), tlv(0x03, Buffer.concat([Buffer.from([0]), sig])));
}
const rdn = (attr: string, tag: number, value: Buffer) => tlv(0x31, seq(oid(attr), tlv(tag, value)));

test("a subject that is not valid UTF-8, a SAN flood and a malformed extension are refused as input", async () => {
  const ca = await issuer();
  const expectCode = async (csr: Buffer, code: string, message: RegExp) => {
    await assert.rejects(
      prepareRequest({ partnerId: "h", csr, csrSource: "CSR h" }, config, ca, new Date()),
      (e: MtlsError) => e instanceof MtlsError && e.exit === 3 && e.code === code && message.test(e.message),
    );
  };
  await expectCode(craftCsr(seq(rdn("2.5.4.3", 0x0c, Buffer.from([0x66, 0xff, 0xfe, 0x6f])))), "ERR_CSR_SUBJECT", /a UTF8String that is not valid UTF-8/);
  await expectCode(craftCsr(seq(rdn("2.5.4.3", 0x13, Buffer.from("semi;colon")))), "ERR_CSR_SUBJECT", /PrintableString/);
  const flood = seq(oid("2.5.29.17"), tlv(0x04, seq(...Array.from({ length: 150 }, (_, i) => tlv(0x82, Buffer.from(`h${i}.example`))))));
  await expectCode(craftCsr(seq(rdn("2.5.4.3", 0x0c, Buffer.from("ok"))), [flood]), "ERR_SAN", /150 SANs; at most 100/);
  const garbage = seq(oid("2.5.29.17"), tlv(0x04, Buffer.from([0x30, 0x05, 0x82, 0x10, 0x41])));
  await expectCode(craftCsr(seq(rdn("2.5.4.3", 0x0c, Buffer.from("ok"))), [garbage]), "ERR_CSR_PARSE", /not a valid PKCS#10/);
  const lying = seq(oid("2.5.29.17"), tlv(0x04, seq(tlv(0x82, Buffer.from("has space.example")))));
  await expectCode(craftCsr(seq(rdn("2.5.4.3", 0x0c, Buffer.from("ok"))), [lying]), "ERR_SAN", /has space\.example/);
});

test("bytes that begin as DER are read as DER, whatever PEM they carry inside; trailing bytes and two blocks are refused", () => {
  const labels = ["CERTIFICATE REQUEST"];
  const hiddenPem = encodePem("CERTIFICATE REQUEST", seq(oid("2.5.4.3")));
  // A DER structure with a PEM block in a string inside it (as a CSR attribute can carry one).
  const carrier = seq(tlv(0x0c, Buffer.from(`\n${hiddenPem}`)));
  assert.deepEqual(pemOrDer(carrier, labels, "csr"), carrier);
  assert.throws(
    () => pemOrDer(Buffer.concat([carrier, Buffer.from(hiddenPem)]), labels, "csr"),
    (e: MtlsError) => e.code === "ERR_DER_TRAILING",
  );
  assert.throws(() => pemOrDer(Buffer.from(hiddenPem + hiddenPem), labels, "csr"), /holds 2 CERTIFICATE REQUEST blocks/);
  // Text before a PEM block (openssl's -text output) is still PEM.
  assert.deepEqual(pemOrDer(Buffer.from(`Certificate Request:\n    Data: ...\n${hiddenPem}`), labels, "csr"), seq(oid("2.5.4.3")));
});
