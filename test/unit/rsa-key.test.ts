import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import test from "node:test";
import { rsaParamsProblem, rsaSpkiProblem } from "../../src/core/rsa-key.js";
import { modulus, rsaSpki } from "../helpers/rsa-csr.js";

test("#13: RSA keys need an odd modulus of their stated size and an odd exponent 65537 ≤ e < 2^256", () => {
  const real = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "der" },
  });
  assert.equal(rsaSpkiProblem(real.publicKey), undefined);
  assert.equal(rsaSpkiProblem(rsaSpki(modulus(3072), 65537)), undefined);
  assert.match(rsaSpkiProblem(rsaSpki(modulus(2048), 1)) ?? "", /public exponent 1 \(at least 65537/);
  assert.match(rsaSpkiProblem(rsaSpki(modulus(2048), 3)) ?? "", /public exponent 3 /);
  assert.match(rsaSpkiProblem(rsaSpki(modulus(2048), 65538)) ?? "", /even public exponent/);
  assert.match(rsaSpkiProblem(rsaSpki(modulus(2048, { even: true }), 65537)) ?? "", /even modulus/);
  assert.match(rsaSpkiProblem(rsaSpki(modulus(2047), 65537)) ?? "", /2047-bit modulus, not the 2048 bits/);
  assert.match(rsaSpkiProblem(rsaSpki(modulus(2048), (1n << 256n) + 1n)) ?? "", /257-bit public exponent/);
  // Non-DER integers: a negative modulus, and one padded with a needless zero byte.
  const n = modulus(2048);
  const negative = rsaSpki(n, 65537);
  negative[negative.indexOf(Buffer.from([0x02, 0x82, 0x01, 0x01, 0x00])) + 4] = 0xff;
  assert.match(rsaSpkiProblem(negative) ?? "", /malformed|negative/);
  assert.equal(rsaParamsProblem(Buffer.from([0x00, ...n]), Buffer.from([1, 0, 1])), undefined, "leading zeros are not bits");
  // Not RSA: judged elsewhere.
  const ec = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "der" },
  });
  assert.equal(rsaSpkiProblem(ec.publicKey), undefined);
});
