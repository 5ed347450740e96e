// #19: the gateway's own server certificate from `mtls server issue`, served by nginx and HAProxy
// configured by `gateway config --server`, verified by curl with nothing but the CA bundle.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { curlWithCert } from "../helpers/curl.js";
import { freePort, haveHaproxy, haveNginx, startProcess } from "../helpers/gateways.js";
import { json, mtls, openssl, snapshot } from "../helpers/run.js";

let dir: string;
let client: { chain: string; key: string };
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-server-"));
  assert.equal((await mtls(["ca", "init", "--name", "Srv Test", "--org", "Test Org", "--json"], { cwd: dir })).exitCode, 0);
  await mkdir(join(dir, "tls"));
  const r = await mtls(
    ["server", "issue", "gw", "--dns", "localhost", "--ip", "127.0.0.1", "--out", "tls/server.pem", "--out-key", "tls/server.pem.key", "--json"],
    {
      cwd: dir,
    },
  );
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const p = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key", "--json"], { cwd: dir });
  assert.equal(p.exitCode, 0, p.stdout);
  client = { chain: json(p).result.chainPath, key: join(dir, "acme.key") };
});
after(() => rm(dir, { recursive: true, force: true }));

test("server issue: serverAuth only, key 0600, openssl verify -purpose sslserver passes and sslclient fails; kind server in the index", async () => {
  assert.equal((await stat(join(dir, "tls/server.pem.key"))).mode & 0o777, 0o600);
  const verify = (purpose: string) =>
    openssl(["verify", "-purpose", purpose, "-CAfile", join(dir, "pki/ca/root.pem"), "-untrusted", join(dir, "tls/server.pem"), join(dir, "tls/server.pem")]);
  const server = await verify("sslserver");
  assert.equal(server.exitCode, 0, server.stderr);
  const asClient = await verify("sslclient");
  assert.notEqual(asClient.exitCode, 0);
  assert.match(asClient.stdout + asClient.stderr, /unsuitable certificate purpose/);
  const text = (await openssl(["x509", "-noout", "-text", "-in", join(dir, "tls/server.pem")])).stdout;
  assert.match(text, /TLS Web Server Authentication/);
  assert.doesNotMatch(text, /TLS Web Client Authentication/);
  assert.match(text, /DNS:localhost, IP Address:127\.0\.0\.1/);

  const servers = json(await mtls(["list", "--kind", "server", "--json"], { cwd: dir })).result.certificates;
  assert.equal(servers.length, 1);
  assert.equal(servers[0].kind, "server");
  assert.equal(servers[0].partnerId, "server:gw");
  const clients = json(await mtls(["list", "--kind", "client", "--json"], { cwd: dir })).result.certificates;
  assert.ok(clients.every((c: { kind?: string }) => c.kind !== "server"));
  const partners = json(await mtls(["partner", "list", "--json"], { cwd: dir })).result.partners;
  assert.ok(!partners.some((p: { id: string }) => p.id.startsWith("server")), "a server is not a partner");
});

test("server issue refuses: no --dns/--ip (2), no key destination (2), a bad --ip (2), a bad name (3), an existing --out (4); the store is unchanged", async () => {
  const before = await snapshot(join(dir, "pki"));
  const cases: Array<[string[], number]> = [
    [["server", "issue", "x", "--out", "x.pem", "--out-key", "x.key"], 2],
    [["server", "issue", "x", "--dns", "x.example", "--out", "x.pem"], 2],
    [["server", "issue", "x", "--ip", "300.1.1.1", "--out", "x.pem", "--out-key", "x.key"], 2],
    [["server", "issue", "Bad/Name", "--dns", "x.example", "--out", "x.pem", "--out-key", "x.key"], 3],
    [["server", "issue", "gw", "--dns", "localhost", "--out", "tls/server.pem", "--out-key", "y.key"], 4],
  ];
  for (const [args, code] of cases) {
    const r = await mtls([...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, code, `${args.join(" ")}: ${r.stdout}`);
    assert.ok(json(r).error?.message);
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("server issue --csr: the key stays with whoever made the CSR", async () => {
  const key = join(dir, "csr-server.key");
  const csr = join(dir, "csr-server.csr");
  assert.equal((await openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=ignored"])).exitCode, 0);
  const r = await mtls(["server", "issue", "gw2", "--dns", "gw2.example", "--csr", csr, "--out", "gw2.pem", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout);
  assert.equal(json(r).result.keyType, "rsa-2048");
  assert.equal(json(r).result.subject, "CN=gw2.example");
  const pub = async (args: string[]) => (await openssl(args)).stdout;
  assert.equal(await pub(["x509", "-noout", "-pubkey", "-in", join(dir, "gw2.pem")]), await pub(["pkey", "-pubout", "-in", key]));
});

async function upstream(t: import("node:test").TestContext): Promise<number> {
  const server = http.createServer((_req, res) => res.end("upstream ok\n"));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as import("node:net").AddressInfo).port;
}

for (const kind of ["nginx", "haproxy"] as const) {
  test(`${kind} configured by gateway config --server gw serves the issued certificate; curl verifies it with the CA bundle`, async (t) => {
    if (!(kind === "nginx" ? haveNginx() : haveHaproxy())) return t.skip(`${kind} is not installed`);
    const port = await freePort();
    const up = await upstream(t);
    const out = join(dir, `${kind}-conf`);
    const r = await mtls(
      ["gateway", "config", kind, "--server", "gw", "--listen", `127.0.0.1:${port}`, "--upstream", `http://127.0.0.1:${up}`, "--out", `${out}/`],
      {
        cwd: dir,
      },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    const conf = await readFile(join(out, kind === "nginx" ? "mtls-partners.conf" : "haproxy.cfg"), "utf8");
    assert.ok(conf.includes(join(dir, "tls/server.pem")), "the config names the issued certificate's path");
    if (kind === "nginx") {
      assert.ok(conf.includes(join(dir, "tls/server.pem.key")));
      const { writeFile } = await import("node:fs/promises");
      await writeFile(
        join(out, "main.conf"),
        `daemon off; pid ${out}/nginx.pid; error_log ${out}/error.log; events {} http { access_log off; client_body_temp_path ${out}/b; proxy_temp_path ${out}/p; fastcgi_temp_path ${out}/f; uwsgi_temp_path ${out}/u; scgi_temp_path ${out}/s; include ${out}/mtls-partners.conf; }\n`,
      );
      await startProcess(t, "nginx", ["-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")], port, join(out, "error.log"));
    } else {
      // HAProxy loads <crt>.key next to the certificate (ssl-load-extra-files), which is where server issue put it.
      await startProcess(t, "haproxy", ["-db", "-f", join(out, "haproxy.cfg")], port, join(out, "haproxy.cfg"));
    }
    const ok = await curlWithCert(port, { cert: client.chain, key: client.key, cacert: join(dir, "pki/ca/ca-bundle.pem") });
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.equal(ok.status, 200, ok.body);
    assert.match(ok.body, /upstream ok/);
  });
}

test("gateway config refuses flags a kind does not use (exit 2) instead of dropping them", async () => {
  const haproxyKey = await mtls(["gateway", "config", "haproxy", "--server-key", "/etc/x.key", "--json"], { cwd: dir });
  assert.equal(haproxyKey.exitCode, 2);
  assert.equal(json(haproxyKey).error?.code, "ERR_FLAG_UNUSED");
  assert.match(json(haproxyKey).error?.hint ?? "", /--server-cert file/);
  const k8s = await mtls(["gateway", "config", "k8s-secret", "--server", "gw", "--json"], { cwd: dir });
  assert.equal(k8s.exitCode, 2);
  const both = await mtls(["gateway", "config", "nginx", "--server", "gw", "--server-cert", "/x.pem", "--json"], { cwd: dir });
  assert.equal(both.exitCode, 2);
  // An unknown name is store content, like an unknown partner: exit 3, not a usage error.
  const unknown = await mtls(["gateway", "config", "nginx", "--server", "nope", "--json"], { cwd: dir });
  assert.equal(unknown.exitCode, 3);
  assert.equal(json(unknown).error?.code, "ERR_NO_SERVER_CERT");
});

test("status reports a server whose newest certificate has expired, with the command that renews it", async () => {
  const r = await mtls(["server", "issue", "short", "--dns", "short.example", "--days", "1", "--out", "short.pem", "--out-key", "short.key"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  // Expiring within the window here; the expired case (a clock two days on) is in test/unit/server-status.test.ts.
  const s = json(await mtls(["status", "--warn-within", "2d", "--json"], { cwd: dir }));
  const p = s.result.problems.find((x: { partnerId?: string }) => x.partnerId === "server:short");
  assert.ok(p, JSON.stringify(s.result.problems));
  assert.match(p.hint, /mtls server issue short/);
});

test("two gateways behind one name: a second server certificate for localhost is issued, and doctor finds no identity clash", async () => {
  const r = await mtls(["server", "issue", "gw-b", "--dns", "localhost", "--out", "gw-b.pem", "--out-key", "gw-b.key"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
});
