// gateway serve either starts with what it was given or says why not and ends: a port in use is
// exit 5 (the CRL watcher's timer once kept the failed process alive), a bad --port exit 2 before
// the store is opened, and a --server-cert or --server-key that is not what it says exit 3 naming
// the file (or 2 when one comes without the other), never an internal error.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import test from "node:test";
import { connect } from "node:tls";
import { makeCsr } from "../helpers/csr.js";
import { BIN, baseEnv, initTempCa, json, mtls, PASSPHRASE, snapshot } from "../helpers/run.js";
import { listenLoopback, serverCert } from "../helpers/tls.js";

/** The gateway's run, bounded: a process that outlives its error is killed and fails the exit-code check. */
const serve = (dir: string, args: string[]) => mtls(["gateway", "serve", ...args, "--json"], { cwd: dir, timeoutMs: 20_000 });

test("gateway serve: a port in use is exit 5 and the process ends; a bad --port is exit 2; the store is unchanged", async (t) => {
  const dir = await initTempCa(t);
  const busy = await listenLoopback(t, createServer());
  const before = await snapshot(join(dir, "pki"));
  const inUse = await serve(dir, ["--port", String(busy)]);
  assert.equal(inUse.exitCode, 5, inUse.stdout + inUse.stderr);
  const doc = json(inUse);
  assert.equal(doc.error?.code, "ERR_PORT_IN_USE");
  assert.equal(doc.error?.message, `port ${busy} on 127.0.0.1 is in use`);
  for (const port of ["abc", "99999", "-1", "8443x"]) {
    const r = await serve(dir, ["--port", port]);
    assert.equal(r.exitCode, 2, `--port ${port}: ${r.stdout}${r.stderr}`);
    assert.equal(json(r).error?.message, `invalid --port "${port}"`);
    assert.match(r.stderr, /^error: invalid --port /m);
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("gateway serve --server-cert/--server-key: not a certificate or key is exit 3 naming the file; one without the other is exit 2", async (t) => {
  const dir = await initTempCa(t);
  const { csr, key: csrKey } = await makeCsr(dir, "p");
  const srv = await serverCert(dir);
  const cases: Array<{ args: string[]; exit: number; message: string }> = [
    { args: ["--server-cert", csr, "--server-key", csrKey], exit: 3, message: `--server-cert ${csr} holds no PEM certificate` },
    { args: ["--server-cert", srv.cert, "--server-key", csr], exit: 3, message: `--server-key ${csr} is not a readable, unencrypted private key (PEM)` },
    {
      args: ["--server-cert", srv.cert, "--server-key", csrKey],
      exit: 3,
      message: `--server-key ${csrKey} does not belong to the certificate in --server-cert ${srv.cert}`,
    },
    { args: ["--server-cert", srv.cert], exit: 2, message: "--server-cert needs --server-key" },
    { args: ["--server-key", srv.key], exit: 2, message: "--server-key needs --server-cert" },
    { args: ["--server-cert", csr], exit: 2, message: "--server-cert needs --server-key" },
  ];
  for (const c of cases) {
    const r = await serve(dir, [...c.args, "--port", "0"]);
    assert.equal(r.exitCode, c.exit, `${c.args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.equal(json(r).error?.message, c.message);
  }
  // The pair that belongs together is the one the gateway presents.
  const child = spawn(process.execPath, [BIN, "gateway", "serve", "--port", "0", "--server-cert", srv.cert, "--server-key", srv.key], {
    cwd: dir,
    env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }),
  });
  t.after(() => child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (d) => (stdout += d));
  for (let i = 0; i < 200 && !/https:\/\//.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
  const port = Number(new URL(stdout.trim()).port);
  const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ca: await readFile(srv.cert) });
  socket.on("error", () => {});
  await once(socket, "secureConnect");
  const presented = socket.getPeerX509Certificate();
  socket.destroy();
  const { X509Certificate } = await import("node:crypto");
  assert.equal(presented?.fingerprint256, new X509Certificate(await readFile(srv.cert)).fingerprint256);
  child.kill("SIGTERM");
  assert.equal((await once(child, "exit"))[0], 0);
});
