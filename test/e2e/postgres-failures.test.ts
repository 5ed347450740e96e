// #16: what goes wrong with a database store, and TLS to it with a client certificate mtls
// issued. Every failure is exit 5 with the cause and a hint, and leaves the store as it was.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, copyFile, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { failingRename } from "../helpers/fault.js";
import { alive, fileCluster, freePort, pgSkipReason } from "../helpers/postgres.js";
import { json, mtls, tempDir } from "../helpers/run.js";

const skip = pgSkipReason();
const pg = fileCluster();
let n = 0;

async function storeWithCa(cwd: string) {
  const c = await pg();
  const s = await c.newStore(`fail${++n}`);
  const env = { PGPASSWORD: s.password };
  const r = await mtls(["ca", "init", "--name", "Fail", "--store", s.url, "--json"], { cwd, env });
  assert.equal(r.exitCode, 0, r.stderr);
  return { ...s, env, c };
}

test("#16 unreachable server, wrong or missing password, password on the command line: exit 5 (2) naming the cause", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  const closed = await freePort();
  const down = await mtls(["list", "--store", `postgres://nobody@127.0.0.1:${closed}/x`, "--json"], { env: { PGPASSWORD: "x" } });
  assert.equal(down.exitCode, 5);
  assert.equal(json(down).error?.code, "ERR_STORE_UNREACHABLE");
  assert.match(json(down).error?.message ?? "", /connection refused/);
  assert.match(json(down).error?.hint ?? "", /PostgreSQL runs there/);

  const wrong = await mtls(["list", "--store", s.url], { env: { PGPASSWORD: "not-the-password-42" } });
  assert.equal(wrong.exitCode, 5);
  assert.match(wrong.stderr, /refused the login: password authentication failed/);
  assert.doesNotMatch(wrong.stdout + wrong.stderr, /not-the-password-42/);

  const none = await mtls(["list", "--store", s.url, "--json"], { env: { PGPASSFILE: join(dir, "none") } });
  assert.equal(none.exitCode, 5);
  assert.equal(json(none).error?.code, "ERR_STORE_AUTH");
  assert.match(json(none).error?.hint ?? "", /PGPASSWORD.*pgpass.*--store-password-file/);

  const argv = await mtls(["list", "--store", s.url.replace("@", `:${s.password}@`), "--json"]);
  assert.equal(argv.exitCode, 2);
  assert.equal(json(argv).error?.code, "ERR_SECRET_IN_ARGV");
  assert.doesNotMatch(argv.stdout + argv.stderr, new RegExp(s.password));
  // libpq's other spelling, ?password=: refused on the command line too; from the environment it
  // logs in, and a failure names the URL without it.
  const query = `${s.url}${s.url.includes("?") ? "&" : "?"}password=${encodeURIComponent(s.password)}`;
  const argvQuery = await mtls(["list", "--store", query, "--json"]);
  assert.equal(json(argvQuery).error?.code, "ERR_SECRET_IN_ARGV");
  assert.doesNotMatch(argvQuery.stdout + argvQuery.stderr, new RegExp(s.password));
  const envQuery = await mtls(["list"], { env: { MTLS_STORE: query, PGPASSFILE: join(dir, "none") } });
  assert.equal(envQuery.exitCode, 0, envQuery.stderr);
  const badQuery = await mtls(["list", "--json"], {
    env: { MTLS_STORE: query.replace(`password=${encodeURIComponent(s.password)}`, "password=wrong-pw-99"), PGPASSFILE: join(dir, "none") },
  });
  assert.equal(badQuery.exitCode, 5, badQuery.stderr);
  assert.doesNotMatch(badQuery.stdout + badQuery.stderr, /wrong-pw-99/);

  // The password from a file (--store-password-file, MTLS_STORE_PASSWORD_FILE) or a .pgpass file.
  await writeFile(join(dir, "db-pw"), `${s.password}\n`, { mode: 0o600 });
  const file = await mtls(["list", "--store", s.url, "--store-password-file", join(dir, "db-pw")]);
  assert.equal(file.exitCode, 0, file.stderr);
  await writeFile(join(dir, "pgpass"), `127.0.0.1:${s.c.port}:${s.db}:${s.user}:${s.password}\n`, { mode: 0o600 });
  const pgpass = await mtls(["list"], { env: { MTLS_STORE: s.url, PGPASSFILE: join(dir, "pgpass") } });
  assert.equal(pgpass.exitCode, 0, pgpass.stderr);

  // A Unix socket directory, as libpq's URLs name it (the socket trusts local users here).
  const socket = await mtls(["list", "--store", `postgres:///${s.db}?host=${s.c.dir}&port=${s.c.port}&user=${s.user}`]);
  assert.equal(socket.exitCode, 0, socket.stderr);
  // --store and --pki together are ambiguous.
  const both = await mtls(["list", "--store", s.url, "--pki", dir, "--json"], { env: s.env });
  assert.equal(both.exitCode, 2);
  // A flag beats the other option's environment variable.
  const flagWins = await mtls(["list", "--store", s.url, "--json"], { env: { ...s.env, MTLS_PKI: join(dir, "nothing-here") } });
  assert.equal(flagWins.exitCode, 0, flagWins.stderr);
  const pkiWins = await mtls(["list", "--pki", join(dir, "nothing-here"), "--json"], { env: { ...s.env, MTLS_STORE: s.url } });
  assert.equal(json(pkiWins).error?.code, "ERR_NO_PKI");
});

test("#16 schema: created on first use, a newer one is refused, missing without the right to create it", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  const init = await mtls(["store", "init", "--store", s.url, "--json"], { env: s.env });
  assert.equal(init.exitCode, 0, init.stderr);
  assert.deepEqual(json(init).result.applied, []);
  assert.equal(json(init).result.to, 2);
  await s.c.sql("INSERT INTO mtls.schema_version (version, description) VALUES (99, 'from the future')", [], s.db);
  for (const args of [["list"], ["store", "init"]]) {
    const r = await mtls([...args, "--store", s.url, "--json"], { env: s.env });
    assert.equal(r.exitCode, 5);
    assert.equal(json(r).error?.code, "ERR_STORE_VERSION");
    assert.match(json(r).error?.message ?? "", /schema version 99; this mtls knows up to 2/);
  }
  // A database the user may not create a schema in: the first use says what to do.
  await s.c.sql("CREATE ROLE lowly LOGIN PASSWORD 'lowly-pw'");
  await s.c.sql("CREATE DATABASE locked OWNER postgres");
  await s.c.sql("REVOKE ALL ON DATABASE locked FROM PUBLIC; GRANT CONNECT ON DATABASE locked TO lowly");
  const denied = await mtls(["list", "--store", `postgres://lowly@127.0.0.1:${s.c.port}/locked`, "--json"], { env: { PGPASSWORD: "lowly-pw" } });
  assert.equal(denied.exitCode, 5);
  assert.equal(json(denied).error?.code, "ERR_STORE_PERMISSION");
  assert.match(json(denied).error?.hint ?? "", /store init/);
  // No such database.
  const nodb = await mtls(["list", "--store", `postgres://lowly@127.0.0.1:${s.c.port}/nosuchdb`, "--json"], { env: { PGPASSWORD: "lowly-pw" } });
  assert.equal(nodb.exitCode, 5);
  assert.equal(json(nodb).error?.code, "ERR_STORE_NO_DATABASE");
});

/**
 * Runs `args` while holding the store row its commit updates last, so the command has written
 * everything else in its transaction; then kills its backend with pg_terminate_backend.
 */
async function killAtCommit(s: Awaited<ReturnType<typeof storeWithCa>>, args: string[], cwd: string) {
  const blocker = await s.c.admin(s.db);
  await blocker.query("BEGIN; SELECT * FROM mtls.store FOR UPDATE");
  const running = mtls(args, { cwd, env: s.env });
  let victim: number | undefined;
  for (let i = 0; i < 300 && victim === undefined; i++) {
    const rows = await s.c.sql(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'mtls' AND wait_event_type = 'Lock' AND query LIKE 'UPDATE mtls.store%'",
      [s.db],
    );
    victim = rows[0]?.pid as number | undefined;
    if (victim === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(victim, `${args.join(" ")} never reached its commit`);
  await s.c.sql("SELECT pg_terminate_backend($1)", [victim]);
  await blocker.query("ROLLBACK");
  await blocker.end();
  return running;
}

test("#16 a connection killed mid-transaction (pg_terminate_backend) commits nothing, exits 5, and the next command works", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--cn", "acme-client", "--out-key", "acme.key", "--store", s.url, "--json"], {
    cwd: dir,
    env: s.env,
  });
  assert.equal(issued.exitCode, 0, issued.stderr);
  const serial = json(issued).result.serial as string;
  const before = await s.c.sql("SELECT journal, count(*)::int AS n FROM mtls.journal_lines GROUP BY journal ORDER BY journal", [], s.db);
  const r = await killAtCommit(s, ["revoke", serial, "--yes", "--store", s.url, "--json"], dir);
  assert.equal(r.exitCode, 5, r.stdout + r.stderr);
  assert.equal(json(r).error?.code, "ERR_STORE_CONNECTION_LOST");
  assert.match(json(r).error?.message ?? "", /nothing was committed/);
  const afterKill = await s.c.sql("SELECT journal, count(*)::int AS n FROM mtls.journal_lines GROUP BY journal ORDER BY journal", [], s.db);
  assert.deepEqual(afterKill, before);
  const [cert] = await s.c.sql("SELECT status FROM mtls.certificates WHERE serial = $1", [serial], s.db);
  assert.equal(cert?.status, "valid");
  const doctor = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
  const again = await mtls(["revoke", serial, "--yes", "--store", s.url, "--json"], { cwd: dir, env: s.env });
  assert.equal(again.exitCode, 0, again.stderr);
  const [now] = await s.c.sql("SELECT status FROM mtls.certificates WHERE serial = $1", [serial], s.db);
  assert.equal(now?.status, "revoked");
  // Issuing: the certificate and key files the user asked for are written only after the
  // database holds the certificate, so a failed commit hands out nothing unrecorded.
  const lost = await killAtCommit(
    s,
    ["partner", "issue", "beta", "--generate", "--cn", "beta-client", "--out", "beta.pem", "--out-key", "beta.key", "--store", s.url, "--json"],
    dir,
  );
  assert.equal(lost.exitCode, 5, lost.stdout);
  const { existsSync } = await import("node:fs");
  assert.equal(existsSync(join(dir, "beta.pem")), false);
  assert.equal(existsSync(join(dir, "beta.key")), false);
  const [count] = await s.c.sql("SELECT count(*)::int AS n FROM mtls.certificates", [], s.db);
  assert.equal(count?.n, 1);
});

test("#16 TLS: sslmode=verify-full with a server certificate and a client certificate mtls issued", { skip }, async (t) => {
  const dir = await tempDir(t);
  const c = await pg();
  const boot = join(dir, "boot"); // the directory PKI that issues the database's certificates
  const steps = [
    ["ca", "init", "--name", "DB"],
    ["server", "issue", "db", "--ip", "127.0.0.1", "--dns", "localhost", "--out", join(dir, "server.pem"), "--out-key", join(dir, "server.key")],
    ["partner", "issue", "db-client", "--generate", "--cn", "tlsuser", "--out", join(dir, "client.pem"), "--out-key", join(dir, "client.key")],
    ["partner", "issue", "intruder", "--generate", "--cn", "someone", "--out", join(dir, "other.pem"), "--out-key", join(dir, "other.key")],
  ];
  for (const args of steps) {
    const r = await mtls([...args, "--pki", boot]);
    assert.equal(r.exitCode, 0, `${args.join(" ")}: ${r.stderr}`);
  }
  for (const f of ["server.pem", "server.key"]) await copyFile(join(dir, f), join(c.dir, f));
  await copyFile(join(boot, "ca/ca-bundle.pem"), join(c.dir, "clients-ca.pem"));
  for (const f of ["server.pem", "clients-ca.pem"]) await c.own(join(c.dir, f), 0o644);
  await c.own(join(c.dir, "server.key"), 0o600);
  await c.sql("CREATE ROLE tlsuser LOGIN");
  await c.sql("CREATE DATABASE tlsdb OWNER tlsuser");
  const hba = [
    "local all all trust",
    "hostssl tlsdb tlsuser 127.0.0.1/32 cert",
    "host tlsdb all 127.0.0.1/32 reject",
    "host all all 127.0.0.1/32 scram-sha-256",
  ].join("\n");
  await c.reconfigure({
    hba: `${hba}\n`,
    conf: `ssl = on\nssl_cert_file = '${join(c.dir, "server.pem")}'\nssl_key_file = '${join(c.dir, "server.key")}'\nssl_ca_file = '${join(c.dir, "clients-ca.pem")}'`,
  });
  const ca = join(boot, "ca/ca-bundle.pem");
  const url = (q: string) => `postgres://tlsuser@127.0.0.1:${c.port}/tlsdb?${q}`;
  const good = url(`sslmode=verify-full&sslrootcert=${ca}&sslcert=${join(dir, "client.pem")}&sslkey=${join(dir, "client.key")}`);
  const init = await mtls(["ca", "init", "--name", "Over TLS", "--store", good, "--json"], { cwd: dir });
  assert.equal(init.exitCode, 0, init.stdout + init.stderr);
  const list = await mtls(["list", "--store", good, "--json"]);
  assert.equal(list.exitCode, 0, list.stderr);
  // The server answers over TLS only with the client certificate of the right user.
  const other = await mtls([
    "list",
    "--store",
    url(`sslmode=verify-full&sslrootcert=${ca}&sslcert=${join(dir, "other.pem")}&sslkey=${join(dir, "other.key")}`),
    "--json",
  ]);
  assert.equal(other.exitCode, 5);
  assert.equal(json(other).error?.code, "ERR_STORE_AUTH");
  const plain = await mtls(["list", "--store", url("sslmode=disable"), "--json"]);
  assert.equal(plain.exitCode, 5);
  // A server certificate from another CA: the TLS handshake fails, exit 5 naming TLS.
  const foreign = join(dir, "foreign");
  assert.equal((await mtls(["ca", "init", "--name", "Foreign", "--pki", foreign])).exitCode, 0);
  const wrongCa = await mtls([
    "list",
    "--store",
    url(`sslmode=verify-full&sslrootcert=${join(foreign, "ca/ca-bundle.pem")}&sslcert=${join(dir, "client.pem")}&sslkey=${join(dir, "client.key")}`),
    "--json",
  ]);
  assert.equal(wrongCa.exitCode, 5);
  assert.equal(json(wrongCa).error?.code, "ERR_STORE_TLS");
  // A client key other users can read is refused before connecting, as libpq does.
  await chmod(join(dir, "client.key"), 0o644);
  const loose = await mtls(["list", "--store", good, "--json"]);
  assert.equal(loose.exitCode, 5);
  assert.match(json(loose).error?.message ?? "", /readable by other users/);
  await chmod(join(dir, "client.key"), 0o600);
  // sslmode=prefer could fall back to plaintext: refused.
  const prefer = await mtls(["list", "--store", url("sslmode=prefer"), "--json"]);
  assert.equal(prefer.exitCode, 2);
});

test("#16 doctor on a database store: tables edited by hand are reported and rebuilt from the journals by --fix", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--cn", "acme-client", "--out-key", "acme.key", "--store", s.url, "--json"], {
    cwd: dir,
    env: s.env,
  });
  const serial = json(issued).result.serial as string;
  const healthy = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(healthy.exitCode, 0, healthy.stdout);
  await s.c.sql("UPDATE mtls.certificates SET status = 'revoked' WHERE serial = $1", [serial], s.db);
  await s.c.sql("DELETE FROM mtls.audit WHERE line = 2", [], s.db);
  const sick = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(sick.exitCode, 1, sick.stdout);
  const problems = json(sick).result.problems as Array<{ check: string; message: string; serial?: string }>;
  assert.ok(
    problems.some((p) => p.check === "database" && p.serial === serial && /says revoked, the index valid/.test(p.message)),
    sick.stdout,
  );
  assert.ok(
    problems.some((p) => p.check === "database" && /audit line 2/.test(p.message)),
    sick.stdout,
  );
  const fixed = await mtls(["doctor", "--fix", "--store", s.url, "--json"], { env: s.env });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  const again = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(again.exitCode, 0, again.stdout);
  const [row] = await s.c.sql("SELECT status FROM mtls.certificates WHERE serial = $1", [serial], s.db);
  assert.equal(row?.status, "valid");
  // A certificate's blob gone from the database: the same finding as a missing file on a directory.
  await s.c.sql("DELETE FROM mtls.files WHERE path = $1", [`certs/${serial}.pem`], s.db);
  const lost = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(lost.exitCode, 1);
  assert.match(lost.stdout, new RegExp(`${serial}.*no certificate`));
});

test("doctor --fix on a database store revokes a certificate the index never named and moves its row aside, leaving no copy", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  // A certificate the CA signed that this store never recorded: issued from a copy of the store.
  const copy = join(dir, "copy");
  assert.equal((await mtls(["store", "migrate", "--from", s.url, "--to", copy], { cwd: dir, env: s.env })).exitCode, 0);
  const stray = json(await mtls(["partner", "issue", "stray", "--generate", "--out-key", "stray.key", "--pki", copy, "--json"], { cwd: dir })).result
    .serial as string;
  const pem = await readFile(join(copy, "certs", `${stray}.pem`));
  await s.c.sql("INSERT INTO mtls.files (path, is_dir, mode, data) VALUES ($1, false, 420, $2)", [`certs/${stray}.pem`, pem], s.db);
  const sick = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(sick.exitCode, 1, sick.stdout);
  assert.match(sick.stdout, new RegExp(`certificate ${stray} .*never recorded`));
  const fixed = await mtls(["doctor", "--fix", "--store", s.url, "--json"], { env: s.env });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  const rows = (await s.c.sql("SELECT path FROM mtls.files WHERE path LIKE $1 ORDER BY path", [`%${stray}%`], s.db)).map((r) => r.path);
  assert.deepEqual(rows, [`certs/orphans/${stray}.pem`]);
  const again = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(again.exitCode, 0, again.stdout);
  const revoked = await s.c.sql("SELECT serial FROM mtls.revocations WHERE serial = $1", [stray], s.db);
  assert.equal(revoked.length, 1, "the stray certificate is revoked");
});

test("#16 a client killed at any write of a revocation leaves the database as it was, and its lock dies with it", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  const issue = async (cn: string) =>
    json(await mtls(["partner", "issue", cn, "--generate", "--cn", cn, "--out-key", `${cn}.key`, "--store", s.url, "--json"], { cwd: dir, env: s.env })).result
      .serial as string;
  const [traced, target] = [await issue("traced"), await issue("target")];
  const hooks = { ...s.env, MTLS_TEST_HOOKS: "1" };
  const trace = await mtls(["revoke", traced, "--yes", "--store", s.url], { cwd: dir, env: { ...hooks, MTLS_TEST_CRASH_AT: "trace" } });
  assert.equal(trace.exitCode, 0, trace.stderr);
  const steps = (trace.stderr.match(/mtls-test-step: \d+/g) ?? []).length;
  assert.ok(steps >= 2, trace.stderr);
  const snap = () => s.c.sql("SELECT (SELECT revision FROM mtls.store)::int AS rev, (SELECT count(*) FROM mtls.journal_lines)::int AS lines", [], s.db);
  const start = await snap();
  for (let n = 1; n <= steps; n++) {
    const r = await mtls(["revoke", target, "--yes", "--store", s.url], { cwd: dir, env: { ...hooks, MTLS_TEST_CRASH_AT: String(n) } });
    assert.match(r.stderr, /mtls-test-crash/);
    assert.deepEqual(await snap(), start, `crash at step ${n} changed the database`);
  }
  // The killed clients' locks died with their connections: the next command runs at once, and
  // no scratch copy of the store is left in the temp directory.
  const list = await mtls(["list", "--store", s.url, "--json"], { env: s.env, timeoutMs: 20_000 });
  const { readdirSync } = await import("node:fs");
  const left = readdirSync(tmpdir()).filter((n) => /^mtls-store-\d+-/.test(n) && !alive(Number(n.split("-")[2])));
  assert.deepEqual(left, []);
  const byCn = Object.fromEntries((json(list).result.certificates as Array<{ serial: string; status: string }>).map((c) => [c.serial, c.status]));
  assert.equal(byCn[target], "valid");
  assert.equal(byCn[traced], "revoked");
  const doctor = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
});

test("a client killed at any write of an issue with --out-key and --out: a certificate it left outside is in the database, and doctor --fix revokes it", {
  skip,
}, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  const hooks = { ...s.env, MTLS_TEST_HOOKS: "1" };
  const issue = (id: string, crashAt: string) =>
    mtls(["partner", "issue", id, "--generate", "--out-key", `${id}.key`, "--out", `${id}.pem`, "--store", s.url], {
      cwd: dir,
      env: { ...hooks, MTLS_TEST_CRASH_AT: crashAt },
    });
  const trace = await issue("traced", "trace");
  assert.equal(trace.exitCode, 0, trace.stderr);
  const steps = [...trace.stderr.matchAll(/^mtls-test-step: \d+ \((.*)\)$/gm)].map((m) => m[1] as string);
  t.diagnostic(`partner issue on a database store: ${steps.length} durable steps: ${steps.join(", ")}`);
  // The certificate rows commit on their own before the files outside are written, the rest after.
  const outside = steps.findIndex((x) => x.endsWith("/traced.key"));
  assert.ok(
    outside > 0 && steps.slice(0, outside).some((x) => x.startsWith("commit ")) && steps.slice(outside).some((x) => x.startsWith("commit ")),
    steps.join(", "),
  );
  for (let n = 1; n <= steps.length; n++) {
    const id = `p${n}`;
    const r = await issue(id, String(n));
    assert.match(r.stderr, /mtls-test-crash/);
    // The certificate file itself, or the hidden temporary a kill before its rename left.
    const left = (await readdir(dir)).filter((f) => f === `${id}.pem` || f.startsWith(`.${id}.pem.tmp-`));
    const serials = left.map((f) => new X509Certificate(readFileSync(join(dir, f))).serialNumber.toLowerCase().replace(/^(00)+/, ""));
    for (const serial of serials) {
      const rows = await s.c.sql("SELECT path FROM mtls.files WHERE path = $1", [`certs/${serial}.pem`], s.db);
      assert.equal(rows.length, 1, `crash at step ${n} (${steps[n - 1]}): ${serial} is outside, not in the database`);
    }
    const fixed = await mtls(["doctor", "--fix", "--store", s.url, "--json"], { env: s.env });
    assert.equal(fixed.exitCode, 0, fixed.stdout);
    const list = json(await mtls(["list", "--store", s.url, "--json"], { env: s.env })).result.certificates as Array<{ serial: string }>;
    for (const serial of serials) {
      const revoked = await s.c.sql("SELECT serial FROM mtls.revocations WHERE serial = $1", [serial], s.db);
      assert.ok(revoked.length === 1 || list.some((c) => c.serial === serial), `crash at step ${n}: ${serial} is neither recorded nor revoked`);
    }
  }
});

/** The certificate files (rows) of the store: the serials of `certs/<serial>.pem`. */
async function certRows(s: Awaited<ReturnType<typeof storeWithCa>>): Promise<string[]> {
  const rows = await s.c.sql("SELECT path FROM mtls.files WHERE path ~ '^certs/[0-9a-f]+[.]pem$'", [], s.db);
  return rows.map((r) => String(r.path).slice("certs/".length, -".pem".length));
}

test("a connection lost after the certificates' own commit: the error names them, and doctor --fix revokes every such certificate, several commands' too", {
  skip,
}, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  // The backend dies when the index line is inserted: the main commit's connection is lost.
  await s.c.sql(
    "CREATE FUNCTION public.drop_at_index() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.journal = 'index.jsonl' THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$",
    [],
    s.db,
  );
  await s.c.sql("CREATE TRIGGER drop_at_index BEFORE INSERT ON mtls.journal_lines FOR EACH ROW EXECUTE FUNCTION public.drop_at_index()", [], s.db);
  const left: string[] = [];
  // The same command twice, as a user retries it, a minute apart: two commands by their certificates' times.
  const start = Date.now();
  for (const n of [1, 2]) {
    const known = new Set(await certRows(s));
    const r = await mtls(["partner", "issue", "dropme", "--generate", "--out-key", `d${n}.key`, "--out", `d${n}.pem`, "--store", s.url, "--json"], {
      cwd: dir,
      env: { ...s.env, MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: new Date(start + n * 60_000).toISOString() },
    });
    assert.equal(r.exitCode, 5, r.stdout + r.stderr);
    const fresh = (await certRows(s)).filter((x) => !known.has(x));
    assert.equal(fresh.length, 1, `the certificate's row stays: ${fresh}`);
    const serial = fresh[0] as string;
    left.push(serial);
    const error = json(r).error;
    assert.equal(error?.code, "ERR_STORE_CONNECTION_LOST");
    assert.match(error?.message ?? "", new RegExp(`certificate ${serial}\\b.*without an index line`));
    assert.doesNotMatch(error?.message ?? "", /nothing was committed/);
    assert.match(error?.hint ?? "", /mtls doctor --fix.*revokes/);
    const { existsSync } = await import("node:fs");
    assert.equal(existsSync(join(dir, `d${n}.key`)), false);
    assert.equal(existsSync(join(dir, `d${n}.pem`)), false);
  }
  await s.c.sql("DROP TRIGGER drop_at_index ON mtls.journal_lines", [], s.db);
  const sick = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(sick.exitCode, 1, sick.stdout);
  const problems = json(sick).result.problems as Array<{ message: string; hint: string; fixable: boolean }>;
  for (const serial of left)
    assert.ok(
      problems.some((p) => p.fixable && p.message.includes(`certificate ${serial} `)),
      sick.stdout,
    );
  // No index.jsonl to restore from a backup on a database, whose journal loses no committed line.
  assert.doesNotMatch(sick.stdout, /index\.jsonl has probably lost|restore index\.jsonl|revoke-unrecorded/);
  const fixed = await mtls(["doctor", "--fix", "--store", s.url, "--json"], { env: s.env });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  for (const serial of left) {
    const revoked = await s.c.sql("SELECT serial FROM mtls.revocations WHERE serial = $1", [serial], s.db);
    assert.equal(revoked.length, 1, `${serial} is revoked`);
  }
  const again = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(again.exitCode, 0, again.stdout);
});

test("a database commit that fails after --force replaced the user's files puts their old versions back and removes the certificate again", {
  skip,
}, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  await writeFile(join(dir, "old.key"), "MY OLD KEY\n", { mode: 0o600 });
  await writeFile(join(dir, "cert.pem"), "MY OLD CERT\n");
  const before = await certRows(s);
  const env = { ...s.env, ...(await failingRename(dir, "cert.pem")) };
  const r = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "old.key", "--out", "cert.pem", "--force", "--store", s.url, "--json"], {
    cwd: dir,
    env,
  });
  assert.equal(r.exitCode, 5, r.stdout + r.stderr);
  assert.equal(await readFile(join(dir, "old.key"), "utf8"), "MY OLD KEY\n");
  assert.equal(await readFile(join(dir, "cert.pem"), "utf8"), "MY OLD CERT\n");
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith(".")),
    [],
  );
  assert.deepEqual(await certRows(s), before);
  const doctor = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
});

test("#16 a row planted in the shared database never makes mtls write outside the store", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await storeWithCa(dir);
  const marker = `mtls-escape-${process.pid}-${Date.now()}`;
  // Someone with the rights to drop the constraint plants a path that climbs out.
  await s.c.sql("ALTER TABLE mtls.files DROP CONSTRAINT files_path_check", [], s.db);
  await s.c.sql("INSERT INTO mtls.files (path, is_dir, mode, data) VALUES ($1, false, 420, 'x')", [`../../${marker}`], s.db);
  const r = await mtls(["list", "--store", s.url, "--json"], { cwd: dir, env: s.env });
  assert.equal(r.exitCode, 5);
  assert.equal(json(r).error?.code, "ERR_STORE_CORRUPT");
  const { existsSync } = await import("node:fs");
  assert.equal(existsSync(join("/tmp", marker)), false);
  assert.equal(existsSync(join("/", marker)), false);
});
