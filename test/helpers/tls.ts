import { once } from "node:events";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { openssl } from "./run.js";

/** A self-signed server certificate for 127.0.0.1 / localhost, made with openssl. */
export async function serverCert(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "server.pem");
  const key = join(dir, "server.key");
  const r = await openssl([
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
    key,
    "-out",
    cert,
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext",
    "extendedKeyUsage=serverAuth",
  ]);
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return { cert, key };
}

/** Listens on a free loopback port and closes the server when the test ends. */
export async function listenLoopback(t: TestContext, server: import("node:net").Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as import("node:net").AddressInfo).port;
}
