// #13 reproduction 7: one request must never stop `gateway serve`. A client certificate whose CN
// holds characters outside Latin-1 made the forwarded header throw ERR_INVALID_CHAR, uncaught.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import test from "node:test";
import { BIN, baseEnv, have, initTempCa, openssl, PASSPHRASE, run } from "../helpers/run.js";

/** Reverses the gateway's RFC 4514 escaping: "\XX" hex pairs are UTF-8 bytes, "\c" is c. */
function unescapeDn(value: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== "\\") bytes.push(value.charCodeAt(i));
    else if (/^[0-9A-F]{2}$/.test(value.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(value.charCodeAt(++i));
  }
  return Buffer.from(bytes).toString("utf8");
}

/** A client certificate (plus intermediate) signed by the test PKI's intermediate key with openssl. */
async function mintWithOpenssl(dir: string, csr: string, name: string): Promise<string> {
  const ext = join(dir, "client.ext");
  await writeFile(ext, "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n");
  const out = join(dir, `${name}.pem`);
  const o = await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    join(dir, "pki/ca/intermediate.pem"),
    "-CAkey",
    join(dir, "pki/private/intermediate.key"),
    "-passin",
    `pass:${PASSPHRASE}`,
    "-set_serial",
    `0x${randomBytes(16).toString("hex").replace(/^./, "1")}`,
    "-days",
    "1",
    "-extfile",
    ext,
    "-out",
    out,
  ]);
  assert.equal(o.exitCode, 0, o.stderr);
  await writeFile(out, (await readFile(out, "utf8")) + (await readFile(join(dir, "pki/ca/intermediate.pem"), "utf8")));
  return out;
}

test("#13: gateway serve --upstream survives hostile certificates and upstreams; identities are RFC 4514-escaped", {
  skip: !have("curl") && "curl is not installed",
}, async (t) => {
  const dir = await initTempCa(t);
  const cn = 'Ünïcødé 日本 "a+b", <c>;\\';
  const csr = join(dir, "intl.csr");
  const key = join(dir, "intl.key");
  const req = await openssl([
    "req",
    "-new",
    "-utf8",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/O=Partner/CN=${cn.replace(/[\\/+"]/g, "\\$&")}`,
  ]);
  assert.equal(req.exitCode, 0, req.stderr);
  // The subject policy keeps such a CN out of mtls-issued certificates; a certificate minted from
  // the same CA by other means (here openssl with the CA key) still reaches the gateway.
  const cert = { chainPath: await mintWithOpenssl(dir, csr, "intl"), serial: "" };
  cert.serial = (await openssl(["x509", "-in", cert.chainPath, "-noout", "-serial"])).stdout
    .trim()
    .replace(/^serial=/, "")
    .toLowerCase()
    .replace(/^0+/, "");

  const seen: http.IncomingHttpHeaders[] = [];
  const upstream = http.createServer((req, res) => {
    seen.push(req.headers);
    if (req.url === "/reset") {
      res.writeHead(200, { "content-length": "100" }).write("partial");
      setImmediate(() => req.socket.destroy());
    } else res.end("ok\n");
  });
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
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 200 && !/https:\/\//.test(stdout) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  const port = Number(new URL(stdout.trim()).port);
  const curl = (path: string, extra: string[] = []) =>
    run("curl", [
      "-sS",
      "--max-time",
      "5",
      "--cacert",
      join(dir, "pki/ca/ca-bundle.pem"),
      "--cert",
      cert.chainPath,
      "--key",
      key,
      "-w",
      "\n%{http_code}",
      ...extra,
      `https://localhost:${port}${path}`,
    ]);

  // A client claiming an identity in its own headers gets them replaced, not passed on.
  const first = await curl("/", ["-H", "X-Client-Subject: admin", "-H", "X-Client-Role: root"]);
  assert.match(first.stdout, /^ok\n\n200$/, first.stderr + stderr);
  const h = seen.at(-1) as http.IncomingHttpHeaders;
  assert.equal(h["x-client-subject"], '\\C3\\9Cn\\C3\\AFc\\C3\\B8d\\C3\\A9 \\E6\\97\\A5\\E6\\9C\\AC \\"a\\+b\\"\\, \\<c\\>\\;\\\\');
  assert.equal(unescapeDn(h["x-client-subject"] as string), cn);
  assert.equal(h["x-client-serial"], cert.serial);
  assert.equal(h["x-client-role"], undefined);

  // A certificate minted outside mtls (here by openssl with the CA key) for an e = 3 key is
  // refused by the gateway itself, and the upstream never hears of it.
  const weakKey = join(dir, "e3.key");
  const weakCsr = join(dir, "e3.csr");
  for (const args of [
    ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-pkeyopt", "rsa_keygen_pubexp:3", "-out", weakKey],
    ["req", "-new", "-key", weakKey, "-subj", "/CN=e3", "-out", weakCsr],
  ]) {
    const o = await openssl(args);
    assert.equal(o.exitCode, 0, o.stderr);
  }
  const weakCert = await mintWithOpenssl(dir, weakCsr, "e3");
  const calls = seen.length;
  const weak = await run("curl", [
    "-sS",
    "--max-time",
    "5",
    "--cacert",
    join(dir, "pki/ca/ca-bundle.pem"),
    "--cert",
    weakCert,
    "--key",
    weakKey,
    "-w",
    "\n%{http_code}",
    `https://localhost:${port}/`,
  ]);
  assert.match(weak.stdout, /403$/, weak.stderr + stderr);
  assert.equal(seen.length, calls);
  assert.match(stderr, /public exponent 3/);

  // An upstream that dies mid-answer costs that request only.
  const reset = await curl("/reset");
  assert.notEqual(reset.exitCode, 0);
  // An upstream that is gone: 502, logged.
  upstream.close();
  upstream.closeAllConnections();
  const down = await curl("/");
  assert.match(down.stdout, /502$/, down.stderr);
  assert.match(stderr, /502 GET \/ upstream unreachable/);

  assert.equal(child.exitCode, null, `the gateway stopped:\n${stderr}`);
  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  assert.equal(code, 0, stderr);
  assert.match(stderr, /stopped after 4 requests/);
});
