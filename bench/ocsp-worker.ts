// Runs inside the OCSP benchmark's network namespace: starts both responders, sends the same
// requests to each, prints the timings as JSON on stdout.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { readCertFile } from "../src/core/ca/material.js";
import { children, readTlv } from "../src/core/der.js";
import { buildOcspRequest } from "../src/core/ocsp/client.js";
import type { CertInfo } from "../src/core/pki.js";
import { directoryReader } from "../src/core/store/read.js";
import { BIN, ENV, PASSPHRASE } from "./fixtures.js";
import { type Timed, timeFn } from "./lib.js";

const [dir = "", total = "3000"] = process.argv.slice(2);
const n = Number(total);

function post(port: number, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method: "POST", path: "/", agent: false, headers: { "content-type": "application/ocsp-request" } },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => {
          const der = Buffer.concat(parts);
          // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED (successful = 0) ...
          const status = der.length ? children(der, readTlv(der, 0))[0] : undefined;
          if (res.statusCode !== 200 || status?.tag !== 0x0a || der[status.start] !== 0) reject(new Error(`bad answer from :${port}: HTTP ${res.statusCode}`));
          else resolve();
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function load(port: number, requests: Buffer[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < requests.length) await post(port, requests[next++] as Buffer);
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function waitFor(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((r) => {
      const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
        res.resume();
        r(true);
      });
      req.on("error", () => r(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

const pki = join(dir, "pki");
const mtls: ChildProcess = spawn(process.execPath, [BIN, "--pki", pki, "revocation", "serve", "--port", "18080", "-q"], { env: ENV, stdio: "ignore" });
let openssl: ChildProcess | undefined;
try {
  await waitFor(18080);
  const rkey = join(dir, "ocsp-rkey.pem");
  spawnSync("openssl", ["pkey", "-in", join(pki, "private/ocsp-intermediate.key"), "-passin", `pass:${PASSPHRASE}`, "-out", rkey]);
  openssl = spawn(
    "openssl",
    [
      "ocsp",
      "-index",
      join(dir, "index.txt"),
      "-port",
      "18081",
      "-CA",
      join(pki, "ca/intermediate.pem"),
      "-rsigner",
      join(pki, "ca/ocsp-intermediate.pem"),
      "-rkey",
      rkey,
    ],
    { stdio: "ignore" },
  );
  await new Promise((r) => setTimeout(r, 500));
  const issuer = await readCertFile(directoryReader(pki), "ca/intermediate.pem", "the intermediate");
  const serials = JSON.parse(readFileSync(join(dir, "serials.json"), "utf8")) as string[];
  const requests = Array.from({ length: n }, (_, i) => buildOcspRequest({ serial: serials[i % serials.length] } as CertInfo, issuer, randomBytes(16)));
  const result: Record<string, Timed> = {};
  for (const [name, port] of [
    ["mtls", 18080],
    ["openssl", 18081],
  ] as const) {
    result[name] = await timeFn(() => load(port, requests), 3);
  }
  process.stdout.write(JSON.stringify(result));
} finally {
  mtls.kill("SIGTERM");
  openssl?.kill("SIGTERM");
}
