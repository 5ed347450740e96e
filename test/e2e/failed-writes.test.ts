// A command that fails leaves the store exactly as it was: bad input and an unusable output or
// port are caught before anything is written (revocation serve, crl publish --out, partner
// export --out, probe). And the servers tell a --json caller their address while they run.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { failingRename } from "../helpers/fault.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { BIN, baseEnv, initTempCa, json, mtls, openssl, PASSPHRASE, type RunResult, snapshot } from "../helpers/run.js";

/** Exit code, the JSON error, and one `error:` line on stderr naming the problem. */
function assertFailed(r: RunResult, exit: number, code: string, message: RegExp): void {
  assert.equal(r.exitCode, exit, `${r.stdout}\n${r.stderr}`);
  const doc = json(r);
  assert.equal(doc.ok, false);
  assert.equal(doc.exitCode, exit);
  assert.equal(doc.error?.code, code, doc.error?.message);
  assert.match(doc.error?.message ?? "", message);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, r.stderr);
  assert.match((errors[0] ?? "").slice("error: ".length), message);
}

/** A server on 127.0.0.1 stopped when the test ends: an occupied port, or a target that takes TCP connections. */
async function listening(t: TestContext, server: net.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

/** A port nothing listens on: one the system handed out, then closed. */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

test("revocation serve: a bad --port is exit 2 before anything is written", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const before = await snapshot(pki);
  for (const port of ["abc", "99999", "1e3"]) {
    const r = await mtls(["revocation", "serve", "--port", port, "--json"], { cwd: dir });
    assertFailed(r, 2, "ERR_USAGE", new RegExp(`invalid --port "${port}"`));
  }
  assert.deepEqual(await snapshot(pki), before);
});

test("revocation serve: a port in use is exit 5, and no responder certificate is issued", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const before = await snapshot(pki);
  const busy = await listening(t, net.createServer());
  const r = await mtls(["revocation", "serve", "--host", "127.0.0.1", "--port", String(busy), "--json"], { cwd: dir });
  assertFailed(r, 5, "ERR_PORT_IN_USE", new RegExp(`port ${busy} on 127.0.0.1 is in use`));
  assert.deepEqual(await snapshot(pki), before);
});

/** Starts a server with --json and reads its address from stderr, where it is printed at start. */
async function serveJson(t: TestContext, dir: string, args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args, "--port", "0", "--json"], { cwd: dir, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) });
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = once(child, "exit");
  const line = /^listening on (\S+)$/m;
  for (let i = 0; i < 400 && !line.test(stderr) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  const url = line.exec(stderr)?.[1];
  assert.ok(url, `no "listening on" line on stderr:\n${stderr}`);
  assert.equal(stdout, "", "stdout holds only the one document, written at exit");
  const stop = async () => {
    child.kill("SIGTERM");
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    return json({ exitCode: code as number, stdout, stderr });
  };
  return { url, stop };
}

test("revocation serve --json --port 0: the URL is on stderr at start; the one document at exit names the same port", async (t) => {
  const dir = await initTempCa(t);
  const { url, stop } = await serveJson(t, dir, ["revocation", "serve"]);
  const port = Number(new URL(url).port);
  assert.ok(port > 0);
  const health = await new Promise<number>((resolve, reject) =>
    http
      .get(`${url}/health`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on("error", reject),
  );
  assert.equal(health, 200);
  const doc = await stop();
  assert.equal(doc.ok, true);
  assert.equal(doc.result.port, port);
  assert.equal(doc.result.url, url);
});

test("gateway serve --json --port 0: the URL is on stderr at start; the one document at exit names the same port", async (t) => {
  const dir = await initTempCa(t);
  const { url, stop } = await serveJson(t, dir, ["gateway", "serve"]);
  const port = Number(new URL(url).port);
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect(port, "127.0.0.1", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(true));
  });
  assert.equal(refused, false, "the gateway takes connections on the port it announced");
  const doc = await stop();
  assert.equal(doc.result.port, port);
});

test("crl publish --out: a missing directory or a directory is exit 5 before anything is signed", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  await mkdir(join(dir, "a-dir"));
  const before = await snapshot(pki);
  const missing = await mtls(["crl", "publish", "--out", "missing-dir/crl.pem", "--json"], { cwd: dir });
  assertFailed(missing, 5, "ERR_NOT_FOUND", /cannot write .*missing-dir\/crl\.pem: no such file or directory/);
  const isDir = await mtls(["crl", "publish", "--out", "a-dir", "--json"], { cwd: dir });
  assertFailed(isDir, 5, "ERR_IS_DIRECTORY", /cannot write .*a-dir: it is a directory/);
  assert.deepEqual(await snapshot(pki), before);
});

test("crl publish --out: another file is kept unless --force (exit 4); a CRL bundle there is replaced, as cron needs", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const { csr } = await makeCsr(dir, "acme");
  const keep = join(dir, "keep.csr");
  const original = await readFile(csr);
  await writeFile(keep, original);
  const before = await snapshot(pki);
  const refused = await mtls(["crl", "publish", "--out", "keep.csr", "--json"], { cwd: dir });
  assertFailed(refused, 4, "ERR_EXISTS", /keep\.csr already exists and is not a CRL bundle/);
  assert.match(refused.stderr, /--force/);
  assert.deepEqual(await readFile(keep), original);
  assert.deepEqual(await snapshot(pki), before);

  const forced = await mtls(["crl", "publish", "--out", "keep.csr", "--force", "--json"], { cwd: dir });
  assert.equal(forced.exitCode, 0, forced.stderr);
  const first = json(forced).result.crls[0].number;
  const again = await mtls(["crl", "publish", "--out", "keep.csr", "--json"], { cwd: dir });
  assert.equal(again.exitCode, 0, again.stderr);
  assert.equal(json(again).result.crls[0].number, first + 1);
  // The file holds the new bundle: openssl reads the issuing CA's CRL from it, verified by its CA.
  const crl = await openssl(["crl", "-in", keep, "-noout", "-crlnumber", "-CAfile", join(pki, "ca/intermediate.pem")]);
  assert.equal(crl.exitCode, 0, crl.stderr);
  assert.match(crl.stdout, new RegExp(`crlNumber=0x0*${(first + 1).toString(16)}\\b`, "i"));
  assert.match(crl.stderr, /verify OK/);
});

test("partner export --out in a missing directory: exit 5, and the first-use signing key is not created", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@acme.example" });
  assert.equal((await mtls(["partner", "add", "acme", "--pgp-key", key.publicFile], { cwd: dir })).exitCode, 0);
  const { csr } = await makeCsr(dir, "acme");
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", csr], { cwd: dir })).exitCode, 0);
  const before = await snapshot(pki);
  const r = await mtls(["partner", "export", "acme", "--out", "missing-dir/acme.zip.pgp", "--json"], { cwd: dir });
  assertFailed(r, 5, "ERR_NOT_FOUND", /cannot write .*missing-dir\/acme\.zip\.pgp: no such file or directory/);
  assert.deepEqual(await snapshot(pki), before);
  const ok = await mtls(["partner", "export", "acme", "--out", "acme.zip.pgp", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.equal(json(ok).result.signingKeyCreated, true);
});

test("probe: an unreachable target is exit 5 with nothing minted or recorded", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const before = await snapshot(pki);
  const url = `https://127.0.0.1:${await closedPort()}/`;
  const r = await mtls(["probe", url, "--timeout", "2s", "--junit", "probe.xml", "--json"], { cwd: dir });
  assertFailed(r, 5, "ERR_UNREACHABLE", /could not reach https:\/\/127\.0\.0\.1:\d+\/ \(ECONNREFUSED/);
  assert.deepEqual(await snapshot(pki), before);
  // The JUnit report (outside the store) still says why, for CI.
  assert.match(await readFile(join(dir, "probe.xml"), "utf8"), /<error type="unreachable"/);
});

/** What each bad probe flag must give, checked before a certificate is minted. */
const BAD_PROBE_FLAGS: Array<{ name: string; args: (f: { csr: string; key: string }) => string[]; exit: number; code: string; message: RegExp }> = [
  { name: "--cert without --key", args: (f) => ["--cert", f.csr], exit: 2, code: "ERR_USAGE", message: /^--cert needs --key$/ },
  { name: "--key without --cert", args: (f) => ["--key", f.key], exit: 2, code: "ERR_USAGE", message: /^--key needs --cert$/ },
  { name: "--concurrency 0", args: () => ["--concurrency", "0"], exit: 2, code: "ERR_USAGE", message: /^invalid --concurrency "0"$/ },
  { name: "--concurrency x", args: () => ["--concurrency", "x"], exit: 2, code: "ERR_USAGE", message: /^invalid --concurrency "x"$/ },
  {
    name: "a --server-ca that holds no certificate",
    args: (f) => ["--server-ca", f.key],
    exit: 3,
    code: "ERR_CERT_PARSE",
    message: /--server-ca holds no PEM certificate/,
  },
  {
    name: "--junit naming a directory",
    args: () => ["--junit", "a-dir"],
    exit: 5,
    code: "ERR_IS_DIRECTORY",
    message: /cannot write .*a-dir: it is a directory/,
  },
  {
    name: "--junit in a missing directory",
    args: () => ["--junit", "missing-dir/probe.xml"],
    exit: 5,
    code: "ERR_NOT_FOUND",
    message: /missing-dir\/probe\.xml: no such file or directory/,
  },
];

for (const c of BAD_PROBE_FLAGS) {
  test(`probe with ${c.name}: exit ${c.exit} before anything is minted or recorded`, async (t) => {
    const dir = await initTempCa(t);
    const pki = join(dir, "pki");
    const files = await makeCsr(dir, "acme");
    await mkdir(join(dir, "a-dir"));
    // A target that takes TCP connections (and says nothing): without the checks, the probe would mint and connect.
    const port = await listening(
      t,
      net.createServer((s) => s.on("error", () => {})),
    );
    const before = await snapshot(pki);
    const r = await mtls(["probe", `https://127.0.0.1:${port}/`, "--timeout", "1s", "--scenarios", "valid", "--tls", "1.3", "--json", ...c.args(files)], {
      cwd: dir,
    });
    assertFailed(r, c.exit, c.code, c.message);
    assert.deepEqual(await snapshot(pki), before);
  });
}

test("partner issue, rotate, server issue, batch --keys-out: an --out in a missing directory or naming a directory is exit 5 before anything is signed, and --force loses no file", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  assert.equal((await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key"], { cwd: dir })).exitCode, 0);
  await writeFile(join(dir, "old.key"), "MY OLD KEY\n");
  await mkdir(join(dir, "a-dir"));
  await writeFile(join(dir, "fleet.jsonl"), `${JSON.stringify({ partner: "fleet-1", generate: true })}\n`);
  const before = await snapshot(pki);
  const runs: Array<{ args: string[]; code: string; message: RegExp }> = [
    {
      args: ["partner", "issue", "acme", "--generate", "--out-key", "old.key", "--out", "nodir/cert.pem", "--force"],
      code: "ERR_NOT_FOUND",
      message: /nodir\/cert\.pem: no such file/,
    },
    { args: ["partner", "issue", "newp", "--generate", "--out-key", "old.key", "--out", "a-dir", "--force"], code: "ERR_IS_DIRECTORY", message: /a-dir/ },
    {
      args: ["partner", "rotate", "acme", "--generate", "--out-key", "old.key", "--out-leaf", "nodir/leaf.pem", "--force", "--yes"],
      code: "ERR_NOT_FOUND",
      message: /nodir/,
    },
    {
      args: ["server", "issue", "gw", "--dns", "gw.example", "--out-key", "old.key", "--out", "nodir/gw.pem", "--force"],
      code: "ERR_NOT_FOUND",
      message: /nodir/,
    },
    { args: ["partner", "issue", "--batch", "fleet.jsonl", "--keys-out", "nodir/keys.jsonl"], code: "ERR_NOT_FOUND", message: /nodir\/keys\.jsonl/ },
  ];
  for (const { args, code, message } of runs) {
    const r = await mtls([...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 5, `${args.join(" ")}: ${r.stdout}`);
    assert.equal(json(r).error?.code, code, `${args.join(" ")}: ${r.stdout}`);
    assert.match(json(r).error?.message ?? "", message);
    assert.deepEqual(await snapshot(pki), before, args.join(" "));
    assert.equal(await readFile(join(dir, "old.key"), "utf8"), "MY OLD KEY\n", args.join(" "));
  }
});

test("a commit that fails after --force replaced the user's files puts their old versions back, and the store is as it was", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  assert.equal((await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key"], { cwd: dir })).exitCode, 0);
  const env = await failingRename(dir, "cert.pem");
  // A known partner (new files and appends only) and a new one (partners.json replaced too).
  for (const partner of ["acme", "newp"]) {
    await writeFile(join(dir, "old.key"), "MY OLD KEY\n", { mode: 0o600 });
    await writeFile(join(dir, "cert.pem"), "MY OLD CERT\n");
    const before = await snapshot(pki);
    const r = await mtls(["partner", "issue", partner, "--generate", "--out-key", "old.key", "--out", "cert.pem", "--force", "--json"], { cwd: dir, env });
    assert.equal(r.exitCode, 5, r.stdout + r.stderr);
    assert.match(json(r).error?.message ?? "", /cert\.pem/);
    assert.deepEqual(await snapshot(pki), before, partner);
    assert.equal(await readFile(join(dir, "old.key"), "utf8"), "MY OLD KEY\n", partner);
    assert.equal(await readFile(join(dir, "cert.pem"), "utf8"), "MY OLD CERT\n", partner);
    const { readdirSync } = await import("node:fs");
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith(".")),
      [],
      "no backup or temporary is left beside the files",
    );
  }
  // Without the fault the same command replaces both files and leaves no backup.
  const ok = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "old.key", "--out", "cert.pem", "--force", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.match(await readFile(join(dir, "old.key"), "utf8"), /BEGIN PRIVATE KEY/);
  const { readdirSync } = await import("node:fs");
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith(".")),
    [],
  );
});
