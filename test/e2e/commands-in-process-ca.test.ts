// The CA's commands as functions over one context and one CA (made by runCaInit itself), checked
// against real peers: openssl verifies what they write, the probe runs against the gateway
// runGatewayServe started, openssl's OCSP client asks the responder runRevocationServe started,
// bash loads the completion script. The tests share the CA and run in order (the last one rolls
// it over).
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ALL_COMMANDS } from "../../src/cli/all-commands.js";
import { runAudit, runAuditVerify } from "../../src/cli/commands/audit.js";
import { runCaInit } from "../../src/cli/commands/ca/init.js";
import { runCaPolicySet } from "../../src/cli/commands/ca/policy/set.js";
import { runRolloverIntermediate } from "../../src/cli/commands/ca/rollover/intermediate.js";
import { runRolloverRootFinish } from "../../src/cli/commands/ca/rollover/root-finish.js";
import { runRolloverRootStart } from "../../src/cli/commands/ca/rollover/root-start.js";
import { runRolloverStatus } from "../../src/cli/commands/ca/rollover/status.js";
import { runCompletion, runCompletionList } from "../../src/cli/commands/completion.js";
import { runCrlPublish } from "../../src/cli/commands/crl/publish.js";
import { runGatewayConfig } from "../../src/cli/commands/gateway/config.js";
import { runGatewayServe } from "../../src/cli/commands/gateway/serve.js";
import { runInspect } from "../../src/cli/commands/inspect.js";
import { runList } from "../../src/cli/commands/list.js";
import { runNotify } from "../../src/cli/commands/notify.js";
import { runP12Create } from "../../src/cli/commands/p12/create.js";
import { runPartnerAdd } from "../../src/cli/commands/partner/add.js";
import { runPartnerIdentityRelease } from "../../src/cli/commands/partner/identity/release.js";
import { runIssue } from "../../src/cli/commands/partner/issue.js";
import { runPartnerRotate, runPartnerRotateFinish } from "../../src/cli/commands/partner/rotate.js";
import { runProbe } from "../../src/cli/commands/probe.js";
import { runRevocationServe } from "../../src/cli/commands/revocation/serve.js";
import { runRevoke } from "../../src/cli/commands/revoke.js";
import { runServerIssue } from "../../src/cli/commands/server/issue.js";
import type { CliContext } from "../../src/cli/context.js";
import { createProgram } from "../../src/cli/program.js";
import { makeCsr } from "../helpers/csr.js";
import { CA_INIT_DEFAULTS, commandContext } from "../helpers/in-process.js";
import { openssl, run } from "../helpers/run.js";

let dir = "";
let ctx: CliContext;
let stdout: () => string;
const pki = (p: string) => join(dir, "pki", p);
const exitOf = (code: number) => (e: Error & { exit?: number }) => e.exit === code;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-inproc-ca-"));
  ({ ctx, stdout } = commandContext(dir));
});
after(() => rm(dir, { recursive: true, force: true }));

/** The serial openssl reads from a certificate file, lowercase hex as mtls prints it. */
async function serialOf(file: string): Promise<string> {
  const r = await openssl(["x509", "-in", file, "-noout", "-serial"]);
  return r.stdout
    .trim()
    .replace(/^serial=/, "")
    .toLowerCase();
}

test("ca init, policy set, server issue, gateway config, inspect and p12 create as functions", async () => {
  const options = CA_INIT_DEFAULTS;
  const init = await runCaInit(ctx, options);
  assert.equal(init.pkiDir, join(dir, "pki"));
  assert.equal(init.keyEncrypted, true);
  assert.match(init.intermediate?.subject ?? "", /InProc Intermediate CA/);
  const chain = await openssl(["verify", "-CAfile", pki("ca/root.pem"), pki("ca/intermediate.pem")]);
  assert.equal(chain.exitCode, 0, chain.stderr);
  await assert.rejects(runCaInit(ctx, { ...options, name: "again" }), exitOf(4));

  const policy = await runCaPolicySet(ctx, { warnDays: 20, overlapDays: 7, notifyDays: "30,14" });
  assert.deepEqual(
    policy.changed.map((c) => [c.setting, c.to]),
    [
      ["warnDays", 20],
      ["overlapDays", 7],
      ["notifyDays", "30,14"],
    ],
  );
  assert.deepEqual((await runCaPolicySet(ctx, { warnDays: 20 })).changed, []);

  const server = await runServerIssue(ctx, { name: "gw", dns: ["localhost"], ip: ["127.0.0.1"], out: "gw.pem", outKey: "gw.key" });
  assert.equal(server.outCert, join(dir, "gw.pem"));
  const verified = await openssl(["verify", "-purpose", "sslserver", "-CAfile", pki("ca/root.pem"), "-untrusted", server.outCert, server.outCert]);
  assert.equal(verified.exitCode, 0, verified.stderr);
  assert.equal(await serialOf(server.outCert), server.serial);
  const certKey = await openssl(["x509", "-in", server.outCert, "-noout", "-pubkey"]);
  const ownKey = await openssl(["pkey", "-in", join(dir, "gw.key"), "-pubout"]);
  assert.equal(certKey.stdout, ownKey.stdout, "the key written is the certificate's");

  const config = await runGatewayConfig(ctx, { kind: "nginx", server: "gw", out: "nginx/" });
  assert.equal(config.kind, "nginx");
  const bundle = config.files.find((f) => f.name === "ca-bundle.pem");
  assert.ok(bundle?.path, JSON.stringify(config.files));
  assert.equal(await readFile(bundle.path, "utf8"), await readFile(pki("ca/ca-bundle.pem"), "utf8"));
  const conf = config.files.find((f) => f.name.endsWith(".conf"));
  assert.match(await readFile(conf?.path ?? "", "utf8"), new RegExp(join(dir, "gw.pem").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")));

  const inspected = await runInspect(ctx, { file: "gw.pem", purpose: "server" });
  assert.equal(inspected.format, "pem");
  assert.equal(inspected.objects.length, 2, "the server certificate and the intermediate");
  assert.equal(inspected.pki, join(dir, "pki"));
  assert.deepEqual(inspected.lints, []);

  const p12 = await runP12Create(ctx, { cert: "gw.pem", key: "gw.key", out: "gw.p12", p12PasswordFile: "gw.p12.pass" });
  assert.equal(p12.path, join(dir, "gw.p12"));
  const opened = await openssl([
    "pkcs12",
    "-in",
    p12.path,
    "-passin",
    `file:${join(dir, "gw.p12.pass")}`,
    "-nokeys",
    "-clcerts",
    "-out",
    join(dir, "from-p12.pem"),
  ]);
  assert.equal(opened.exitCode, 0, opened.stderr);
  assert.equal(await serialOf(join(dir, "from-p12.pem")), server.serial);
  assert.equal(stdout(), "", "the functions return results; printing is the command's part");
});

test("revocation serve answers openssl's OCSP client; crl publish --then; audit and audit verify", async (t) => {
  const { csr } = await makeCsr(dir, "acme-client");
  const issued = await runIssue(ctx, { partnerId: "acme", csr, san: ["dns:client.acme.example"] });
  const responder = await runRevocationServe(ctx, { port: "0" });
  t.after(() => responder.stop());
  assert.match(responder.ocspUrl, /^http:\/\/127\.0\.0\.1:\d+\/ocsp$/);
  const ask = () =>
    openssl(["ocsp", "-issuer", pki("ca/intermediate.pem"), "-cert", issued.certPath, "-url", responder.ocspUrl, "-CAfile", pki("ca/chain.pem")]);
  const good = await ask();
  assert.match(good.stdout, /: good\n/, good.stdout + good.stderr);

  await runRevoke(ctx, { serial: issued.serial, reason: "keyCompromise", publish: false });
  const revoked = await ask();
  assert.match(revoked.stdout, /: revoked\n/, revoked.stdout + revoked.stderr);
  assert.ok(responder.stats.ocsp >= 2);

  const published = await runCrlPublish(ctx, { hook: "true", out: "crl.pem" });
  assert.equal(published.hook?.exitCode, 0);
  assert.deepEqual(published.hook?.command, ["true"]);
  const issuing = published.crls.find((c) => c.issuer === "intermediate");
  assert.ok(issuing, JSON.stringify(published.crls));
  const crl = await openssl(["crl", "-in", issuing.pemPath, "-CAfile", pki("ca/chain.pem"), "-verify", "-noout", "-text"]);
  assert.match(crl.stderr + crl.stdout, /verify OK/);
  assert.match(crl.stdout, new RegExp(issued.serial.toUpperCase()));
  const failing = await runCrlPublish(ctx, { hook: "false" });
  assert.equal(failing.hook?.exitCode, 1, "a failed hook is a result (the CLI exits 1), not an error");

  const audit = await runAudit(ctx, { partner: "acme" });
  assert.deepEqual(
    audit.records.map((r) => r.action),
    ["cert.issue", "cert.revoke"],
  );
  assert.equal(audit.verification.ok, true);
  const verify = await runAuditVerify(ctx);
  assert.equal(verify.ok, true);
  assert.ok(verify.records >= audit.records.length + 3, "ca init, policy, server issue and the CRLs are in the chain too");
});

test("gateway serve started as a function, probed by runProbe", async () => {
  const gateway = await runGatewayServe(ctx, { port: "0" });
  try {
    const probe = await runProbe(ctx, { urls: [gateway.url], serverCa: "pki/ca/ca-bundle.pem", junit: "probe.xml" });
    assert.equal(probe.outcome, "pass", JSON.stringify(probe.targets[0]?.attempts.filter((a) => a.verdict !== "pass")));
    assert.equal(probe.exitCode, 0);
    const attempts = probe.targets[0]?.attempts ?? [];
    assert.ok(attempts.some((a) => a.scenario === "valid" && a.observed === "accepted"));
    assert.ok(attempts.some((a) => a.scenario === "revoked" && a.verdict === "pass"));
    assert.ok(gateway.stats.requests > 0 && gateway.stats.refusedHandshakes > 0, JSON.stringify(gateway.stats));
    assert.match(await readFile(join(dir, "probe.xml"), "utf8"), /<testsuite/);
  } finally {
    await gateway.stop();
  }
  const down = await runProbe(ctx, { urls: [gateway.url], serverCa: "pki/ca/ca-bundle.pem", scenarios: "valid", timeout: "2s" });
  assert.equal(down.outcome, "unreachable");
  assert.equal(down.exitCode, 5);
});

test("notify, rotate, rotate --finish, identity release and completion as functions", async () => {
  await runPartnerAdd(ctx, { partnerId: "beta", contact: "ops@beta.example" });
  const first = await makeCsr(dir, "beta-client");
  const old = await runIssue(ctx, { partnerId: "beta", csr: first.csr, days: 10 });
  const due = await runNotify(ctx, { dryRun: true, partner: "beta" });
  assert.equal(due.dryRun, true);
  assert.deepEqual(
    due.notices.map((n) => [n.partnerId, n.serial, n.to]),
    [["beta", old.serial, ["ops@beta.example"]]],
  );
  await assert.rejects(runNotify(ctx, {}), exitOf(2));

  const next = await makeCsr(dir, "beta-client-2", { subj: "/O=Partner/CN=beta-client.partner.example" });
  const rotated = await runPartnerRotate(ctx, { partnerId: "beta", csr: next.csr, overlap: "1d", out: "beta-2.pem" });
  assert.equal(rotated.oldSerial, old.serial);
  const chain = await openssl([
    "verify",
    "-purpose",
    "sslclient",
    "-CAfile",
    pki("ca/root.pem"),
    "-untrusted",
    join(dir, "beta-2.pem"),
    join(dir, "beta-2.pem"),
  ]);
  assert.equal(chain.exitCode, 0, chain.stderr);
  assert.equal(await serialOf(join(dir, "beta-2.pem")), rotated.newSerial);
  const finished = await runPartnerRotateFinish(ctx, { partnerId: "beta", now: true });
  assert.deepEqual(
    finished.finished.map((f) => [f.serial, f.successor]),
    [[old.serial, rotated.newSerial]],
  );
  assert.deepEqual(
    (await runList(ctx, { partner: "beta" })).certificates.map((c) => [c.serial, c.status]).sort(),
    [
      [old.serial, "revoked"],
      [rotated.newSerial, "valid"],
    ].sort(),
  );

  // acme's only certificate was revoked above, so its identities may be given up.
  const released = await runPartnerIdentityRelease(ctx, { partnerId: "acme", identity: "client.acme.example" });
  assert.deepEqual([released.partnerId, released.identity], ["acme", "client.acme.example"]);
  await assert.rejects(runPartnerIdentityRelease(ctx, { partnerId: "beta", identity: "beta-client.partner.example" }), exitOf(4));

  const completion = await runCompletion(ctx, { shell: "bash", program: createProgram(ctx, ALL_COMMANDS) });
  const loaded = await run("bash", ["-c", `${completion.script}\ncomplete -p mtls`]);
  assert.equal(loaded.exitCode, 0, loaded.stderr);
  assert.match(loaded.stdout, /complete .* mtls/);
  assert.deepEqual((await runCompletionList(ctx, "partners")).sort(), ["acme", "beta"]);
  const serials = await runCompletionList(ctx, "serials");
  assert.ok(serials.includes(rotated.newSerial) && !serials.includes(old.serial), serials.join(" "));
});

test("ca rollover intermediate, root start, status and root finish as functions", async () => {
  const before = await runRolloverStatus(ctx);
  assert.equal(before.phase, "none");
  const renewed = await runRolloverIntermediate(ctx, { days: 365 });
  assert.equal(renewed.step, "intermediate");
  assert.equal(renewed.issuing, renewed.created[0]?.id);
  const afterRenewal = await runRolloverStatus(ctx);
  assert.ok(afterRenewal.due >= 1, "beta's certificate comes from the previous intermediate");

  const started = await runRolloverRootStart(ctx, {});
  assert.equal(started.trusted.length, 2);
  const dual = await readFile(started.caBundlePath, "utf8");
  assert.ok((dual.match(/BEGIN CERTIFICATE/g)?.length ?? 0) >= 2, "the trust bundle holds both roots");
  assert.equal((await runRolloverStatus(ctx)).phase, "root-rollover");
  await assert.rejects(runRolloverRootFinish(ctx, {}), exitOf(4));
  const finished = await runRolloverRootFinish(ctx, { force: true });
  assert.ok(finished.stranded.some((c) => c.partnerId === "beta"));
  assert.equal(finished.trusted.length, 1);
  assert.equal((await runRolloverStatus(ctx)).phase, "none");
});
