import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENV, mtlsSync, ROOT, tempDir } from "./fixtures.js";
import { type Row, timeCommand } from "./lib.js";

async function freePorts(n: number): Promise<number[]> {
  const { createServer } = await import("node:net");
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import("node:net").Server>((r) => {
          const s = createServer();
          s.listen(0, "127.0.0.1", () => r(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import("node:net").AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** `n` TLS endpoints on loopback, served by one nginx that asks for client certificates of the PKI at dir/pki. */
export async function nginxEndpoints(dir: string, n: number): Promise<{ urls: string[]; stop: () => void }> {
  spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-keyout",
    join(dir, "srv.key"),
    "-out",
    join(dir, "srv.pem"),
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost",
  ]);
  const ports = await freePorts(n);
  const servers = ports
    .map(
      (p) =>
        `server { listen 127.0.0.1:${p} ssl; ssl_certificate ${dir}/srv.pem; ssl_certificate_key ${dir}/srv.key; ssl_protocols TLSv1.2 TLSv1.3; ssl_client_certificate ${dir}/pki/ca/ca-bundle.pem; ssl_verify_client on; ssl_verify_depth 2; ssl_crl ${dir}/pki/crl/crl-bundle.pem; location / { return 200 "ok\\n"; } }`,
    )
    .join("\n");
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes 2; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log; events { worker_connections 1024; } http { access_log off; client_body_temp_path ${dir}/b; proxy_temp_path ${dir}/p; fastcgi_temp_path ${dir}/f; uwsgi_temp_path ${dir}/u; scgi_temp_path ${dir}/s;\n${servers}\n}\n`,
  );
  const nginx: ChildProcess = spawn("nginx", ["-c", join(dir, "nginx.conf"), "-p", dir], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 800));
  return { urls: ports.map((p) => `https://localhost:${p}/`), stop: () => nginx.kill("SIGTERM") };
}

/** The full probe matrix against one nginx, and against 20 nginx endpoints at once. */
export async function benchProbe(runs = 5): Promise<Row[]> {
  const dir = tempDir("probe");
  mtlsSync(["ca", "init", "--pki", "pki", "-q"], dir);
  const gw = await nginxEndpoints(dir, 20);
  try {
    const urls = gw.urls;
    const args = (n: number) => [
      join(ROOT, "bin/mtls.js"),
      "--pki",
      "pki",
      "probe",
      ...urls.slice(0, n),
      "--server-ca",
      "srv.pem",
      "--concurrency",
      "16",
      "-q",
    ];
    const one = timeCommand(process.execPath, args(1), { cwd: dir, env: ENV, runs });
    const twenty = timeCommand(process.execPath, args(20), { cwd: dir, env: ENV, runs: Math.max(3, Math.floor(runs / 2)) });
    const perConn = (t: { medianMs: number }, n: number) =>
      `${(t.medianMs / (21 * n)).toFixed(1)} ms per connection (${21 * n} TLS connections, incl. process start and CA key unlock)`;
    return [
      { task: "probe: full matrix (11 scenarios × TLS 1.2/1.3, 21 connections) against 1 nginx", mtls: one, note: perConn(one, 1) },
      { task: "probe: full matrix against 20 nginx endpoints at once (concurrency 16)", mtls: twenty, note: perConn(twenty, 20) },
    ];
  } finally {
    gw.stop();
  }
}
