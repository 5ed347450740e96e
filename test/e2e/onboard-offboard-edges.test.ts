// Onboarding checks the names the certificate will carry (--cn replaces the CSR's subject), and
// offboarding a registered partner that holds no certificate says so (exit 4, nothing to do)
// instead of claiming the partner does not exist.
import assert from "node:assert/strict";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { initTempCa, json, mtls, openssl, snapshot } from "../helpers/run.js";

test("partner onboard --cn: the identity check uses --cn, not the CSR's subject it replaces", { skip: !haveGpg() && "gpg is not installed" }, async (t) => {
  const dir = await initTempCa(t);
  const { csr: acmeCsr } = await makeCsr(dir, "acme", { subj: "/CN=acme-client" });
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", acmeCsr], { cwd: dir })).exitCode, 0);
  const key = await genKey(await gpgHome(t), "cv25519", { email: "pki@gamma.example" });
  // A CSR naming acme's CN, whose subject --cn replaces.
  const { csr } = await makeCsr(dir, "gamma", { subj: "/CN=acme-client" });
  const r = await mtls(["partner", "onboard", "gamma", "--csr", csr, "--cn", "gamma-client", "--pgp-key", key.publicFile, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const serial = json(r).result.serial as string;
  const subject = await openssl(["x509", "-noout", "-subject", "-in", join(dir, "pki/certs", `${serial}.pem`)]);
  assert.match(subject.stdout, /CN\s*=\s*gamma-client/);
  // With a generated key: the certificate is CN=<--cn>, not CN=<partner id>, which acme holds here.
  const gen = await mtls(["partner", "onboard", "acme-client", "--generate", "--cn", "delta-client", "--pgp-key", key.publicFile, "--json"], { cwd: dir });
  assert.equal(gen.exitCode, 0, gen.stdout + gen.stderr);
  // And a --cn that belongs to another partner is still refused, before anything changes.
  const { csr: free } = await makeCsr(dir, "eps", { subj: "/CN=eps-client" });
  const before = await snapshot(join(dir, "pki"));
  const taken = await mtls(["partner", "onboard", "eps", "--csr", free, "--cn", "acme-client", "--pgp-key", key.publicFile, "--json"], { cwd: dir });
  assert.equal(taken.exitCode, 4, taken.stdout + taken.stderr);
  assert.match(json(taken).error?.message ?? "", /cn:"acme-client" belongs to partner acme/);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("partner offboard of a registered partner without certificates: exit 4 'no certificate to revoke', the store unchanged", async (t) => {
  const dir = await initTempCa(t);
  assert.equal((await mtls(["partner", "add", "zeta"], { cwd: dir })).exitCode, 0);
  const before = await snapshot(join(dir, "pki"));
  const r = await mtls(["partner", "offboard", "zeta", "--yes", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 4, r.stdout + r.stderr);
  const doc = json(r);
  assert.equal(doc.error?.code, "ERR_NOTHING_TO_REVOKE");
  assert.equal(doc.error?.message, "partner zeta has no certificate to revoke");
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  const unknown = await mtls(["partner", "offboard", "nobody", "--yes", "--json"], { cwd: dir });
  assert.equal(unknown.exitCode, 3, unknown.stdout + unknown.stderr);
  assert.equal(json(unknown).error?.code, "ERR_UNKNOWN_PARTNER");
});
