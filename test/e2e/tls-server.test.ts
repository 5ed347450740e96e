import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import https from "node:https";
import { join } from "node:path";
import test from "node:test";
import type { TLSSocket } from "node:tls";
import { makeCsr } from "../helpers/csr.js";
import { have, initTempCa, json, mtls, run } from "../helpers/run.js";
import { listenLoopback, serverCert } from "../helpers/tls.js";

test("a Node https server with requestCert and the CA bundle accepts our partner cert and rejects another CA's", async (t) => {
  const dir = await initTempCa(t);
  const other = await initTempCa(t);
  const srv = await serverCert(dir);
  const { csr, key } = await makeCsr(dir, "partner");
  const good = json(await mtls(["partner", "issue", "partner", "--csr", csr, "--json"], { cwd: dir })).result;
  const stranger = await makeCsr(other, "stranger");
  const bad = json(await mtls(["partner", "issue", "stranger", "--csr", stranger.csr, "--json"], { cwd: other })).result;

  const server = https.createServer(
    {
      cert: await readFile(srv.cert),
      key: await readFile(srv.key),
      ca: await readFile(join(dir, "pki/ca/ca-bundle.pem")),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      res.end(`hello ${peer.subject?.CN}`);
    },
  );
  const port = await listenLoopback(t, server);

  const call = (cert: string, keyFile: string, maxVersion: "TLSv1.2" | "TLSv1.3") =>
    new Promise<string>((resolve, reject) => {
      Promise.all([readFile(cert), readFile(keyFile), readFile(srv.cert)]).then(([c, k, ca]) => {
        const req = https.get({ host: "127.0.0.1", port, path: "/", cert: c, key: k, ca, maxVersion, agent: false }, (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve(`${res.statusCode} ${body}`));
        });
        req.on("error", reject);
        req.setTimeout(5000, () => req.destroy(new Error("timeout")));
      }, reject);
    });

  for (const v of ["TLSv1.2", "TLSv1.3"] as const) {
    assert.equal(await call(good.chainPath, key, v), "200 hello partner.partner.example", v);
    await assert.rejects(call(bad.chainPath, stranger.key, v), /alert|ECONNRESET|socket hang up|unknown ca|EPIPE|disconnected/i, v);
  }

  if (!have("curl")) return t.skip("curl not installed");
  const ok = await run("curl", ["-sS", "--cert", good.chainPath, "--key", key, "--cacert", srv.cert, `https://127.0.0.1:${port}/`]);
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.equal(ok.stdout, "hello partner.partner.example");
  const no = await run("curl", ["-sS", "--cert", bad.chainPath, "--key", stranger.key, "--cacert", srv.cert, `https://127.0.0.1:${port}/`]);
  assert.notEqual(no.exitCode, 0);
});
