// Real gateways for the tests: nginx, HAProxy and Apache from Debian's packages, each started on a
// free loopback port with a config written into the test's temp dir and stopped by PID.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { have } from "./run.js";

export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  const port = (srv.address() as import("node:net").AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => Promise<string>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}:\n${await log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gateway did not listen on ${port}:\n${await log()}`);
}

export interface Gateway {
  port: number;
  pid: number;
  /** Re-reads config, certificates and CRLs (SIGHUP for nginx, SIGUSR2 for HAProxy, graceful for Apache). */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

export interface GatewayTls {
  serverCert: string;
  serverKey: string;
  caBundle: string;
  crlBundle?: string;
  /** nginx ssl_verify_client value (default "on"). */
  verify?: "on" | "optional";
  /** Lowest TLS version to allow ("TLSv1" keeps TLS 1.0 open; default TLSv1.2). */
  minTls?: "TLSv1" | "TLSv1.2";
  /** Check every client certificate online at this OCSP responder (nginx ssl_ocsp, Apache SSLOCSPEnable). */
  ocspResponder?: string;
  /** stunnel only: ask the responder named in each certificate's Authority Information Access. */
  ocspAia?: boolean;
  /** nginx only: offer TLS 1.2 alone (nginx 1.22's default offers no TLS 1.3). */
  noTls13?: boolean;
  /** nginx only: answer 403 to every client whose subject CN is not this one. */
  allowCn?: string;
}

/** Starts a gateway process, waits until it listens on `port`, and stops it by PID after the test. */
export async function startProcess(t: TestContext, cmd: string, args: string[], port: number, logFile: string): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const log = async () => output + (await readFile(logFile, "utf8").catch(() => ""));
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await Promise.race([once(child, "exit"), new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
  await waitForPort(port, child, log);
  return child;
}

function handle(child: ChildProcess, port: number, reloadSignal: NodeJS.Signals): Gateway {
  return {
    port,
    pid: child.pid as number,
    reload: async () => {
      child.kill(reloadSignal);
      // A reload replaces the workers asynchronously; give them a moment to take over.
      await new Promise((r) => setTimeout(r, 700));
    },
    stop: async () => {
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

export const haveNginx = () => have("nginx") || have("/usr/sbin/nginx");

/** nginx terminating mTLS; answers 200 with the client's DN when the certificate is accepted. */
export async function startNginx(t: TestContext, dir: string, tls: GatewayTls): Promise<Gateway> {
  const port = await freePort();
  const conf = join(dir, `nginx-${port}.conf`);
  const errorLog = join(dir, `nginx-${port}.error.log`);
  await writeFile(
    conf,
    `worker_processes 1;
daemon off;
master_process on;
pid ${join(dir, `nginx-${port}.pid`)};
error_log ${errorLog} info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/nginx-body; proxy_temp_path ${dir}/nginx-proxy; fastcgi_temp_path ${dir}/nginx-fcgi;
  uwsgi_temp_path ${dir}/nginx-uwsgi; scgi_temp_path ${dir}/nginx-scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tls.serverCert};
    ssl_certificate_key ${tls.serverKey};
    ssl_protocols ${tls.minTls === "TLSv1" ? "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3" : tls.noTls13 ? "TLSv1.2" : "TLSv1.2 TLSv1.3"};
    ${tls.minTls === "TLSv1" ? "ssl_ciphers DEFAULT@SECLEVEL=0;" : ""}
    ssl_client_certificate ${tls.caBundle};
    ssl_verify_client ${tls.verify ?? "on"};
    ssl_verify_depth 2;
    ${tls.crlBundle ? `ssl_crl ${tls.crlBundle};` : ""}
    ${tls.ocspResponder ? `ssl_ocsp on; ssl_ocsp_responder ${tls.ocspResponder};` : ""}
    ${tls.allowCn ? `if ($ssl_client_s_dn !~ "CN=${tls.allowCn}(,|$)") { return 403; }` : ""}
    location / { default_type text/plain; return 200 "ok $ssl_client_verify $ssl_client_s_dn\\n"; }
  }
}
`,
  );
  const bin = have("nginx") ? "nginx" : "/usr/sbin/nginx";
  const child = await startProcess(t, bin, ["-c", conf, "-p", dir, "-e", errorLog], port, errorLog);
  return handle(child, port, "SIGHUP");
}

export const haveApache = () => have("apache2") || have("/usr/sbin/apache2");
export const apacheBin = () => (have("apache2") ? "apache2" : "/usr/sbin/apache2");

export const haveHaproxy = () => have("haproxy") || have("/usr/sbin/haproxy");

/** HAProxy terminating mTLS with `verify required`; answers 200 "ok" when the certificate is accepted. */
export async function startHaproxy(t: TestContext, dir: string, tls: GatewayTls): Promise<Gateway> {
  const port = await freePort();
  const conf = join(dir, `haproxy-${port}.cfg`);
  const pem = join(dir, `haproxy-${port}-server.pem`);
  await writeFile(pem, (await readFile(tls.serverCert, "utf8")) + (await readFile(tls.serverKey, "utf8")));
  await writeFile(
    conf,
    `global
  master-worker
defaults
  mode http
  timeout connect 5s
  timeout client 5s
  timeout server 5s
frontend mtls
  bind 127.0.0.1:${port} ssl crt ${pem} verify required ca-file ${tls.caBundle}${tls.crlBundle ? ` crl-file ${tls.crlBundle}` : ""} ssl-min-ver ${tls.minTls === "TLSv1" ? "TLSv1.0" : "TLSv1.2"}
  http-request return status 200 content-type text/plain string "ok"
`,
  );
  const bin = have("haproxy") ? "haproxy" : "/usr/sbin/haproxy";
  const child = await startProcess(t, bin, ["-W", "-db", "-f", conf], port, conf);
  return handle(child, port, "SIGUSR2");
}

/** The lines of Debian's apache2.conf a virtual host relies on, pointed at the test's dir. */
export function apacheGlobals(dir: string, mods: string[], errorLog: string, pidFile: string): string[] {
  return [
    ...mods.map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`),
    "ServerName localhost",
    // As root, httpd drops its workers to an unprivileged user, as Debian's config does.
    ...(process.getuid?.() === 0 ? ["User www-data", "Group www-data"] : []),
    `PidFile ${pidFile}`,
    `ErrorLog ${errorLog}`,
    `DefaultRuntimeDir ${dir}`,
  ];
}

/** Apache httpd with `SSLVerifyClient require`; answers 200 (its status page) when the certificate is accepted. */
export async function startApache(t: TestContext, dir: string, tls: GatewayTls): Promise<Gateway> {
  const port = await freePort();
  const conf = join(dir, `apache-${port}.conf`);
  const errorLog = join(dir, `apache-${port}.error.log`);
  await writeFile(
    conf,
    [
      ...apacheGlobals(dir, ["mpm_event", "authz_core", "ssl", "socache_shmcb", "status"], errorLog, join(dir, `apache-${port}.pid`)),
      `Listen 127.0.0.1:${port}`,
      `<VirtualHost 127.0.0.1:${port}>`,
      "  SSLEngine on",
      "  SSLProtocol -all +TLSv1.2 +TLSv1.3",
      `  SSLCertificateFile ${tls.serverCert}`,
      `  SSLCertificateKeyFile ${tls.serverKey}`,
      `  SSLCACertificateFile ${tls.caBundle}`,
      "  SSLVerifyClient require",
      "  SSLVerifyDepth 2",
      ...(tls.crlBundle ? [`  SSLCARevocationFile ${tls.crlBundle}`, "  SSLCARevocationCheck chain"] : []),
      ...(tls.ocspResponder
        ? ["  SSLOCSPEnable on", `  SSLOCSPDefaultResponder ${tls.ocspResponder}`, "  SSLOCSPOverrideResponder on", "  SSLOCSPResponderTimeout 5"]
        : []),
      // The status handler answers without touching the file system the workers may not read.
      '  <Location "/">',
      "    SetHandler server-status",
      "    Require all granted",
      "  </Location>",
      "</VirtualHost>",
      "",
    ].join("\n"),
  );
  const child = await startProcess(t, apacheBin(), ["-f", conf, "-DFOREGROUND"], port, errorLog);
  const restarts = async () => ((await readFile(errorLog, "utf8").catch(() => "")).match(/resuming normal operations/g) ?? []).length;
  return {
    ...handle(child, port, "SIGUSR1"),
    // SIGUSR1 is httpd's graceful restart: the parent re-reads config, certificates and CRLs and
    // logs "resuming normal operations" once its new workers serve.
    reload: async () => {
      const before = await restarts();
      child.kill("SIGUSR1");
      const deadline = Date.now() + 10_000;
      while ((await restarts()) <= before) {
        if (Date.now() > deadline) throw new Error(`httpd did not finish its graceful restart:\n${await readFile(errorLog, "utf8")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 200));
    },
  };
}

export const haveStunnel = () => have("stunnel4") || have("stunnel");

/**
 * stunnel as the mTLS terminator in front of a plain HTTP answer: `verifyChain` against the CA
 * bundle, and the client certificate checked at `tls.ocspResponder` on every handshake.
 */
export async function startStunnel(t: TestContext, dir: string, tls: GatewayTls): Promise<Gateway> {
  const http = await import("node:http");
  const backend = http.createServer((_req, res) => res.end("ok\n"));
  backend.listen(0, "127.0.0.1");
  await once(backend, "listening");
  t.after(() => new Promise<void>((r) => backend.close(() => r())));
  const port = await freePort();
  const conf = join(dir, `stunnel-${port}.conf`);
  const logFile = join(dir, `stunnel-${port}.log`);
  await writeFile(
    conf,
    [
      "foreground = yes",
      `output = ${logFile}`,
      `pid = ${join(dir, `stunnel-${port}.pid`)}`,
      "[mtls]",
      `accept = 127.0.0.1:${port}`,
      `connect = 127.0.0.1:${(backend.address() as import("node:net").AddressInfo).port}`,
      `cert = ${tls.serverCert}`,
      `key = ${tls.serverKey}`,
      `CAfile = ${tls.caBundle}`,
      "verifyChain = yes",
      "requireCert = yes",
      "sslVersionMin = TLSv1.2",
      ...(tls.crlBundle ? [`CRLfile = ${tls.crlBundle}`] : []),
      ...(tls.ocspResponder ? [`OCSP = ${tls.ocspResponder}`] : []),
      `OCSPaia = ${tls.ocspAia ? "yes" : "no"}`,
      "",
    ].join("\n"),
  );
  const child = await startProcess(t, have("stunnel4") ? "stunnel4" : "stunnel", [conf], port, logFile);
  return handle(child, port, "SIGHUP");
}

/** A Node.js https gateway: requestCert + rejectUnauthorized, every CA's CRL passed as an array. */
export async function startNodeGateway(t: TestContext, tls: GatewayTls & { crls?: string[] }): Promise<Gateway> {
  const https = await import("node:https");
  const server = https.createServer(
    {
      cert: await readFile(tls.serverCert),
      key: await readFile(tls.serverKey),
      ca: await readFile(tls.caBundle),
      ...(tls.crls ? { crl: await Promise.all(tls.crls.map((f) => readFile(f))) } : {}),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    },
    (_req, res) => res.end("ok\n"),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as import("node:net").AddressInfo).port;
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { port, pid: process.pid, reload: async () => {}, stop: () => new Promise<void>((r) => server.close(() => r())) };
}
