import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import test from "node:test";
import { parse } from "yaml";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { freePort, haveHaproxy, haveNginx } from "../helpers/gateways.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { BIN, baseEnv, initTempCa, json, mtls, PASSPHRASE, ROOT, run, tempDir } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

const example = (name: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  run("bash", [join(ROOT, "examples", name), ...args], {
    cwd,
    env: baseEnv({ MTLS: `${process.execPath} ${BIN}`, MTLS_CA_PASSPHRASE: PASSPHRASE, ...env }),
    timeoutMs: 120_000,
  });

test("examples/quickstart.sh runs the main job end to end", async (t) => {
  const r = await run("bash", [join(ROOT, "examples/quickstart.sh")], { cwd: await tempDir(t), timeoutMs: 120_000 });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /OK: the partner lifecycle works end to end/);
});

test("examples/onboard-partner.sh: a CSR and an OpenPGP key in, an encrypted bundle out", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@example-partner.example" });
  const { csr } = await makeCsr(dir, "example");
  const r = await example("onboard-partner.sh", ["example-co", csr, key.publicFile, "example.zip.pgp"], dir);
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  assert.equal((await stat(join(dir, "example.zip.pgp"))).mode & 0o777, 0o600);
  assert.match(await readFile(join(dir, "home-party.asc"), "utf8"), /BEGIN PGP PUBLIC KEY BLOCK/);
  await g.gpg(["--import", join(dir, "home-party.asc")]);
  const d = await g.gpg(["--status-fd", "2", "--trust-model", "always", "--output", join(dir, "b.zip"), "--decrypt", join(dir, "example.zip.pgp")]);
  assert.match(d.stderr, /\[GNUPG:\] VALIDSIG /);
});

test("examples/nginx snippet + offboard-partner.sh + ci-gate.sh against a real nginx", async (t) => {
  if (!haveNginx()) return t.skip("nginx is not installed");
  const dir = await initTempCa(t);
  const srv = await serverCert(dir);
  const { csr, key } = await makeCsr(dir, "leaving");
  const leaving = json(await mtls(["partner", "issue", "leaving", "--csr", csr, "--json"], { cwd: dir })).result;
  const upstream = http.createServer((_q, s) => s.end("upstream ok\n"));
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  t.after(() => upstream.close());
  const upPort = (upstream.address() as import("node:net").AddressInfo).port;
  const port = await freePort();
  // The snippet as shipped, with its paths pointed at this test's directory.
  const snippet = (await readFile(join(ROOT, "examples/nginx/mtls.conf"), "utf8"))
    .replaceAll("/etc/nginx/mtls/server.pem", srv.cert)
    .replaceAll("/etc/nginx/mtls/server.key", srv.key)
    .replaceAll("/etc/nginx/mtls/", `${dir}/`)
    .replace("listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`)
    .replace("http://127.0.0.1:8080", `http://127.0.0.1:${upPort}`)
    .replace("server_name api.example.com;", "server_name localhost;");
  await writeFile(join(dir, "mtls.conf"), snippet);
  await writeFile(join(dir, "ca-bundle.pem"), await readFile(join(dir, "pki/ca/ca-bundle.pem")));
  await writeFile(join(dir, "crl-bundle.pem"), await readFile(join(dir, "pki/crl/crl-bundle.pem")));
  await writeFile(
    join(dir, "nginx.conf"),
    `daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx.log; events {} http { access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s; include ${dir}/mtls.conf; }\n`,
  );
  const nginx: ChildProcess = spawn("nginx", ["-c", join(dir, "nginx.conf"), "-p", dir, "-e", join(dir, "nginx.log")], { stdio: "ignore" });
  t.after(() => nginx.kill("SIGTERM"));
  for (let i = 0; i < 100 && (await curlWithCert(port, { cacert: srv.cert })).exitCode === 7; i++) await new Promise((r) => setTimeout(r, 50));

  const before = await curlWithCert(port, { cert: leaving.chainPath, key, cacert: srv.cert });
  assert.equal(before.status, 200, before.stderr);
  assert.match(before.body, /upstream ok/);

  const gate = await example("ci-gate.sh", [`https://localhost:${port}/`, srv.cert], dir, { JUNIT: join(dir, "probe.xml") });
  assert.equal(gate.exitCode, 0, gate.stdout + gate.stderr);
  assert.match(gate.stdout, /ci-gate: PKI healthy and gateway enforcing mTLS/);
  assert.match(await readFile(join(dir, "probe.xml"), "utf8"), /<testsuite name="mtls probe https:\/\/localhost:\d+\/" tests="21" failures="0" errors="0"/);

  const off = await example("offboard-partner.sh", ["leaving", join(dir, "crl-bundle.pem")], dir, { RELOAD: `kill -HUP ${nginx.pid}` });
  assert.equal(off.exitCode, 0, off.stdout + off.stderr);
  await new Promise((r) => setTimeout(r, 700));
  const after = await curlWithCert(port, { cert: leaving.chainPath, key, cacert: srv.cert });
  assert.equal(after.status, 400, `after offboarding: ${after.status} ${after.body}`);

  // A gateway whose CRL is stale makes the gate fail (status exits 1 with the problem named).
  // The offboarded partner's CN stays reserved (#12): the next partner gets a CN of its own.
  await mtls(["partner", "issue", "next", "--csr", csr, "--cn", "next-client"], { cwd: dir });
  await mtls(["revoke", json(await mtls(["list", "--partner", "next", "--json"], { cwd: dir })).result.certificates[0].serial, "--no-publish", "--yes"], {
    cwd: dir,
  });
  const stale = await example("ci-gate.sh", [`https://localhost:${port}/`, srv.cert], dir, { JUNIT: join(dir, "probe2.xml") });
  assert.equal(stale.exitCode, 1);
  assert.match(stale.stdout, /not on the published CRL/);
});

test("examples/haproxy/haproxy.cfg passes haproxy -c; the GitHub Actions workflow parses and runs the gate", async (t) => {
  const workflow = parse(await readFile(join(ROOT, "examples/github-actions/mtls-gate.yml"), "utf8"));
  const steps = workflow.jobs.gate.steps as Array<{ run?: string; env?: Record<string, string> }>;
  const gate = steps.find((s) => s.run?.includes("ci-gate.sh"));
  assert.ok(gate, "the workflow runs ci-gate.sh");
  assert.equal(gate?.env?.MTLS_CA_PASSPHRASE, "${{ secrets.MTLS_CA_PASSPHRASE }}");
  if (!haveHaproxy()) return t.skip("haproxy is not installed");
  const dir = await initTempCa(t);
  const srv = await serverCert(dir);
  await writeFile(join(dir, "server.pem"), (await readFile(srv.cert, "utf8")) + (await readFile(srv.key, "utf8")));
  await writeFile(join(dir, "ca-bundle.pem"), await readFile(join(dir, "pki/ca/ca-bundle.pem")));
  await writeFile(join(dir, "crl-bundle.pem"), await readFile(join(dir, "pki/crl/crl-bundle.pem")));
  const cfg = (await readFile(join(ROOT, "examples/haproxy/haproxy.cfg"), "utf8")).replaceAll("/etc/haproxy/mtls/", `${dir}/`);
  await writeFile(join(dir, "haproxy.cfg"), cfg);
  const r = await run("haproxy", ["-c", "-f", join(dir, "haproxy.cfg")]);
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
});
