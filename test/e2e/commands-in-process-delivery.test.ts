// Delivery as functions: the home party's OpenPGP key, onboarding, export and the partner's side
// (bundle open), with GnuPG as the partner's own tool on the same bundles.
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { runBundleOpen } from "../../src/cli/commands/bundle/open.js";
import { runCaInit } from "../../src/cli/commands/ca/init.js";
import { runPartnerExport, runPartnerExportP12 } from "../../src/cli/commands/partner/export.js";
import { runPartnerOnboard } from "../../src/cli/commands/partner/onboard.js";
import { runPgpInit } from "../../src/cli/commands/pgp/init.js";
import { runPgpShow } from "../../src/cli/commands/pgp/show.js";
import { makeCsr } from "../helpers/csr.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { CA_INIT_DEFAULTS, commandContext } from "../helpers/in-process.js";
import { openssl, tempDir } from "../helpers/run.js";

const exitOf = (code: number) => (e: Error & { exit?: number }) => e.exit === code;
const PARTNER_PASSPHRASE = "partner secret 1";

test("pgp init and show, partner onboard, export (bundle and PKCS#12) and bundle open as functions", {
  skip: !haveGpg() && "gpg is not installed",
}, async (t) => {
  const dir = await tempDir(t, "mtls-inproc-delivery-");
  const { ctx, stdout } = commandContext(dir);
  await runCaInit(ctx, CA_INIT_DEFAULTS);
  const g = await gpgHome(t);
  const partnerKey = await genKey(g, "cv25519", { email: "pki@acme.example", passphrase: PARTNER_PASSPHRASE });

  const home = await runPgpInit(ctx, { email: "pki@home.example" });
  assert.equal(home.created, true);
  const shown = await runPgpShow(ctx);
  assert.equal(shown.fingerprint, home.fingerprint);
  assert.equal(shown.publicKeyPath, home.publicKeyPath);
  const imported = await g.gpg(["--import"], shown.publicKey);
  assert.equal(imported.exitCode, 0, imported.stderr);
  const listed = await g.gpg(["--with-colons", "--list-keys", "pki@home.example"]);
  assert.match(listed.stdout, /^uid:.*pki@home\.example/m, "GnuPG reads the home party's public key");

  const { csr, key } = await makeCsr(dir, "acme-client");
  const onboarded = await runPartnerOnboard(ctx, {
    partnerId: "acme",
    name: "Acme",
    contact: "pki@acme.example",
    pgpKey: partnerKey.publicFile,
    csr,
    out: "acme-onboard.zip.pgp",
  });
  assert.equal(onboarded.partnerId, "acme");
  assert.equal(onboarded.keyHeldBy, "partner");
  assert.equal(onboarded.signerPublicKeyPath, home.publicKeyPath);
  // The partner's own tool decrypts it and checks the home party's signature.
  const decrypted = await g.gpg(["--passphrase", PARTNER_PASSPHRASE, "--output", join(dir, "onboard.zip"), "--decrypt", onboarded.bundlePath]);
  assert.equal(decrypted.exitCode, 0, decrypted.stderr);
  assert.match(decrypted.stderr, /Good signature/);

  const exported = await runPartnerExport(ctx, { partnerId: "acme", out: "acme.zip.pgp" });
  assert.equal(exported.encrypted, true);
  assert.equal(exported.signingKeyCreated, false, "pgp init made the signing key");
  assert.equal(exported.serial, onboarded.serial);

  // The partner's side, on its own machine: its passphrase from MTLS_PGP_PASSPHRASE.
  const partnerDir = join(dir, "partner");
  await mkdir(partnerDir);
  const signerFile = join(partnerDir, "home-party.asc");
  await writeFile(signerFile, shown.publicKey);
  const partner = commandContext(partnerDir, { MTLS_PGP_PASSPHRASE: PARTNER_PASSPHRASE });
  const opened = await runBundleOpen(partner.ctx, { file: exported.path, key: partnerKey.secretFile, signer: signerFile, out: "opened" });
  assert.equal(opened.outDir, join(partnerDir, "opened"));
  assert.equal(opened.manifest.serial, onboarded.serial);
  assert.equal(opened.manifest.partnerId, "acme");
  assert.deepEqual(opened.files.map((f) => f.name).sort(), ["README.txt", "ca.pem", "certificate.pem", "chain.pem", "manifest.json"]);
  const serial = await openssl(["x509", "-in", join(partnerDir, "opened", "certificate.pem"), "-noout", "-serial"]);
  assert.equal(
    serial.stdout
      .trim()
      .replace(/^serial=/, "")
      .toLowerCase(),
    onboarded.serial,
  );
  const verified = await openssl([
    "verify",
    "-purpose",
    "sslclient",
    "-CAfile",
    join(partnerDir, "opened", "ca.pem"),
    "-untrusted",
    join(partnerDir, "opened", "chain.pem"),
    join(partnerDir, "opened", "certificate.pem"),
  ]);
  assert.equal(verified.exitCode, 0, verified.stdout + verified.stderr);
  // Signed by someone else than the key received out of band: refused, nothing unpacked.
  await assert.rejects(
    runBundleOpen(partner.ctx, { file: exported.path, key: partnerKey.secretFile, signer: partnerKey.publicFile, out: "refused" }),
    exitOf(3),
  );
  await assert.rejects(runBundleOpen(partner.ctx, { file: exported.path, key: partnerKey.secretFile, out: "refused" }), exitOf(2));

  const p12 = await runPartnerExportP12(ctx, { partnerId: "acme", key, out: "acme.p12", p12PasswordFile: "acme.p12.pass" });
  assert.equal(p12.serial, onboarded.serial);
  const read = await openssl(["pkcs12", "-in", p12.path, "-passin", `file:${join(dir, "acme.p12.pass")}`, "-nodes"]);
  assert.equal(read.exitCode, 0, read.stderr);
  assert.match(read.stdout, /BEGIN PRIVATE KEY/);
  assert.equal(await readFile(join(dir, "acme.p12.pass"), "utf8").then((s) => s.trim()), p12.password);
  assert.equal(stdout(), "", "the functions return results; printing is the command's part");
});
