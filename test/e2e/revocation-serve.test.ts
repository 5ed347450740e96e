// #17: `mtls revocation serve` — CRLs over HTTP and an OCSP responder, checked with openssl's
// OCSP client and curl, and used live by nginx (ssl_ocsp), Apache (SSLOCSPEnable) and stunnel.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import {
  apacheBin,
  apacheGlobals,
  freePort,
  haveApache,
  haveNginx,
  haveStunnel,
  startApache,
  startNginx,
  startProcess,
  startStunnel,
} from "../helpers/gateways.js";
import { have } from "../helpers/run.js";

const haveStunnelBin = () => (have("stunnel4") ? "stunnel4" : "stunnel");

import { BIN, baseEnv, json, mtls, openssl, PASSPHRASE, run } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

interface Responder {
  child: ChildProcess;
  url: string;
  log: () => string;
}

let dir = "";
let pki = "";
let responder: Responder;

async function startResponder(cwd: string): Promise<Responder> {
  const child = spawn(process.execPath, [BIN, "revocation", "serve", "--port", "0"], { cwd, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 200 && !/http:\/\//.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
  if (!/http:\/\//.test(stdout)) throw new Error(`revocation serve did not start:\n${stderr}`);
  return { child, url: stdout.trim(), log: () => stderr };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-ocsp-"));
  pki = join(dir, "pki");
  const init = await mtls(["ca", "init", "--name", "Ocsp Test", "--org", "Test Org", "--json"], { cwd: dir });
  assert.equal(init.exitCode, 0, init.stderr);
  responder = await startResponder(dir);
});

after(async () => {
  responder?.child.kill("SIGTERM");
  if (responder && responder.child.exitCode === null) await once(responder.child, "exit");
  await rm(dir, { recursive: true, force: true });
});

async function issue(partner: string): Promise<{ serial: string; certPath: string; chainPath: string; key: string }> {
  const { csr, key } = await makeCsr(dir, `${partner}-${Math.random().toString(36).slice(2, 7)}`, { subj: `/O=Partner/CN=${partner}-client` });
  const r = await mtls(["partner", "issue", partner, "--csr", csr, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  return { ...json(r).result, key };
}

/** Asks the responder with openssl's OCSP client, verifying the answer against the root. */
function ocsp(target: string[], extra: string[] = []) {
  return openssl([
    "ocsp",
    "-issuer",
    join(pki, "ca/intermediate.pem"),
    ...extra,
    ...target,
    "-url",
    `${responder.url}/ocsp`,
    "-CAfile",
    join(pki, "ca/ca-bundle.pem"),
    "-timeout",
    "5",
  ]);
}

test("openssl ocsp: good, then revoked with reason at the next request (no restart), unknown; SHA-1 and SHA-256 CertIDs, with and without nonce", async () => {
  const a = await issue("alpha");
  for (const extra of [[], ["-no_nonce"], ["-sha256"], ["-sha256", "-no_nonce"]]) {
    const r = await ocsp(["-cert", a.certPath], extra);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr + r.stdout, /Response verify OK/);
    assert.match(r.stdout, new RegExp(`${a.certPath.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: good`));
    // openssl checks an echoed nonce and warns when a response lacks the one it sent.
    if (!extra.includes("-no_nonce")) assert.doesNotMatch(r.stdout + r.stderr, /no nonce in response|nonce verify error/i);
  }
  const rev = await mtls(["revoke", a.serial, "--reason", "keyCompromise", "--yes", "--json"], { cwd: dir });
  assert.equal(rev.exitCode, 0, rev.stderr);
  const r = await ocsp(["-cert", a.certPath], ["-sha256"]);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stderr + r.stdout, /Response verify OK/);
  assert.match(r.stdout, /: revoked/);
  assert.match(r.stdout, /Reason: keyCompromise/);
  assert.match(r.stdout, /Revocation Time: /);

  const unknown = await ocsp(["-serial", "0x7a1b2c3d4e5f"]);
  assert.equal(unknown.exitCode, 0, unknown.stderr);
  assert.match(unknown.stdout, /0x7a1b2c3d4e5f: unknown/);

  // The intermediate is the root's to answer for, through the root's own responder.
  const int = await openssl([
    "ocsp",
    "-issuer",
    join(pki, "ca/root.pem"),
    "-cert",
    join(pki, "ca/intermediate.pem"),
    "-url",
    `${responder.url}/ocsp`,
    "-CAfile",
    join(pki, "ca/ca-bundle.pem"),
  ]);
  assert.equal(int.exitCode, 0, int.stderr);
  assert.match(int.stdout, /intermediate\.pem: good/);
  assert.match(int.stderr + int.stdout, /Response verify OK/);
});

test("the nonce of a POSTed request comes back byte for byte", async () => {
  const a = await issue("nonce");
  const reqFile = join(dir, "nonce-req.der");
  const respFile = join(dir, "nonce-resp.der");
  await openssl(["ocsp", "-issuer", join(pki, "ca/intermediate.pem"), "-cert", a.certPath, "-reqout", reqFile]);
  const post = await run("curl", [
    "-sS",
    "--data-binary",
    `@${reqFile}`,
    "-H",
    "Content-Type: application/ocsp-request",
    "-o",
    respFile,
    `${responder.url}/ocsp`,
  ]);
  assert.equal(post.exitCode, 0, post.stderr);
  const text = await openssl(["ocsp", "-respin", respFile, "-resp_text", "-noverify"]);
  assert.match(text.stdout, /OCSP Nonce:/);
  const reqText = await openssl(["ocsp", "-reqin", reqFile, "-req_text"]);
  const nonceOf = (s: string) => /OCSP Nonce:\s*\n\s*([0-9A-F]+)/.exec(s)?.[1];
  assert.ok(nonceOf(reqText.stdout));
  assert.equal(nonceOf(text.stdout), nonceOf(reqText.stdout));
});

test("GET (RFC 5019): base64 in the path, cache headers bounded by nextUpdate; openssl verifies the answer", async () => {
  const a = await issue("getter");
  const reqFile = join(dir, "get-req.der");
  await openssl(["ocsp", "-issuer", join(pki, "ca/intermediate.pem"), "-cert", a.certPath, "-no_nonce", "-reqout", reqFile]);
  const b64 = encodeURIComponent((await readFile(reqFile)).toString("base64"));
  const respFile = join(dir, "get-resp.der");
  const get = await run("curl", ["-sS", "-D", "-", "-o", respFile, `${responder.url}/ocsp/${b64}`]);
  assert.equal(get.exitCode, 0, get.stderr);
  assert.match(get.stdout, /content-type: application\/ocsp-response/i);
  const maxAge = Number(/max-age=(\d+)/.exec(get.stdout)?.[1]);
  const expires = Date.parse(/expires: (.+)\r/i.exec(get.stdout)?.[1] ?? "");
  assert.ok(maxAge > 0 && maxAge <= 60, get.stdout);
  assert.ok(expires - Date.now() >= maxAge * 1000 - 2000, "max-age never outlasts nextUpdate");
  assert.match(get.stdout, /etag: "/i);
  const v = await openssl([
    "ocsp",
    "-respin",
    respFile,
    "-issuer",
    join(pki, "ca/intermediate.pem"),
    "-cert",
    a.certPath,
    "-CAfile",
    join(pki, "ca/ca-bundle.pem"),
  ]);
  assert.equal(v.exitCode, 0, v.stderr);
  assert.match(v.stderr + v.stdout, /Response verify OK/);
  assert.match(v.stdout, /: good/);
});

test("hostile requests: garbage is malformedRequest, a foreign issuer unauthorized, a huge body 413; the responder keeps serving", async () => {
  const bad = join(dir, "bad.der");
  const post = await run("curl", ["-sS", "--data-binary", "not an ocsp request", "-o", bad, `${responder.url}/ocsp`]);
  assert.equal(post.exitCode, 0);
  assert.match((await openssl(["ocsp", "-respin", bad, "-resp_text", "-noverify"])).stdout + "", /malformedrequest/i);

  const badGet = join(dir, "bad-get.der");
  await run("curl", ["-sS", "-o", badGet, `${responder.url}/ocsp/%E0%A4%A`]);
  assert.match((await openssl(["ocsp", "-respin", badGet, "-resp_text", "-noverify"])).stdout, /malformedrequest/i);

  // A certificate issued by someone else: its issuer hashes match none of our CAs.
  const foreign = await serverCert(await mkdtemp(join(dir, "foreign-")));
  const u = await openssl(["ocsp", "-issuer", foreign.cert, "-cert", foreign.cert, "-url", `${responder.url}/ocsp`, "-noverify"]);
  assert.match(u.stdout + u.stderr, /unauthorized/i);

  const big = join(dir, "big.bin");
  await writeFile(big, Buffer.alloc(64 * 1024, 0x30));
  const huge = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", `@${big}`, `${responder.url}/ocsp`]);
  assert.equal(huge.stdout, "413");

  const ctl = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", `${responder.url}/%1b%5b2J%07`]);
  assert.equal(ctl.stdout, "404");
  // Control characters from a request path never reach the log raw.
  assert.doesNotMatch(responder.log(), /[\x00-\x08\x0b-\x1f\x7f]/);
  const health = await run("curl", ["-sS", `${responder.url}/health`]);
  assert.equal(JSON.parse(health.stdout).ok, true);
});

test("CRLs over HTTP: DER at the distribution point, verified by openssl; ETag revalidation; caching never past nextUpdate", async () => {
  for (const role of ["intermediate", "root"]) {
    const out = join(dir, `${role}-fetched.crl`);
    const r = await run("curl", ["-sS", "-D", "-", "-o", out, `${responder.url}/crl/${role}.crl`]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /content-type: application\/pkix-crl/i);
    assert.match(r.stdout, /last-modified: /i);
    const v = await openssl(["crl", "-inform", "DER", "-in", out, "-CAfile", join(pki, "ca/chain.pem"), "-noout", "-verify"]);
    assert.match(v.stderr + v.stdout, /verify OK/);
    assert.deepEqual(await readFile(out), await readFile(join(pki, "crl", `${role}.crl`)));
    const etag = /etag: (".+")/i.exec(r.stdout)?.[1] as string;
    const again = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", `If-None-Match: ${etag}`, `${responder.url}/crl/${role}.crl`]);
    assert.equal(again.stdout, "304");
  }
  // A newly published CRL is served at the next request (the parsed copy follows the file).
  assert.equal((await mtls(["crl", "publish", "-q"], { cwd: dir })).exitCode, 0);
  const fresh = join(dir, "fresh.crl");
  assert.equal((await run("curl", ["-sS", "-o", fresh, `${responder.url}/crl/intermediate.crl`])).exitCode, 0);
  assert.deepEqual(await readFile(fresh), await readFile(join(pki, "crl/intermediate.crl")));
});

test("the responder certificates: delegated (OCSPSigning, nocheck), short-lived, key encrypted at rest, audited, reused by the next start", async () => {
  for (const role of ["intermediate", "root"]) {
    const text = await openssl(["x509", "-in", join(pki, "ca", `ocsp-${role}.pem`), "-noout", "-text", "-enddate"]);
    assert.match(text.stdout, /OCSP Signing/);
    assert.match(text.stdout, /OCSP No Check/);
    const end = Date.parse(/notAfter=(.+)/.exec(text.stdout)?.[1] ?? "");
    assert.ok(end - Date.now() <= 7 * 86_400_000 + 60_000, "lives at most a week");
    const v = await openssl([
      "verify",
      "-CAfile",
      join(pki, "ca/root.pem"),
      "-untrusted",
      join(pki, "ca/intermediate.pem"),
      join(pki, "ca", `ocsp-${role}.pem`),
    ]);
    assert.equal(v.exitCode, 0, v.stdout + v.stderr);
    const key = join(pki, "private", `ocsp-${role}.key`);
    assert.match(await readFile(key, "utf8"), /BEGIN ENCRYPTED PRIVATE KEY/);
    assert.equal((await stat(key)).mode & 0o777, 0o600);
    const pkey = await openssl(["pkey", "-in", key, "-passin", `pass:${PASSPHRASE}`, "-noout"]);
    assert.equal(pkey.exitCode, 0, pkey.stderr);
  }
  const before = await readFile(join(pki, "ca/ocsp-intermediate.pem"), "utf8");
  const second = await startResponder(dir);
  second.child.kill("SIGTERM");
  const [code] = await once(second.child, "exit");
  assert.equal(code, 0, "SIGTERM stops the responder cleanly");
  assert.match(second.log(), /stopped after \d+ requests/);
  assert.equal(await readFile(join(pki, "ca/ocsp-intermediate.pem"), "utf8"), before, "a fresh responder certificate is reused, not reissued");
  const audit = json(await mtls(["audit", "--json"], { cwd: dir })).result;
  const issued = audit.records.filter((r: { action: string; outcome: string }) => r.action === "ocsp.responder" && r.outcome === "issued");
  assert.equal(issued.length, 2);
});

for (const [name, have, start] of [
  ["nginx (ssl_ocsp, no CRL)", haveNginx, startNginx],
  ["Apache httpd (SSLOCSPEnable, no CRL)", haveApache, startApache],
  ["stunnel (OCSP, no CRL)", haveStunnel, startStunnel],
] as const) {
  test(`${name} asks the responder on every handshake: a partner revoked a moment ago is refused with no reload`, {
    skip: have() ? false : `${name} not installed`,
  }, async (t) => {
    const gwDir = await mkdtemp(join(dir, "gw-"));
    const server = await serverCert(gwDir);
    const gw = await start(t, gwDir, {
      serverCert: server.cert,
      serverKey: server.key,
      caBundle: join(pki, "ca/ca-bundle.pem"),
      ocspResponder: `${responder.url}/ocsp`,
    });
    const keep = await issue("keeper");
    const gone = await issue("leaver");
    const cacert = server.cert;
    const ok1 = await curlWithCert(gw.port, { cert: keep.chainPath, key: keep.key, cacert });
    const ok2 = await curlWithCert(gw.port, { cert: gone.chainPath, key: gone.key, cacert });
    assert.equal(ok1.status, 200, ok1.stderr + ok1.body);
    assert.equal(ok2.status, 200, ok2.stderr + ok2.body);
    const rev = await mtls(["revoke", gone.serial, "--yes", "--json"], { cwd: dir });
    assert.equal(rev.exitCode, 0, rev.stderr);
    const refused = await curlWithCert(gw.port, { cert: gone.chainPath, key: gone.key, cacert });
    assert.notEqual(refused.status, 200, `revoked partner still accepted: ${refused.body}`);
    const still = await curlWithCert(gw.port, { cert: keep.chainPath, key: keep.key, cacert });
    assert.equal(still.status, 200, still.stderr + still.body);
  });
}

test("ca policy set: new certificates name the responder (AIA) and the distribution point; both answer, and stunnel follows the AIA", async (t) => {
  const before = await readFile(join(pki, "config.json"), "utf8");
  const bad = await mtls(["ca", "policy", "set", "--ocsp-url", "ftp://x/\u001b[2J", "--json"], { cwd: dir });
  assert.equal(bad.exitCode, 2);
  assert.equal(json(bad).error?.code, "ERR_OCSP_URL");
  assert.equal(await readFile(join(pki, "config.json"), "utf8"), before, "a refused change leaves the store as it was");
  const none = await mtls(["ca", "policy", "set", "--json"], { cwd: dir });
  assert.equal(none.exitCode, 2);

  const set = await mtls(["ca", "policy", "set", "--ocsp-url", `${responder.url}/ocsp`, "--crl-url", `${responder.url}/pki/partners.crl`, "--json"], {
    cwd: dir,
  });
  assert.equal(set.exitCode, 0, set.stderr);
  assert.deepEqual(
    json(set)
      .result.changed.map((c: { setting: string }) => c.setting)
      .sort(),
    ["crlUrl", "ocspUrl"],
  );
  const show = json(await mtls(["ca", "show", "--json"], { cwd: dir })).result;
  assert.equal(show.ocspUrl, `${responder.url}/ocsp`);
  const audit = json(await mtls(["audit", "--action", "ca.policy", "--json"], { cwd: dir })).result.records;
  assert.equal(audit.at(-1).details.ocspUrl, `${responder.url}/ocsp`);

  const a = await issue("aia");
  const uri = (await openssl(["x509", "-in", a.certPath, "-noout", "-ocsp_uri"])).stdout.trim();
  assert.equal(uri, `${responder.url}/ocsp`);
  const r = await openssl(["ocsp", "-issuer", join(pki, "ca/intermediate.pem"), "-cert", a.certPath, "-url", uri, "-CAfile", join(pki, "ca/ca-bundle.pem")]);
  assert.match(r.stdout, /: good/);
  const cdp = /URI:(\S+)/.exec((await openssl(["x509", "-in", a.certPath, "-noout", "-ext", "crlDistributionPoints"])).stdout)?.[1] as string;
  assert.equal(cdp, `${responder.url}/pki/partners.crl`);
  const crlFile = join(dir, "cdp.crl");
  assert.equal((await run("curl", ["-sS", "-o", crlFile, cdp])).exitCode, 0);
  const v = await openssl(["crl", "-inform", "DER", "-in", crlFile, "-CAfile", join(pki, "ca/chain.pem"), "-noout", "-verify"]);
  assert.match(v.stderr + v.stdout, /verify OK/);

  if (!haveStunnel()) return t.skip("stunnel not installed");
  const gwDir = await mkdtemp(join(dir, "aia-"));
  const server = await serverCert(gwDir);
  const gw = await startStunnel(t, gwDir, { serverCert: server.cert, serverKey: server.key, caBundle: join(pki, "ca/ca-bundle.pem"), ocspAia: true });
  const b = await issue("aia-gone");
  assert.equal((await curlWithCert(gw.port, { cert: a.chainPath, key: a.key, cacert: server.cert })).status, 200);
  assert.equal((await curlWithCert(gw.port, { cert: b.chainPath, key: b.key, cacert: server.cert })).status, 200);
  assert.equal((await mtls(["revoke", b.serial, "--yes"], { cwd: dir })).exitCode, 0);
  assert.notEqual((await curlWithCert(gw.port, { cert: b.chainPath, key: b.key, cacert: server.cert })).status, 200);
  assert.equal((await curlWithCert(gw.port, { cert: a.chainPath, key: a.key, cacert: server.cert })).status, 200);
});

test("status asks the responder about the revoked canary: healthy while it answers, exit 1 naming it when it is down or not OCSP", async () => {
  const set = (url: string) => mtls(["ca", "policy", "set", "--ocsp-url", url], { cwd: dir });
  assert.equal((await set(`${responder.url}/ocsp`)).exitCode, 0);
  const ok = await mtls(["status", "--json"], { cwd: dir });
  const doc = json(ok);
  assert.equal(doc.result.ocsp.ok, true, JSON.stringify(doc.result));
  assert.equal(doc.result.ocsp.canaryStatus, "revoked");
  assert.match(doc.result.ocsp.signer, /OCSP Responder/);
  assert.ok(!doc.result.problems.some((p: { kind: string }) => p.kind.startsWith("ocsp")));

  const deadPort = (await import("../helpers/gateways.js")).freePort;
  for (const url of [`http://127.0.0.1:${await deadPort()}/ocsp`, `${responder.url}/crl/intermediate.crl`]) {
    assert.equal((await set(url)).exitCode, 0);
    const r = await mtls(["status", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 1, r.stdout);
    const p = json(r).result.problems.find((x: { kind: string }) => x.kind === "ocsp-down");
    assert.ok(p, r.stdout);
    assert.ok(p.message.includes(url));
    const human = await mtls(["status"], { cwd: dir });
    assert.match(human.stdout, /OCSP responder .* cannot vouch for this PKI/);
  }
  assert.equal((await set(`${responder.url}/ocsp`)).exitCode, 0);
});

test("crl publish --then reloads a file-loading gateway without a shell: nginx refuses the revoked partner only after the hook ran", async (t) => {
  if (!haveNginx()) return t.skip("nginx not installed");
  const gwDir = await mkdtemp(join(dir, "then-"));
  const publishDir = join(gwDir, "crl");
  assert.equal((await mtls(["ca", "policy", "set", "--crl-publish-dir", publishDir], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["crl", "publish", "-q"], { cwd: dir })).exitCode, 0);
  const server = await serverCert(gwDir);
  const gw = await startNginx(t, gwDir, {
    serverCert: server.cert,
    serverKey: server.key,
    caBundle: join(pki, "ca/ca-bundle.pem"),
    crlBundle: join(publishDir, "crl-bundle.pem"),
  });
  const p = await issue("then-partner");
  assert.equal((await curlWithCert(gw.port, { cert: p.chainPath, key: p.key, cacert: server.cert })).status, 200);
  assert.equal((await mtls(["revoke", p.serial, "--yes", "-q"], { cwd: dir })).exitCode, 0);
  // nginx read its CRL at start: without a reload the revoked partner still gets in.
  assert.equal((await curlWithCert(gw.port, { cert: p.chainPath, key: p.key, cacert: server.cert })).status, 200);

  const refused = await mtls(["crl", "publish", "--then", "kill -HUP $(cat nginx.pid)"], { cwd: dir });
  assert.equal(refused.exitCode, 2, "shell syntax is refused, not passed on");
  const r = await mtls(["crl", "publish", "--then", `kill -HUP ${gw.pid}`, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.deepEqual(json(r).result.hook.command, ["kill", "-HUP", String(gw.pid)]);
  assert.equal(json(r).result.hook.exitCode, 0);
  await new Promise((res) => setTimeout(res, 700)); // nginx replaces its workers asynchronously
  assert.equal((await curlWithCert(gw.port, { cert: p.chainPath, key: p.key, cacert: server.cert })).status, 400);

  const failing = await mtls(["crl", "publish", "--then", "false", "--json"], { cwd: dir });
  assert.equal(failing.exitCode, 1, "published, but the hook failed");
  assert.equal(json(failing).result.hook.exitCode, 1);
  assert.match(json(failing).warnings.join("\n"), /published, but `false` exited 1/);
  assert.equal((await mtls(["ca", "policy", "set", "--crl-publish-dir", "none"], { cwd: dir })).exitCode, 0);
});

test("gateway config renders OCSP for nginx, Apache and stunnel: the rendered configs, run live, refuse a partner revoked a moment before without a reload", async (t) => {
  assert.equal((await mtls(["ca", "policy", "set", "--ocsp-url", `${responder.url}/ocsp`], { cwd: dir })).exitCode, 0);
  const up = http.createServer((_req, res) => res.end("upstream ok\n"));
  up.listen(0, "127.0.0.1");
  await once(up, "listening");
  t.after(() => new Promise<void>((r) => up.close(() => r())));
  const upstream = `http://127.0.0.1:${(up.address() as import("node:net").AddressInfo).port}`;
  const haproxy = await mtls(["gateway", "config", "haproxy", "--json"], { cwd: dir });
  assert.match(json(haproxy).warnings.join("\n"), /cannot check client certificates with OCSP/);
  const kong = await mtls(["gateway", "config", "kong"], { cwd: dir });
  assert.match(kong.stdout, /revocation_check_mode: STRICT/);

  for (const kind of ["nginx", "apache", "stunnel"] as const) {
    if (!{ nginx: haveNginx, apache: haveApache, stunnel: haveStunnel }[kind]()) continue;
    const out = await mkdtemp(join(dir, `${kind}-ocsp-`));
    const srv = await serverCert(out);
    const port = await freePort();
    const args = ["gateway", "config", kind, "--listen", `127.0.0.1:${port}`, "--server-cert", srv.cert, "--server-key", srv.key];
    const host = kind === "stunnel" ? [] : ["--hostname", "localhost"]; // stunnel forwards bytes: no virtual host
    const r = await mtls([...args, "--upstream", upstream, ...host, "--out", `${out}/`, "--force", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    const conf = await readFile(join(out, kind === "stunnel" ? "stunnel.conf" : "mtls-partners.conf"), "utf8");
    if (kind === "stunnel") {
      assert.match(conf, new RegExp(`OCSP    = ${responder.url}/ocsp`));
      const conf2 = join(out, "run.conf");
      await writeFile(conf2, `foreground = yes\npid = ${out}/stunnel.pid\noutput = ${out}/stunnel.log\n${conf}`);
      await startProcess(t, haveStunnelBin(), [conf2], port, join(out, "stunnel.log"));
    } else if (kind === "nginx") {
      assert.match(conf, new RegExp(`ssl_ocsp_responder ${responder.url}/ocsp;`));
      await writeFile(
        join(out, "main.conf"),
        `daemon off; pid ${out}/nginx.pid; error_log ${out}/error.log; events {} http { access_log off; client_body_temp_path ${out}/b; proxy_temp_path ${out}/p; fastcgi_temp_path ${out}/f; uwsgi_temp_path ${out}/u; scgi_temp_path ${out}/s; include ${out}/mtls-partners.conf; }\n`,
      );
      await startProcess(t, "nginx", ["-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")], port, join(out, "error.log"));
    } else {
      assert.match(conf, new RegExp(`SSLOCSPDefaultResponder  ${responder.url}/ocsp`));
      const mods = ["mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers"];
      await writeFile(
        join(out, "main.conf"),
        [...apacheGlobals(out, mods, `${out}/error.log`, `${out}/apache.pid`), `Include ${out}/mtls-partners.conf`, ""].join("\n"),
      );
      await startProcess(t, apacheBin(), ["-f", join(out, "main.conf"), "-DFOREGROUND"], port, join(out, "error.log"));
    }
    const p = await issue(`${kind}-rendered`);
    const before = await curlWithCert(port, { cert: p.chainPath, key: p.key, cacert: srv.cert });
    assert.equal(before.status, 200, `${kind}: ${before.stderr}${before.body}`);
    assert.equal((await mtls(["revoke", p.serial, "--yes", "-q"], { cwd: dir })).exitCode, 0);
    const after = await curlWithCert(port, { cert: p.chainPath, key: p.key, cacert: srv.cert });
    assert.notEqual(after.status, 200, `${kind} still accepts a revoked partner`);
  }
});

test("probe: the OCSP canary is refused only by a gateway that asks the responder; --measure-revocation times the refusal", async (t) => {
  if (!haveNginx()) return t.skip("nginx not installed");
  const config = JSON.parse(await readFile(join(pki, "config.json"), "utf8"));
  assert.ok(config.ocspCanary?.serial, "revocation serve created the OCSP canary");
  // The canary is revoked at the responder and on no CRL.
  const ocspAnswer = await ocsp(["-cert", join(pki, "ca/ocsp-canary.pem")]);
  assert.match(ocspAnswer.stdout, /: revoked/);
  const onCrl = await openssl(["crl", "-in", join(pki, "crl/intermediate.crl.pem"), "-noout", "-text"]);
  assert.doesNotMatch(onCrl.stdout, new RegExp(config.ocspCanary.serial, "i"));

  const gwDir = await mkdtemp(join(dir, "probe-ocsp-"));
  const server = await serverCert(gwDir);
  const tls = { serverCert: server.cert, serverKey: server.key, caBundle: join(pki, "ca/ca-bundle.pem"), crlBundle: join(pki, "crl/crl-bundle.pem") };
  const withOcsp = await startNginx(t, gwDir, { ...tls, ocspResponder: `${responder.url}/ocsp` });
  const crlOnly = await startNginx(t, gwDir, tls);
  const probe = (port: number, extra: string[]) =>
    mtls(["probe", `https://localhost:${port}/`, "--server-ca", server.cert, "--scenarios", "valid,ocsp-revoked", "--json", ...extra], {
      cwd: dir,
      timeoutMs: 90_000,
    });
  const attemptsOf = (r: Awaited<ReturnType<typeof probe>>, scenario: string) =>
    json(r).result.targets[0].attempts.filter((a: { scenario: string }) => a.scenario === scenario) as Array<{ verdict: string; observed: string }>;

  const good = await probe(withOcsp.port, ["--expect-ocsp"]);
  assert.equal(good.exitCode, 0, good.stdout);
  for (const a of attemptsOf(good, "ocsp-revoked")) assert.deepEqual([a.observed, a.verdict], ["rejected", "pass"]);
  const control = await probe(crlOnly.port, ["--expect-ocsp"]);
  assert.equal(control.exitCode, 1, "a gateway that only loads CRL files fails --expect-ocsp");
  for (const a of attemptsOf(control, "ocsp-revoked")) assert.deepEqual([a.observed, a.verdict], ["accepted", "fail"]);
  const observed = await probe(crlOnly.port, []);
  assert.equal(observed.exitCode, 0, "without --expect-ocsp the canary is only reported");
  for (const a of attemptsOf(observed, "ocsp-revoked")) assert.equal(a.verdict, "info");

  const before = (await readFile(join(pki, "revocations.jsonl"), "utf8")).split("\n").length;
  const measured = await probe(withOcsp.port, ["--measure-revocation", "--revocation-timeout", "20s", "--scenarios", "valid"]);
  assert.equal(measured.exitCode, 0, measured.stdout);
  const m = json(measured).result.targets[0].revocation;
  assert.equal(m.verdict, "pass", JSON.stringify(m));
  assert.ok(m.refused && m.seconds >= 0 && m.seconds < 20, JSON.stringify(m));
  const journal = (await readFile(join(pki, "revocations.jsonl"), "utf8")).trim().split("\n");
  assert.equal(journal.length, before, "one revocation was recorded");
  assert.equal(JSON.parse(journal.at(-1) as string).serial, m.serial);
  assert.equal(JSON.parse(journal.at(-1) as string).partnerId, "(probe)");

  const stale = await probe(crlOnly.port, ["--measure-revocation", "--revocation-timeout", "2s", "--scenarios", "valid"]);
  assert.equal(stale.exitCode, 1, "a gateway that never sees the revocation fails the measurement");
  const s = json(stale).result.targets[0].revocation;
  assert.deepEqual([s.verdict, s.refused], ["fail", false]);
  assert.match(s.summary, /still accepted/);
  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 0, `the measurements leave a consistent store: ${doctor.stdout}`);
});

test("a responder started before a rollover answers for the CA it adds, and serves its CRL, without a restart", async (t) => {
  const own = await mkdtemp(join(tmpdir(), "mtls-ocsp-roll-"));
  t.after(() => rm(own, { recursive: true, force: true }));
  const ownPki = join(own, "pki");
  assert.equal((await mtls(["ca", "init", "--name", "Roll Ocsp", "--json"], { cwd: own })).exitCode, 0);
  const running = await startResponder(own);
  t.after(async () => {
    running.child.kill("SIGTERM");
    if (running.child.exitCode === null) await once(running.child, "exit");
  });
  const issueIn = async (partner: string) => {
    const { csr } = await makeCsr(own, partner);
    const r = await mtls(["partner", "issue", partner, "--csr", csr, "--json"], { cwd: own });
    assert.equal(r.exitCode, 0, r.stderr);
    return json(r).result as { serial: string; certPath: string };
  };
  const ask = async (issuer: string, cert: string) => {
    const r = await openssl([
      "ocsp",
      "-issuer",
      join(ownPki, `ca/${issuer}.pem`),
      "-cert",
      cert,
      "-url",
      `${running.url}/ocsp`,
      "-CAfile",
      join(ownPki, "ca/ca-bundle.pem"),
      "-timeout",
      "5",
    ]);
    assert.match(r.stderr, /Response verify OK/, r.stdout + r.stderr + running.log());
    return r.stdout;
  };
  const before = await issueIn("before");
  assert.match(await ask("intermediate", before.certPath), /: good/);
  assert.equal((await mtls(["ca", "rollover", "intermediate", "--yes", "--json"], { cwd: own })).exitCode, 0);
  const after = await issueIn("after");
  // The first request about intermediate-2 makes the responder load it; it waits 2 s for that
  // load, and on a loaded machine the load can take longer (the answer is then `unauthorized`,
  // and a client asks again). Ask again once the log says the load is done.
  const first = await openssl([
    "ocsp",
    "-issuer",
    join(ownPki, "ca/intermediate-2.pem"),
    "-cert",
    after.certPath,
    "-url",
    `${running.url}/ocsp`,
    "-timeout",
    "5",
  ]);
  if (!/: good/.test(first.stdout)) {
    assert.match(first.stdout + first.stderr, /unauthorized/, first.stdout + first.stderr);
    for (let i = 0; i < 300 && !/answering for intermediate-2/.test(running.log()); i++) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(await ask("intermediate-2", after.certPath), /: good/);
  assert.equal((await mtls(["revoke", after.serial, "--yes", "--json"], { cwd: own })).exitCode, 0);
  assert.match(await ask("intermediate-2", after.certPath), /: revoked/);
  assert.match(await ask("intermediate", before.certPath), /: good/);
  assert.match(running.log(), /config\.json changed: answering for intermediate-2, /);
  // The new CA's CRL at its distribution point, signed by it.
  const got = await run("curl", ["-sS", "-o", join(own, "i2.crl"), "-w", "%{http_code}", `${running.url}/crl/intermediate-2.crl`]);
  assert.equal(got.stdout, "200", got.stderr);
  const crl = await openssl(["crl", "-in", join(own, "i2.crl"), "-inform", "DER", "-CAfile", join(ownPki, "ca/intermediate-2.pem"), "-noout", "-text"]);
  assert.match(crl.stdout + crl.stderr, /verify OK/);
  assert.match(crl.stdout, new RegExp(after.serial.toUpperCase()));
});
