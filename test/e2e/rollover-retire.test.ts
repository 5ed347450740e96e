// What `ca rollover root finish` retires, checked with real openssl: the new root's cross
// certificates for the old intermediates are revoked and leave ca/cross-bundle.pem, so a
// certificate finish cut off, or one revoked in the old hierarchy, no longer chains to the new
// root; a `revocation serve` running through the rollover stops answering for the retired CAs
// as a restarted one would. Also: `root start` makes no cross for an expired intermediate.
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { after, before } from "node:test";
import { type RunningResponder, startResponder } from "../helpers/revocation-serve.js";
import { json, mtls, openssl, run } from "../helpers/run.js";

let dir = "";
const pki = (...p: string[]) => join(dir, "pki", ...p);
const certs: Record<string, { serial: string; leaf: string }> = {};
let server: RunningResponder | undefined;

async function issue(name: string): Promise<void> {
  const leaf = join(dir, `${name}.pem`);
  const r = await mtls(["partner", "issue", name, "--generate", "--out-key", `${name}.key`, "--out-leaf", leaf, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  certs[name] = { serial: json(r).result.serial, leaf };
}

/** openssl's OCSP client asking the running responder about `cert` issued by the CA in `issuer`. */
function ocsp(issuer: string, cert: string) {
  const s = server as NonNullable<typeof server>;
  return openssl(["ocsp", "-issuer", issuer, "-cert", cert, "-url", `${s.url}/ocsp`, "-CAfile", pki("ca/ca-bundle.pem"), "-timeout", "10"]);
}

const verify = (args: string[], cert: string) => openssl(["verify", "-purpose", "sslclient", ...args, cert]);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-retire-"));
  const r = await mtls(["ca", "init", "--name", "Retire", "--org", "Retire Org", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  await issue("kept"); // still valid at finish: --force cuts it off
  await issue("stolen"); // revoked for keyCompromise in the old hierarchy
  const rev = await mtls(["revoke", certs.stolen?.serial as string, "--reason", "keyCompromise", "--yes"], { cwd: dir });
  assert.equal(rev.exitCode, 0, rev.stderr);
  server = await startResponder(dir);
});

after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

test("root finish revokes the new root's crosses for the retired intermediates and drops them from the cross bundle: cut-off and revoked certificates stop verifying, new ones still do", async () => {
  const start = await mtls(["ca", "rollover", "root", "start", "--json"], { cwd: dir });
  assert.equal(start.exitCode, 0, start.stdout + start.stderr);
  // What a relying party holds from the rollover: the cross pool and the old intermediate's last CRL.
  await copyFile(pki("ca/cross-bundle.pem"), join(dir, "held-cross-bundle.pem"));
  await copyFile(pki("crl/intermediate.crl.pem"), join(dir, "held-intermediate.crl.pem"));
  // The running responder answers for the old hierarchy during the rollover.
  const during = await ocsp(pki("ca/intermediate.pem"), certs.kept?.leaf as string);
  assert.match(during.stdout, /: good/, during.stdout + during.stderr);
  await issue("fresh");
  const oldRoot = join(dir, "old-root.pem");
  await copyFile(pki("ca/root.pem"), oldRoot);

  const done = await mtls(["ca", "rollover", "root", "finish", "--force", "--yes", "--json"], { cwd: dir });
  assert.equal(done.exitCode, 0, done.stdout + done.stderr);
  // A relying party trusting the new root with the cross bundle as its pool (README "CA rollover").
  for (const name of ["kept", "stolen"]) {
    const v = await verify(["-CAfile", pki("ca/root-2.pem"), "-untrusted", pki("ca/cross-bundle.pem")], certs[name]?.leaf as string);
    assert.notEqual(v.exitCode, 0, `${name} chains to the new root: ${v.stdout}`);
    assert.match(v.stdout + v.stderr, /unable to get local issuer certificate/);
  }
  // One that kept the pool from before finish and checks every CRL: the cross itself is revoked.
  const held = ["-crl_check_all", "-CAfile", pki("ca/root-2.pem"), "-untrusted", join(dir, "held-cross-bundle.pem")];
  const crls = ["-CRLfile", pki("crl/root-2.crl.pem"), "-CRLfile", join(dir, "held-intermediate.crl.pem")];
  const kept = await verify([...held, ...crls], certs.kept?.leaf as string);
  assert.notEqual(kept.exitCode, 0, `the cut-off certificate verifies: ${kept.stdout}`);
  assert.match(kept.stdout + kept.stderr, /error 23 at 1 depth lookup: certificate revoked/);
  const stolen = await verify([...held, ...crls], certs.stolen?.leaf as string);
  assert.notEqual(stolen.exitCode, 0, stolen.stdout);
  assert.match(stolen.stdout + stolen.stderr, /certificate revoked/);

  // The new hierarchy: under the old root through the remaining cross, and as gateways check it.
  const underOld = await verify(["-CAfile", oldRoot, "-untrusted", pki("ca/cross-bundle.pem")], certs.fresh?.leaf as string);
  assert.equal(underOld.exitCode, 0, underOld.stdout + underOld.stderr);
  const gateway = await verify(
    ["-crl_check_all", "-CAfile", pki("ca/ca-bundle.pem"), "-untrusted", pki("ca/intermediate-2.pem"), "-CRLfile", pki("crl/crl-bundle.pem")],
    certs.fresh?.leaf as string,
  );
  assert.equal(gateway.exitCode, 0, gateway.stdout + gateway.stderr);

  const cross = json(done).result.revokedCrosses as Array<{ serial: string; subjectCa: string; issuerCa: string }>;
  assert.deepEqual(
    cross.map((c) => `${c.subjectCa}<-${c.issuerCa}`),
    ["intermediate<-root-2"],
  );
  const crossSerial = (await openssl(["x509", "-noout", "-serial", "-in", pki("ca/cross-intermediate-by-root-2.pem")])).stdout.trim().split("=")[1] ?? "";
  assert.equal(cross[0]?.serial, crossSerial.toLowerCase());

  // The bundle keeps the new intermediate's cross by the old root, and nothing else.
  const bundle = await readFile(pki("ca/cross-bundle.pem"), "utf8");
  assert.equal(bundle, await readFile(pki("ca/cross-intermediate-2-by-root.pem"), "utf8"));
  // The new root's CRL lists the cross, for the reason RFC 5280 gives an ended purpose.
  const crl = await openssl(["crl", "-noout", "-text", "-in", pki("crl/root-2.crl.pem")]);
  assert.match(crl.stdout, new RegExp(`Serial Number: ${crossSerial}[\\s\\S]*Cessation Of Operation`));
  const signed = await openssl(["crl", "-noout", "-in", pki("crl/root-2.crl.pem"), "-CAfile", pki("ca/root-2.pem")]);
  assert.match(signed.stdout + signed.stderr, /verify OK/);

  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
  assert.equal((await mtls(["audit", "verify"], { cwd: dir })).exitCode, 0);
  assert.match(await readFile(pki("audit.log"), "utf8"), new RegExp(`"step":"root finish".*"crossesRevoked":"${cross[0]?.serial}"`));
});

test("the responder that ran through the rollover answers for the retired CAs as a restarted one does, and its first /health after finish says so", async () => {
  const s = server as NonNullable<typeof server>;
  // The first request since finish.
  const health = await run("curl", ["-sS", `${s.url}/health`]);
  const cas = (JSON.parse(health.stdout).responders as Array<{ ca: string }>).map((r) => r.ca);
  assert.ok(!cas.includes("intermediate") && !cas.includes("root"), `still answering for the retired CAs: ${health.stdout}`);
  assert.ok(
    cas.every((c) => c === "intermediate-2" || c === "root-2"),
    health.stdout,
  );
  for (const name of ["kept", "stolen"]) {
    const r = await ocsp(pki("ca/intermediate.pem"), certs[name]?.leaf as string);
    assert.doesNotMatch(r.stdout, /: (good|revoked)/, `${name}: ${r.stdout}`);
    assert.match(r.stdout + r.stderr, /Responder Error: unauthorized \(6\)/, `${name}: ${r.stdout}${r.stderr}`);
  }
  const fresh = await ocsp(pki("ca/intermediate-2.pem"), certs.fresh?.leaf as string);
  assert.match(fresh.stderr, /Response verify OK/, fresh.stdout + fresh.stderr);
  assert.match(fresh.stdout, /: good/);
  // The new root's responder knows the revoked cross like its CRL does.
  const cross = await ocsp(pki("ca/root-2.pem"), pki("ca/cross-intermediate-by-root-2.pem"));
  assert.match(cross.stderr, /Response verify OK/, cross.stdout + cross.stderr + s.log());
  assert.match(cross.stdout, /: revoked/);
  assert.match(cross.stdout, /Reason: cessationOfOperation/);
  assert.match(s.log(), /no longer answering for intermediate, root \(retired\)/);
});

test("root start makes no cross certificate for an old intermediate that has expired, and says so", async () => {
  const own = await mkdtemp(join(tmpdir(), "mtls-retire-expired-"));
  try {
    const at = (now: string) => ({ cwd: own, env: { MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: now } });
    const init = await mtls(["ca", "init", "--name", "Lapse", "--root-days", "400", "--intermediate-days", "200", "--json"], at("2026-01-01T00:00:00Z"));
    assert.equal(init.exitCode, 0, init.stderr);
    assert.equal((await mtls(["ca", "rollover", "intermediate", "--days", "300", "--json"], at("2026-03-01T00:00:00Z"))).exitCode, 0);
    // 2026-08-01: the first intermediate (to 2026-07-20) has expired; intermediate-2 is in service.
    const r = await mtls(["ca", "rollover", "root", "start", "--root-days", "1000", "--intermediate-days", "500", "--json"], at("2026-08-01T00:00:00Z"));
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    const crosses = (json(r).result.crosses as Array<{ subjectCa: string; issuerCa: string; notBefore: string; notAfter: string }>).map(
      (c) => `${c.subjectCa}<-${c.issuerCa}`,
    );
    assert.deepEqual(crosses, ["intermediate-3<-root", "intermediate-2<-root-2"]);
    assert.ok(
      json(r).warnings.some((w) => /no cross certificate for intermediate signed by root-2: the intermediate CA expired on 2026-07-20T00:00:00Z/.test(w)),
      JSON.stringify(json(r).warnings),
    );
    // Every cross in the bundle is valid for a while, as openssl reads the dates.
    const bundle = join(own, "pki/ca/cross-bundle.pem");
    const pem = await readFile(bundle, "utf8");
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? [];
    assert.equal(blocks.length, 2);
    for (const block of blocks) {
      const d = await openssl(["x509", "-noout", "-startdate", "-enddate"], { input: block });
      const start = Date.parse(/notBefore=(.+)/.exec(d.stdout)?.[1] ?? "");
      const end = Date.parse(/notAfter=(.+)/.exec(d.stdout)?.[1] ?? "");
      assert.ok(start < end, d.stdout);
    }
    const doctor = await mtls(["doctor", "--json"], at("2026-08-01T00:00:00Z"));
    assert.equal(doctor.exitCode, 0, doctor.stdout);
  } finally {
    await rm(own, { recursive: true, force: true });
  }
});
