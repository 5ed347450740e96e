// gateway serve keeps what it enforces: a CRL bundle without a CA's CRL never turns revocation
// checking off (Node checks nothing when handed no CRL), and a client cannot pass the upstream an
// identity or a hop-by-hop field under another spelling.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, rename, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { BIN, baseEnv, have, initTempCa, json, mtls, PASSPHRASE, run } from "../helpers/run.js";

interface Received {
  url: string;
  rawHeaders: string[];
  body: string;
}

/** An upstream that records each request as it arrived: raw header names and the body. */
async function recordingUpstream(t: import("node:test").TestContext): Promise<{ port: number; seen: Received[] }> {
  const seen: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      seen.push({ url: req.url ?? "", rawHeaders: req.rawHeaders, body });
      res.end("ok\n");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    server.close();
    server.closeAllConnections();
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

/** Replaces a file the way a publication does (a new file renamed over it), so the gateway sees a change. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.new`, text);
  await rename(`${path}.new`, path);
}

test("gateway serve: CRL bundles without a CA's CRL are refused; client headers cannot pose as the gateway's", {
  skip: !have("curl") && "curl is not installed",
}, async (t) => {
  const dir = await initTempCa(t);
  const ca = join(dir, "pki/ca/ca-bundle.pem");
  const bundle = join(dir, "pki/crl/crl-bundle.pem");
  const issue = async (name: string) => {
    const { csr, key } = await makeCsr(dir, name, { subj: `/CN=${name}-client` });
    return { ...json(await mtls(["partner", "issue", name, "--csr", csr, "--json"], { cwd: dir })).result, key };
  };
  const acme = await issue("acme");
  const gone = await issue("gone");
  assert.equal((await mtls(["revoke", gone.serial, "--yes"], { cwd: dir })).exitCode, 0);

  const upstream = await recordingUpstream(t);
  const child = spawn(process.execPath, [BIN, "gateway", "serve", "--port", "0", "--upstream", `http://127.0.0.1:${upstream.port}`], {
    cwd: dir,
    env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }),
  });
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 200 && !/https:\/\//.test(stdout) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  const port = Number(new URL(stdout.trim()).port);
  const curl = (cert: { chainPath: string; key: string }, extra: string[]) =>
    run("curl", [
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      ca,
      "--cert",
      cert.chainPath,
      "--key",
      cert.key,
      "-w",
      "\n%{http_code}",
      ...extra,
      `https://localhost:${port}/`,
    ]);

  await t.test("identity spellings and hop-by-hop fields never reach the upstream; the gateway's identity does", async () => {
    const r = await curl(acme, [
      ...["-H", "X_Client_Subject: victim", "-H", "X_Client_Serial: 0123456789abcdef", "-H", "x-client_subject: victim2"],
      ...["-H", "Connection: keep-alive, X-Partner-Hint, X_Other_Hint", "-H", "X-Partner-Hint: for the gateway", "-H", "X-Other-Hint: 1"],
      ...["-H", "Keep-Alive: timeout=5", "-H", "TE: trailers", "-H", "Upgrade: websocket", "-H", "Proxy-Authorization: Basic Zm9vOmJhcg=="],
      ...["-H", "Proxy-Connection: keep-alive", "-H", "Trailer: X-Checksum", "-H", "X-Request-Id: abc-123"],
    ]);
    assert.match(r.stdout, /^ok\n\n200$/, r.stderr + stderr);
    const raw = upstream.seen.at(-1)?.rawHeaders ?? [];
    const names = raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const n of ["x_client_subject", "x_client_serial", "x-client_subject", "x-partner-hint", "x-other-hint", "keep-alive", "te", "upgrade"])
      assert.ok(!names.includes(n), `${n} reached the upstream: ${raw.join(" | ")}`);
    for (const n of ["proxy-authorization", "proxy-connection", "trailer"]) assert.ok(!names.includes(n), `${n} reached the upstream: ${raw.join(" | ")}`);
    const values = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]?.toLowerCase().replace(/_/g, "-") === name);
    assert.deepEqual(values("x-client-subject"), ["acme-client"]);
    assert.deepEqual(values("x-client-serial"), [acme.serial]);
    assert.deepEqual(values("x-request-id"), ["abc-123"]);
    assert.ok(!values("connection").some((v) => /hint/i.test(v)), raw.join(" | "));
  });

  await t.test("a body keeps its framing when Connection names it: the upstream gets one request", async () => {
    const smuggled = "GET /smuggled HTTP/1.1\r\nHost: upstream\r\n\r\n";
    const before = upstream.seen.length;
    const sized = await curl(acme, ["-X", "GET", "--data-binary", smuggled, "-H", "Connection: Content-Length"]);
    const chunked = await curl(acme, ["-X", "GET", "--data-binary", smuggled, "-H", "Transfer-Encoding: chunked", "-H", "Connection: Transfer-Encoding"]);
    assert.match(sized.stdout, /200$/, sized.stderr + stderr);
    assert.match(chunked.stdout, /200$/, chunked.stderr + stderr);
    assert.deepEqual(
      upstream.seen.slice(before).map((s) => [s.url, s.body]),
      [
        ["/", smuggled],
        ["/", smuggled],
      ],
    );
  });

  await t.test("a reload that finds no CRL keeps the previous CRLs in force", async () => {
    assert.equal((await curlWithCert(port, { cert: gone.chainPath, key: gone.key, cacert: ca })).status, 0, "revoked, CRL intact");
    const published = await readFile(bundle, "utf8");
    await replaceFile(bundle, "\n");
    for (let i = 0; i < 100 && !/CRL reload|reloaded CRLs/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await curlWithCert(port, { cert: gone.chainPath, key: gone.key, cacert: ca })).status, 0, "revoked, after the emptied bundle");
    assert.match(stderr, /CRL reload refused, the previous CRLs stay in force: .*crl-bundle\.pem holds no CRL of the intermediate, root CAs/);
    assert.doesNotMatch(stderr, /reloaded CRLs/);
    assert.equal((await curlWithCert(port, { cert: acme.chainPath, key: acme.key, cacert: ca })).status, 200);
    await replaceFile(bundle, published);
    for (let i = 0; i < 100 && !/reloaded CRLs/.test(stderr); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(stderr, /reloaded CRLs/);
    assert.equal((await curlWithCert(port, { cert: gone.chainPath, key: gone.key, cacert: ca })).status, 0, "revoked, after the good bundle");
  });

  await t.test("start-up on a bundle without every CA's CRL exits 5 naming the bundle", async () => {
    const published = await readFile(bundle, "utf8");
    const serve = () => mtls(["gateway", "serve", "--port", "0", "--json"], { cwd: dir, timeoutMs: 20_000 });
    await writeFile(bundle, "");
    const empty = await serve();
    assert.equal(empty.exitCode, 5, empty.stdout + empty.stderr);
    const doc = json(empty);
    assert.equal(doc.error?.code, "ERR_NO_CRL");
    assert.match(doc.error?.message ?? "", /crl-bundle\.pem holds no CRL of the intermediate, root CAs: client certificates could not be checked/);
    assert.match(doc.error?.hint ?? "", /mtls crl publish/);
    await writeFile(bundle, await readFile(join(dir, "pki/crl/root.crl.pem"), "utf8"));
    const rootOnly = await serve();
    assert.equal(rootOnly.exitCode, 5, rootOnly.stdout + rootOnly.stderr);
    assert.match(json(rootOnly).error?.message ?? "", /holds no CRL of the intermediate CA:/);
    await writeFile(bundle, published);
  });

  assert.equal(child.exitCode, null, `the gateway stopped:\n${stderr}`);
  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  assert.equal(code, 0, stderr);
});
