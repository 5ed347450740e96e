import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { type Gateway, haveApache, haveHaproxy, haveNginx, startApache, startHaproxy, startNginx } from "../helpers/gateways.js";
import { initTempCa, json, mtls, openssl, opensslVerifyWithCrl, snapshot } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

async function issue(dir: string, partner: string, extra: string[] = []) {
  const { csr, key } = await makeCsr(dir, `${partner}-${Math.random().toString(36).slice(2, 7)}`);
  const r = await mtls(["partner", "issue", partner, "--csr", csr, "--json", ...extra], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  return { ...json(r).result, key } as { serial: string; certPath: string; chainPath: string; key: string };
}

test("ca init publishes CRLs at once, with the revoked canary on the issuing CA's CRL", async (t) => {
  const dir = await initTempCa(t);
  const show = json(await mtls(["crl", "show", "--json"], { cwd: dir }));
  const [int, root] = show.result.crls;
  assert.equal(int.issuer, "intermediate");
  assert.equal(int.number, "1");
  assert.equal(int.entries.length, 1);
  assert.equal(int.entries[0].partnerId, "(canary)");
  assert.equal(root.issuer, "root");
  assert.equal(root.entries.length, 0);
  assert.ok(int.signatureValid && root.signatureValid);
  const canary = join(dir, "pki/ca/canary.pem");
  const v = await opensslVerifyWithCrl(join(dir, "pki"), canary);
  assert.notEqual(v.exitCode, 0);
  assert.match(v.stdout + v.stderr, /certificate revoked/);
});

test("revoke: openssl verifies each CRL, sees CRL Number, AKI, reason; -crl_check rejects only the revoked cert", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const a = await issue(dir, "alpha");
  const b = await issue(dir, "beta");
  const r = await mtls(["revoke", a.serial, "--reason", "keyCompromise", "--yes", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  const doc = json(r);
  assert.equal(doc.result.revoked[0].serial, a.serial);
  assert.deepEqual(
    doc.result.crls.map((c: { issuer: string; number: number }) => [c.issuer, c.number]),
    [
      ["intermediate", 2],
      ["root", 2],
    ],
  );
  for (const [crl, ca] of [
    ["intermediate.crl.pem", "intermediate.pem"],
    ["root.crl.pem", "root.pem"],
  ]) {
    const v = await openssl(["crl", "-in", join(pki, "crl", crl as string), "-CAfile", join(pki, "ca", ca as string), "-noout", "-verify"]);
    assert.equal(v.exitCode, 0, v.stderr);
    assert.match(v.stderr + v.stdout, /verify OK/);
    const der = await openssl(["crl", "-inform", "DER", "-in", join(pki, "crl", (crl as string).replace(".pem", "")), "-noout", "-text"]);
    assert.equal(der.exitCode, 0, der.stderr);
  }
  const text = (await openssl(["crl", "-in", join(pki, "crl/intermediate.crl.pem"), "-noout", "-text"])).stdout;
  assert.match(text, /X509v3 CRL Number: \n\s+2/);
  assert.match(text, /X509v3 Authority Key Identifier/);
  assert.match(
    text,
    new RegExp(
      `Serial Number: ${a.serial.toUpperCase()}\\n\\s+Revocation Date: .*\\n\\s+CRL entry extensions:\\n\\s+X509v3 CRL Reason Code: \\n\\s+Key Compromise`,
    ),
  );
  const revoked = await opensslVerifyWithCrl(pki, a.certPath);
  assert.notEqual(revoked.exitCode, 0);
  assert.match(revoked.stdout + revoked.stderr, /certificate revoked/);
  const valid = await opensslVerifyWithCrl(pki, b.certPath);
  assert.equal(valid.exitCode, 0, valid.stdout + valid.stderr);
});

test("revoke refuses unknown serials (3), already revoked (4, unchanged) and runs without a terminal only with --yes", async (t) => {
  const dir = await initTempCa(t);
  const a = await issue(dir, "alpha");
  const noYes = await mtls(["revoke", a.serial, "--json"], { cwd: dir });
  assert.equal(noYes.exitCode, 2);
  assert.equal(json(noYes).error?.code, "ERR_CONFIRMATION_REQUIRED");
  const unknown = await mtls(["revoke", "abcdef", "--yes", "--json"], { cwd: dir });
  assert.equal(unknown.exitCode, 3);
  assert.equal(json(unknown).error?.code, "ERR_UNKNOWN_SERIAL");
  const hold = await mtls(["revoke", a.serial, "--reason", "certificateHold", "--yes", "--json"], { cwd: dir });
  assert.equal(hold.exitCode, 2);
  assert.equal((await mtls(["revoke", a.serial.toUpperCase(), "--yes"], { cwd: dir })).exitCode, 0);
  const before = await snapshot(join(dir, "pki"));
  const again = await mtls(["revoke", a.serial, "--yes", "--json"], { cwd: dir });
  assert.equal(again.exitCode, 4);
  assert.equal(json(again).error?.code, "ERR_ALREADY_REVOKED");
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("offboarding a partner with three certificates revokes all three in one CRL update", async (t) => {
  const dir = await initTempCa(t);
  const certs = [await issue(dir, "acme"), await issue(dir, "acme"), await issue(dir, "acme")];
  const other = await issue(dir, "other");
  const r = await mtls(["partner", "offboard", "acme", "--yes", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  const doc = json(r).result;
  assert.deepEqual(doc.revoked.map((e: { serial: string }) => e.serial).sort(), certs.map((c) => c.serial).sort());
  assert.ok(doc.revoked.every((e: { reason: string }) => e.reason === "cessationOfOperation"));
  const crl = json(await mtls(["crl", "show", "--json"], { cwd: dir })).result.crls[0];
  assert.equal(crl.number, "2"); // one update: 1 at init, 2 now
  const listed = new Set(crl.entries.map((e: { serial: string }) => e.serial));
  for (const c of certs) assert.ok(listed.has(c.serial));
  assert.ok(!listed.has(other.serial));
  const partners = JSON.parse(await readFile(join(dir, "pki/partners.json"), "utf8")).partners;
  assert.ok(partners.acme.offboardedAt);
  const unknown = await mtls(["partner", "offboard", "nobody", "--yes", "--json"], { cwd: dir });
  assert.equal(unknown.exitCode, 3);
});

test("crl publish: numbers only grow, --out and the configured publish dir get atomic copies", async (t) => {
  const dir = await initTempCa(t, ["--crl-publish-dir", "www"]);
  const p1 = json(await mtls(["crl", "publish", "--json"], { cwd: dir }));
  const p2 = json(await mtls(["crl", "publish", "--out", "gateway-crl.pem", "--validity", "36h", "--json"], { cwd: dir }));
  assert.equal(p1.result.crls[0].number, 2);
  assert.equal(p2.result.crls[0].number, 3);
  const hours = (Date.parse(p2.result.crls[0].nextUpdate) - Date.now()) / 3_600_000;
  assert.ok(hours > 35.5 && hours <= 36, String(hours));
  const bundle = await readFile(join(dir, "pki/crl/crl-bundle.pem"), "utf8");
  assert.equal(await readFile(join(dir, "gateway-crl.pem"), "utf8"), bundle);
  assert.equal(await readFile(join(dir, "www/crl-bundle.pem"), "utf8"), bundle);
  assert.equal(bundle.match(/BEGIN X509 CRL/g)?.length, 2);
  const n = await openssl(["crl", "-in", join(dir, "www/intermediate.crl.pem"), "-noout", "-crlnumber"]);
  assert.match(n.stdout, /crlNumber=0x03/);
});

test("status: exit 0 when healthy, 1 for an expiring cert, a CRL near nextUpdate, or an unpublished revocation", async (t) => {
  const dir = await initTempCa(t);
  await issue(dir, "fine", ["--days", "60"]);
  const ok = await mtls(["status", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stdout);
  assert.equal(json(ok).result.healthy, true);

  const soon = await issue(dir, "soon", ["--days", "3"]);
  const expiring = await mtls(["status", "--json"], { cwd: dir });
  assert.equal(expiring.exitCode, 1);
  const doc = json(expiring);
  assert.equal(doc.ok, false);
  assert.deepEqual(
    doc.result.problems.map((p: { kind: string; serial?: string }) => [p.kind, p.serial]),
    [["partner-due", soon.serial]],
  );
  assert.equal((await mtls(["status", "--warn-within", "2d"], { cwd: dir })).exitCode, 0);

  // Offboarded rather than revoked alone: a partner left with no valid certificate is locked out (#14).
  await mtls(["partner", "offboard", "soon", "--no-publish", "--yes"], { cwd: dir });
  const stale = json(await mtls(["status", "--json"], { cwd: dir }));
  assert.deepEqual(
    stale.result.problems.map((p: { kind: string }) => p.kind),
    ["crl-stale"],
  );
  const human = await mtls(["status"], { cwd: dir });
  assert.equal(human.exitCode, 1);
  assert.match(human.stdout, /1 problem:\n\s+✖ soon: certificate [0-9a-f]+ was revoked .* not on the published CRL/);

  await mtls(["crl", "publish", "--validity", "12h"], { cwd: dir });
  const short = json(await mtls(["status", "--json"], { cwd: dir }));
  assert.deepEqual(
    short.result.problems.map((p: { kind: string }) => p.kind),
    ["crl-expiring", "crl-expiring"],
  );
  assert.equal((await mtls(["status", "--crl-margin", "6h"], { cwd: dir })).exitCode, 0);
});

async function gatewayRevocationScenario(
  t: import("node:test").TestContext,
  start: (dir: string, tls: import("../helpers/gateways.js").GatewayTls) => Promise<Gateway>,
  rejected: (r: Awaited<ReturnType<typeof curlWithCert>>) => boolean,
) {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const srv = await serverCert(dir);
  const a = await issue(dir, "alpha");
  const b = await issue(dir, "beta");
  const gw = await start(dir, {
    serverCert: srv.cert,
    serverKey: srv.key,
    caBundle: join(pki, "ca/ca-bundle.pem"),
    crlBundle: join(pki, "crl/crl-bundle.pem"),
  });
  for (const tls of ["1.2", "1.3"] as const) {
    const ra = await curlWithCert(gw.port, { cert: a.chainPath, key: a.key, cacert: srv.cert, tls });
    assert.equal(ra.status, 200, `alpha before revoke, TLS ${tls}: ${ra.stderr}${ra.body}`);
  }
  assert.equal((await mtls(["revoke", a.serial, "--yes"], { cwd: dir })).exitCode, 0);
  await gw.reload();
  for (const tls of ["1.2", "1.3"] as const) {
    const ra = await curlWithCert(gw.port, { cert: a.chainPath, key: a.key, cacert: srv.cert, tls });
    assert.ok(rejected(ra), `alpha after revoke, TLS ${tls}: exit ${ra.exitCode} status ${ra.status} ${ra.body}`);
    const rb = await curlWithCert(gw.port, { cert: b.chainPath, key: b.key, cacert: srv.cert, tls });
    assert.equal(rb.status, 200, `beta after revoke, TLS ${tls}: ${rb.stderr}`);
  }
}

test("a real nginx enforces the CRL: a revoked partner is rejected after reload, another still passes", async (t) => {
  if (!haveNginx()) return t.skip("nginx is not installed");
  // nginx never fails the handshake over a client certificate: it answers 400.
  await gatewayRevocationScenario(
    t,
    (dir, tls) => startNginx(t, dir, tls),
    (r) => r.status === 400 && /SSL certificate error/.test(r.body),
  );
});

test("a real HAProxy enforces the CRL: a revoked partner is rejected after reload, another still passes", async (t) => {
  if (!haveHaproxy()) return t.skip("haproxy is not installed");
  // HAProxy with `verify required` ends the TLS session: no HTTP status at all.
  await gatewayRevocationScenario(
    t,
    (dir, tls) => startHaproxy(t, dir, tls),
    (r) => r.status === 0 && r.exitCode !== 0,
  );
});

test("a real Apache httpd enforces the CRL: a revoked partner is rejected after a graceful restart, another still passes", async (t) => {
  if (!haveApache()) return t.skip("apache2 is not installed");
  // mod_ssl with SSLVerifyClient require at the virtual host ends the TLS session: no HTTP status.
  await gatewayRevocationScenario(
    t,
    (dir, tls) => startApache(t, dir, tls),
    (r) => r.status === 0 && r.exitCode !== 0,
  );
});

test("CRL validity is bounded (1 hour to 366 days), and a CRL's nextUpdate never passes its CA's expiry", async (t) => {
  const dir = await initTempCa(t, ["--intermediate-days", "3"]);
  const pki = join(dir, "pki");
  const before = await snapshot(pki);
  for (const v of ["30m", "367d"]) {
    const r = await mtls(["crl", "publish", "--validity", v, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 2, `--validity ${v}: ${r.stdout}`);
    assert.equal(json(r).error?.code, "ERR_CRL_VALIDITY");
  }
  const policy = await mtls(["ca", "policy", "set", "--crl-days", "400", "--json"], { cwd: dir });
  assert.equal(policy.exitCode, 2, policy.stdout);
  assert.match(json(policy).error?.message ?? "", /--crl-days must be at most 366 days/);
  assert.deepEqual(await snapshot(pki), before, "a refused change leaves the store as it was");
  const init = await mtls(["ca", "init", "--pki", "other", "--crl-days", "400", "--json"], { cwd: dir });
  assert.equal(init.exitCode, 2, init.stdout);

  // The intermediate expires in 3 days, before a 7-day CRL would: its CRL stops at its expiry.
  const end = async (args: string[]) => (await openssl(args)).stdout.trim().replace(/^\w+=/, "");
  const caEnd = await end(["x509", "-in", join(pki, "ca/intermediate.pem"), "-noout", "-enddate"]);
  assert.equal(await end(["crl", "-in", join(pki, "crl/intermediate.crl.pem"), "-noout", "-nextupdate"]), caEnd, "ca init's first CRL");
  const r = json(await mtls(["crl", "publish", "--json"], { cwd: dir }));
  assert.equal(await end(["crl", "-in", join(pki, "crl/intermediate.crl.pem"), "-noout", "-nextupdate"]), caEnd);
  assert.notEqual(await end(["crl", "-in", join(pki, "crl/root.crl.pem"), "-noout", "-nextupdate"]), caEnd, "the root's CRL keeps its 7 days");
  assert.ok(
    r.warnings.some((w: string) => /intermediate CRL's nextUpdate is .* when CA intermediate expires/.test(w)),
    JSON.stringify(r.warnings),
  );
  // Once the intermediate has expired, its CRL is still published, with a warning.
  const later = { MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: new Date(Date.now() + 4 * 86_400_000).toISOString() };
  const expired = await mtls(["crl", "publish", "--json"], { cwd: dir, env: later });
  assert.equal(expired.exitCode, 0, expired.stdout);
  assert.ok(
    json(expired).warnings.some((w: string) => /CA intermediate expired on/.test(w)),
    expired.stdout,
  );
  const status = json(await mtls(["status", "--json"], { cwd: dir, env: later }));
  const problem = status.result.problems.find((p: { kind: string }) => p.kind === "ca-expired");
  assert.match(problem?.hint ?? "", /mtls ca rollover intermediate/, JSON.stringify(status.result.problems));
});
