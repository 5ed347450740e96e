// #13 reproduction 6: RSA keys that are not keys. With e = 1 a CSR "signed" without any private
// key verified and was issued; even moduli, tiny exponents and short moduli went the same way.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { forgedRsaCsr, modulus } from "../helpers/rsa-csr.js";
import { initTempCa, json, mtls, openssl, snapshot } from "../helpers/run.js";

async function opensslRsaCsr(dir: string, name: string, pkeyopts: string[]): Promise<string> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const gen = await openssl(["genpkey", "-algorithm", "RSA", ...pkeyopts.flatMap((o) => ["-pkeyopt", o]), "-out", key]);
  assert.equal(gen.exitCode, 0, gen.stderr);
  const req = await openssl(["req", "-new", "-key", key, "-subj", `/CN=${name}`, "-out", csr]);
  assert.equal(req.exitCode, 0, req.stderr);
  return csr;
}

test("#13: CSRs with exponent 1 or 3, an even modulus or 2047 bits are refused (exit 3), the store unchanged", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const cases: Array<{ name: string; file: string; message: RegExp }> = [];
  const forged = async (name: string, der: Buffer, message: RegExp) => {
    await writeFile(join(dir, `${name}.csr`), der);
    cases.push({ name, file: `${name}.csr`, message });
  };
  await forged("exp1", forgedRsaCsr(modulus(2048), 1, "no-private-key"), /public exponent 1 \(at least 65537/);
  await forged("even", forgedRsaCsr(modulus(2048, { even: true }), 65537, "even"), /even modulus/);
  await forged("short", forgedRsaCsr(modulus(2047), 65537, "short"), /2047-bit modulus/);
  // Real keys from OpenSSL, correctly self-signed: only the key's arithmetic is wrong.
  cases.push({ name: "exp3", file: await opensslRsaCsr(dir, "exp3", ["rsa_keygen_bits:2048", "rsa_keygen_pubexp:3"]), message: /public exponent 3 / });
  cases.push({ name: "bits2047", file: await opensslRsaCsr(dir, "bits2047", ["rsa_keygen_bits:2047"]), message: /2047-bit modulus/ });

  const before = await snapshot(pki);
  for (const c of cases) {
    const r = await mtls(["partner", "issue", c.name, "--csr", c.file, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${c.name}: ${r.stdout}`);
    assert.equal(json(r).error?.code, "ERR_KEY_POLICY", c.name);
    assert.match(json(r).error?.message ?? "", c.message, c.name);
  }
  // The batch path and the onboarding path use the same checks.
  await writeFile(join(dir, "batch.jsonl"), `${JSON.stringify({ partner: "b1", csr: "exp1.csr" })}\n`);
  const batch = await mtls(["partner", "issue", "--batch", "batch.jsonl", "--all-or-nothing", "--json"], { cwd: dir });
  assert.equal(batch.exitCode, 3, batch.stdout);
  assert.match(batch.stdout, /public exponent 1/);
  assert.deepEqual(await snapshot(pki), before, "nothing was written");

  // A sound RSA key from the same tool still goes through.
  const good = await mtls(["partner", "issue", "good", "--csr", await opensslRsaCsr(dir, "good", ["rsa_keygen_bits:2048"]), "--json"], { cwd: dir });
  assert.equal(good.exitCode, 0, good.stdout);
});
