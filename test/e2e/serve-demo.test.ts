import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { BIN, baseEnv, initTempCa, json, mtls, PASSPHRASE, tempDir } from "../helpers/run.js";

test("mtls demo runs the whole lifecycle and every step is checked", async (t) => {
  const dir = join(await tempDir(t), "demo");
  const r = await mtls(["demo", "--dir", dir, "--json"], { timeoutMs: 120_000 });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const doc = json(r);
  assert.equal(doc.result.ok, true);
  assert.equal(doc.result.steps.length, 13);
  for (const s of doc.result.steps) assert.ok(s.ok && s.command && s.detail, JSON.stringify(s));
  assert.ok((await readdir(join(dir, "pki"))).includes("index.jsonl"));
  const human = await mtls(["demo"], { timeoutMs: 120_000 });
  assert.equal(human.exitCode, 0);
  assert.match(human.stdout, /^9\. Probe the gateway.*\n\s+\$ mtls probe /m);
  assert.match(human.stdout, /✔ all 13 steps behaved as expected/);
  await mkdir(join(dir, "..", "busy"));
  await writeFile(join(dir, "..", "busy", "x"), "x");
  const busy = await mtls(["demo", "--dir", join(dir, "..", "busy"), "--json"]);
  assert.equal(busy.exitCode, 4);
});

test("gateway serve: enforces the PKI, logs each request, picks up a new CRL without restart, stops on SIGTERM", async (t) => {
  const dir = await initTempCa(t);
  const { csr, key } = await makeCsr(dir, "served");
  const cert = json(await mtls(["partner", "issue", "served", "--csr", csr, "--json"], { cwd: dir })).result;
  const child = spawn(process.execPath, [BIN, "gateway", "serve", "--port", "0"], { cwd: dir, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) });
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 100 && !/https:\/\//.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
  const url = stdout.trim();
  const port = Number(new URL(url).port);
  const ca = join(dir, "pki/ca/ca-bundle.pem");

  const ok = await curlWithCert(port, { cert: cert.chainPath, key, cacert: ca });
  assert.equal(ok.status, 200, ok.stderr);
  const body = JSON.parse(ok.body);
  assert.equal(body.partner, "served");
  assert.equal(body.serial, cert.serial);
  // ISO-8601 like every time mtls writes, not OpenSSL's "Mar  7 22:23:20 2027 GMT".
  assert.equal(body.notAfter, cert.notAfter);
  const none = await curlWithCert(port, { cacert: ca });
  assert.equal(none.status, 0);
  assert.match(stderr, new RegExp(`200 GET / serial=${cert.serial} partner=served`));

  assert.equal((await mtls(["revoke", cert.serial, "--yes"], { cwd: dir })).exitCode, 0);
  let after = await curlWithCert(port, { cert: cert.chainPath, key, cacert: ca });
  for (let i = 0; i < 40 && after.status === 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await curlWithCert(port, { cert: cert.chainPath, key, cacert: ca });
  }
  assert.equal(after.status, 0, "the revoked certificate is refused without a restart");
  assert.match(stderr, /reloaded CRLs/);

  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  assert.equal(code, 0);
  assert.match(stderr, /stopped after \d+ requests/);
});

test("gateway serve --upstream forwards accepted requests with the client's identity", async (t) => {
  const dir = await initTempCa(t);
  const { csr, key } = await makeCsr(dir, "fwd", { subj: "/CN=fwd-client" });
  const cert = json(await mtls(["partner", "issue", "fwd", "--csr", csr, "--json"], { cwd: dir })).result;
  const upstream = http.createServer((req, res) => res.end(`hello ${req.headers["x-client-subject"]} (${req.headers["x-client-serial"]})\n`));
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  t.after(() => upstream.close());
  const upPort = (upstream.address() as import("node:net").AddressInfo).port;
  const child = spawn(process.execPath, [BIN, "gateway", "serve", "--port", "0", "--upstream", `http://127.0.0.1:${upPort}`], {
    cwd: dir,
    env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }),
  });
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  for (let i = 0; i < 100 && !/https:\/\//.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
  const r = await curlWithCert(Number(new URL(stdout.trim()).port), { cert: cert.chainPath, key, cacert: join(dir, "pki/ca/ca-bundle.pem") });
  assert.equal(r.status, 200, r.stderr);
  assert.equal(r.body, `hello fwd-client (${cert.serial})\n`);
});
