import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import test from "node:test";
import { generateP12Password } from "../../src/core/p12/p12.js";
import { pkcs12Kdf } from "../../src/core/p12/pbe.js";
import { buildPfx, PfxPasswordError, readPfx } from "../../src/core/p12/pfx.js";

// Published RFC 7292 appendix B vectors (the ones Bouncy Castle's PKCS12Test and OpenSSL's tests use).
test("#19 the appendix B KDF matches the published vectors", () => {
  const h = (s: string) => Buffer.from(s, "hex");
  assert.equal(pkcs12Kdf("sha1", "smeg", h("0A58CF64530D823F"), 1, 1, 24).toString("hex"), "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3");
  assert.equal(pkcs12Kdf("sha1", "smeg", h("0A58CF64530D823F"), 1, 2, 8).toString("hex"), "79993dfe048d3b76");
  assert.equal(pkcs12Kdf("sha1", "queeg", h("1682C0FC5B3F7EC5"), 1000, 1, 24).toString("hex"), "483dd6e919d7de2e8e648ba8f862f3fbfbdc2bcb2c02957f");
});

test("#19 buildPfx → readPfx round trip; a wrong password fails the MAC; without one nothing is decrypted", async () => {
  const { privateKey } = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    privateKeyEncoding: { type: "pkcs8", format: "der" },
    publicKeyEncoding: { type: "spki", format: "der" },
  });
  const cert = Buffer.from("3003020101", "hex"); // opaque to the container: any DER will do here
  const profile = { bags: { kind: "pkcs12-3des" as const, iterations: 2048 }, macHash: "sha1" as const, macIterations: 2048 };
  const der = await buildPfx({ profile, password: "pw", pkcs8: privateKey, certs: [cert], friendlyName: "acme" });
  const open = await readPfx(der, "pw");
  assert.equal(open.mac?.valid, true);
  assert.deepEqual(open.certs[0]?.der, cert);
  assert.equal(open.certs[0]?.friendlyName, "acme");
  assert.deepEqual(open.keys[0]?.pkcs8, privateKey);
  await assert.rejects(readPfx(der, "wrong"), PfxPasswordError);
  const closed = await readPfx(der);
  assert.equal(closed.certs.length, 0);
  assert.equal(closed.keys[0]?.pkcs8, undefined);
  assert.equal(closed.unreadable.length, 2);
});

test("#19 generated passwords: 25 characters without look-alikes, never repeated", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const p = generateP12Password();
    assert.match(p, /^[a-km-np-z2-9]{5}(-[a-km-np-z2-9]{5}){4}$/);
    seen.add(p);
  }
  assert.equal(seen.size, 200);
});

test("#19 a hostile work factor is refused before any key derivation runs", async () => {
  const { privateKey } = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    privateKeyEncoding: { type: "pkcs8", format: "der" },
    publicKeyEncoding: { type: "spki", format: "der" },
  });
  const profile = { bags: { kind: "pkcs12-3des" as const, iterations: 2048 }, macHash: "sha1" as const, macIterations: 0x010000 };
  const der = await buildPfx({ profile, password: "pw", pkcs8: privateKey, certs: [Buffer.from("3003020101", "hex")], friendlyName: "x" });
  // The MacData's INTEGER 65536 (02 03 01 00 00) ends the file: make it 8,388,607 in place.
  assert.deepEqual([...der.subarray(-5)], [2, 3, 1, 0, 0]);
  der.set([0x7f, 0xff, 0xff], der.length - 3);
  await assert.rejects(readPfx(der, "pw"), /more than mtls runs/);
});
