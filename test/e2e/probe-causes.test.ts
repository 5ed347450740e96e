// #22: the probe's likely causes come from the evidence, against a real nginx: a gateway without
// TLS 1.3 is reported as such (not as a refused certificate), an allow-list's 403 points at the
// allow-list, and a partner probing with its own revoked certificate is told so.
import assert from "node:assert/strict";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { haveNginx, startNginx } from "../helpers/gateways.js";
import { initTempCa, json, mtls, tempDir } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

type Attempt = { scenario: string; tls: string; verdict: string; evidence: { summary: string; alert?: { code: number }; httpStatus?: number } };

test("probe causes: TLS 1.3 not offered, an allow-list's 403, the partner's own revoked certificate (nginx)", async (t) => {
  if (!haveNginx()) return t.skip("nginx is not installed");
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const srv = await serverCert(dir);
  const tls = { serverCert: srv.cert, serverKey: srv.key, caBundle: join(pki, "ca/ca-bundle.pem"), crlBundle: join(pki, "crl/crl-bundle.pem") };
  const gw = await startNginx(t, dir, { ...tls, noTls13: true });
  const url = `https://localhost:${gw.port}/`;

  // nginx with TLS 1.2 only: every 1.2 expectation holds, the 1.3 scenarios are "not offered".
  const r = await mtls(["probe", url, "--server-ca", srv.cert, "--json"], { cwd: dir, timeoutMs: 120_000 });
  const target = json(r).result.targets[0];
  const attempts: Attempt[] = target.attempts;
  assert.equal(r.exitCode, 0, JSON.stringify(attempts.filter((a) => a.verdict !== "pass" && a.verdict !== "info")));
  assert.deepEqual(target.tlsNotOffered, ["1.3"]);
  assert.deepEqual(target.likelyCauses, []);
  for (const a of attempts.filter((x) => x.tls === "1.3")) {
    assert.equal(a.verdict, "skipped", a.scenario);
    assert.equal(a.evidence.alert?.code, 70);
    assert.match(a.evidence.summary, /^TLS 1\.3 not offered by the gateway/);
  }
  const human = await mtls(["probe", url, "--server-ca", srv.cert, "--scenarios", "valid,no-cert"], { cwd: dir });
  assert.equal(human.exitCode, 0, human.stdout);
  assert.match(human.stdout, /TLS 1\.3 not offered by the gateway/);
  assert.doesNotMatch(human.stdout, /valid certificate was not accepted/);

  // Only TLS 1.3 asked for, and not offered: nothing was proven, so it fails, and says why.
  const only13 = await mtls(["probe", url, "--server-ca", srv.cert, "--tls", "1.3", "--scenarios", "valid", "--json"], { cwd: dir });
  assert.equal(only13.exitCode, 1);
  assert.match(json(only13).result.targets[0].likelyCauses.join("\n"), /TLS 1\.3 not offered.*ssl_protocols/);

  // A 403 after the handshake is an allow-list, not a missing intermediate or CRL.
  const allow = await startNginx(t, dir, { ...tls, allowCn: "somebody-else" });
  const denied = await mtls(["probe", `https://localhost:${allow.port}/`, "--server-ca", srv.cert, "--scenarios", "valid", "--json"], { cwd: dir });
  assert.equal(denied.exitCode, 1);
  const causes: string[] = json(denied).result.targets[0].likelyCauses;
  assert.equal(causes.length, 1, causes.join("\n"));
  assert.match(causes[0] as string, /HTTP 403.*allow-list/);

  // The partner's own certificate, revoked at offboarding: nginx only says 400; the PKI knows why.
  const { csr, key } = await makeCsr(dir, "acme");
  const issued = json(await mtls(["partner", "issue", "acme", "--csr", csr, "--out", "acme.pem", "--json"], { cwd: dir })).result;
  assert.equal((await mtls(["partner", "offboard", "acme", "--yes"], { cwd: dir })).exitCode, 0);
  await gw.reload();
  const own = await mtls(["probe", url, "--server-ca", srv.cert, "--cert", "acme.pem", "--key", key, "--tls", "1.2", "--scenarios", "valid", "--json"], {
    cwd: dir,
  });
  assert.equal(own.exitCode, 1);
  const ownTarget = json(own).result.targets[0];
  assert.equal(ownTarget.attempts[0].evidence.httpStatus, 400);
  assert.equal(ownTarget.likelyCauses.length, 1, ownTarget.likelyCauses.join("\n"));
  assert.match(ownTarget.likelyCauses[0], new RegExp(`--cert \\(serial ${issued.serial}\\) is revoked.*cessationOfOperation.*mtls partner show acme`));
  // The partner's side has no PKI to look in: nginx's bare 400 still suggests its own certificate first.
  const partnerSide = await tempDir(t);
  const blind = await mtls(
    ["probe", url, "--server-ca", srv.cert, "--cert", join(dir, "acme.pem"), "--key", key, "--tls", "1.2", "--scenarios", "valid", "--json"],
    { cwd: partnerSide },
  );
  assert.equal(blind.exitCode, 1);
  assert.match(json(blind).result.targets[0].likelyCauses[0], new RegExp(`--cert \\(serial ${issued.serial}\\) may have been revoked`));
});
