import assert from "node:assert/strict";
import { join, normalize, resolve } from "node:path";
import test from "node:test";
import { layoutOf } from "../../src/core/store/layout.js";
import { parseStoreLocation } from "../../src/core/store/location.js";
import { tlsOptions } from "../../src/core/store/sql/pg.js";

const at = { cwd: "/work", fromArgv: true };

test("#16 store locations: paths and file: URLs are directories, postgres:// a database", () => {
  assert.deepEqual(parseStoreLocation("pki", at), { kind: "directory", path: "/work/pki" });
  assert.deepEqual(parseStoreLocation("file:rel/pki", at), { kind: "directory", path: "/work/rel/pki" });
  assert.deepEqual(parseStoreLocation("file:///srv/pki", at), { kind: "directory", path: "/srv/pki" });
  const db = parseStoreLocation("postgresql://mtls@db.example:5432/mtls?sslmode=verify-full", at);
  assert.equal(db.kind, "postgres");
  assert.throws(
    () => parseStoreLocation("mysql://x@h/db", at),
    (e: Error & { exit?: number }) => e.exit === 2,
  );
  assert.throws(() => parseStoreLocation("postgres:///db", at), /names no host/);
});

test("#16 a password in the store URL: refused on the command line, never shown from the environment", () => {
  assert.throws(
    () => parseStoreLocation("postgres://u:hunter2@h/db", at),
    (e: Error & { code?: string }) => e.code === "ERR_SECRET_IN_ARGV" && !e.message.includes("hunter2"),
  );
  const fromEnv = parseStoreLocation("postgres://u:hunter2@h/db", { cwd: "/", fromArgv: false });
  assert.ok(fromEnv.kind === "postgres" && !fromEnv.display.includes("hunter2") && fromEnv.url.includes("hunter2"));
  // libpq's ?password= (and ?sslpassword=) are the same secret in another place.
  for (const q of ["password=hunter2", "sslmode=require&PASSWORD=x&password=hunter2", "sslpassword=hunter2"]) {
    assert.throws(
      () => parseStoreLocation(`postgres://u@h/db?${q}`, at),
      (e: Error & { code?: string }) => e.code === "ERR_SECRET_IN_ARGV" && !e.message.includes("hunter2"),
      q,
    );
    const env = parseStoreLocation(`postgres://u@h/db?${q}`, { cwd: "/", fromArgv: false });
    assert.ok(env.kind === "postgres" && !env.display.includes("hunter2") && env.url.includes("hunter2"), q);
  }
});

test("#16 sslmode as libpq means it; no silent fall-back to plaintext", async () => {
  // A socket directory travels as ?host=… (as libpq's URLs allow); the URL's own host is then empty.
  const opts = (q: string, host = "db.example") => tlsOptions(new URL(host.startsWith("/") ? `postgres://u@x/db${q}` : `postgres://u@${host}/db${q}`), host);
  assert.equal(await opts("", "127.0.0.1"), false);
  assert.equal(await opts("", "/var/run/postgresql"), false);
  const remote = await opts("");
  assert.ok(remote && remote.rejectUnauthorized === true && remote.servername === "db.example", "a remote host defaults to verify-full");
  const req = await opts("?sslmode=require");
  assert.ok(req && req.rejectUnauthorized === false);
  const ca = await opts("?sslmode=verify-ca");
  assert.ok(ca && ca.rejectUnauthorized === true && typeof ca.checkServerIdentity === "function");
  const ip = await opts("?sslmode=verify-full", "10.0.0.5");
  assert.ok(ip && ip.host === "10.0.0.5" && ip.servername === undefined, "an IP is checked against IP SANs");
  for (const mode of ["prefer", "allow", "bogus"]) await assert.rejects(opts(`?sslmode=${mode}`), (e: Error & { exit?: number }) => e.exit === 2);
  await assert.rejects(opts("?sslmode=require&sslcert=/nonexistent"), /sslcert and sslkey go together/);
});

test("#21 a store's fixed paths, joined by hand, are what path.join gives, the file system root and relative directories too", () => {
  for (const dir of ["/", "/srv/pki", "/srv/pki/", "pki", "./a/../pki", "../up"]) {
    const l = layoutOf(dir);
    const root = resolve(dir);
    assert.equal(l.root, root);
    assert.equal(l.config, join(root, "config.json"));
    assert.equal(l.rootCert, join(root, "ca", "root.pem"));
    assert.equal(l.homePrivateKey, join(root, "private", "home-party.pgp.asc"));
    assert.equal(l.lock, join(root, ".lock"));
    for (const [key, value] of Object.entries(l)) if (typeof value === "string") assert.equal(value, normalize(value), `${dir}: ${key}`);
  }
});
