import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { buildCrl, parseCrl, verifyCrlSignature } from "../../src/core/crl/encode.js";
import { randomSerial } from "../../src/core/ids.js";
import { exportSpki, generateKeyPair, type KeyType } from "../../src/core/keys.js";
import { encodePem } from "../../src/core/pem.js";
import { createCertificate } from "../../src/core/pki.js";
import type { RevocationReason } from "../../src/core/store/index-file.js";
import { cryptoKeySigner } from "../../src/core/x509/signer.js";
import { openssl } from "../helpers/run.js";

async function ca(keyType: KeyType) {
  const keys = await generateKeyPair(keyType);
  const now = new Date();
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: { rdns: [["CN", `CRL test ${keyType}`]] },
    notBefore: now,
    notAfter: new Date(now.getTime() + 86_400_000),
    spki: await exportSpki(keys.publicKey),
    signingKey: keys.privateKey,
    signingKeyType: keyType,
    profile: { kind: "root", pathLen: 0 },
  });
  return { cert, keys };
}

for (const keyType of ["ec-p256", "ec-p384", "rsa-2048"] as const) {
  test(`buildCrl (${keyType}): 3,000 entries that openssl verifies and our reader reads back`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "mtls-crl-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const { cert, keys } = await ca(keyType);
    const reasons: RevocationReason[] = ["unspecified", "keyCompromise", "superseded", "privilegeWithdrawn"];
    const entries = Array.from({ length: 3000 }, (_, i) => ({
      serial: randomSerial(),
      revokedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
      reason: reasons[i % 4] as RevocationReason,
    }));
    entries.push({ ...(entries[0] as (typeof entries)[0]) }); // a duplicate is listed once
    // Serials from other tools: top bit set (needs a 0x00 sign byte) and an odd number of digits.
    entries.push(
      { serial: "80ff", revokedAt: new Date(Date.UTC(2026, 0, 2)), reason: "superseded" },
      { serial: "abc", revokedAt: new Date(Date.UTC(2026, 0, 2)), reason: "superseded" },
    );
    const thisUpdate = new Date(Date.UTC(2026, 10, 1, 12, 0, 0));
    const nextUpdate = new Date(Date.UTC(2051, 0, 1)); // GeneralizedTime from 2050 on
    const der = await buildCrl({
      issuer: cert,
      signer: cryptoKeySigner(keys.privateKey, keyType, cert.spki),
      keyType,
      number: 300,
      thisUpdate,
      nextUpdate,
      entries,
    });
    const parsed = parseCrl(der);
    assert.equal(parsed.number, "300");
    assert.equal(parsed.thisUpdate.toISOString(), thisUpdate.toISOString());
    assert.equal(parsed.nextUpdate?.toISOString(), nextUpdate.toISOString());
    assert.equal(parsed.entries.length, 3002);
    assert.deepEqual(
      parsed.entries.slice(-2).map((e) => e.serial),
      ["80ff", "abc"],
    );
    assert.equal(parsed.authorityKeyId, cert.subjectKeyId);
    assert.deepEqual(parsed.entries[1], { serial: entries[1]?.serial, revokedAt: entries[1]?.revokedAt, reason: "keyCompromise" });
    assert.equal(parsed.entries[0]?.reason, "unspecified");
    assert.ok(await verifyCrlSignature(parsed, cert));
    const tampered = Buffer.from(der);
    // Change one revoked serial inside the signed TBSCertList: the signature must no longer hold.
    const at = tampered.indexOf(Buffer.from(entries[5]?.serial ?? "", "hex")) + 15;
    tampered[at] = (tampered[at] as number) ^ 1;
    assert.equal(await verifyCrlSignature(parseCrl(tampered), cert), false);

    await writeFile(join(dir, "ca.pem"), cert.pem);
    await writeFile(join(dir, "crl.pem"), encodePem("X509 CRL", der));
    const v = await openssl(["crl", "-in", join(dir, "crl.pem"), "-CAfile", join(dir, "ca.pem"), "-noout", "-verify", "-text"]);
    assert.equal(v.exitCode, 0, v.stderr);
    assert.equal(v.stdout.match(/Serial Number:/g)?.length, 3002);
    assert.match(v.stdout, /Serial Number: 80FF\n/);
    assert.match(v.stdout, /Serial Number: 0ABC\n/);
    assert.match(v.stdout, /Next Update: Jan {2}1 00:00:00 2051 GMT/);
  });
}

test("a CRL without revoked certificates omits the empty list (RFC 5280 §5.1.2.6)", async () => {
  const { cert, keys } = await ca("ec-p256");
  const der = await buildCrl({
    issuer: cert,
    signer: cryptoKeySigner(keys.privateKey, "ec-p256", cert.spki),
    keyType: "ec-p256",
    number: 1,
    thisUpdate: new Date(),
    nextUpdate: new Date(Date.now() + 1e6),
    entries: [],
  });
  const parsed = parseCrl(der);
  assert.equal(parsed.entries.length, 0);
  assert.ok(await verifyCrlSignature(parsed, cert));
});
