// #16: the PKI on PostgreSQL. One cluster for this file, started by the test (initdb into a temp
// dir, pg_ctl on a free loopback port, as an unprivileged user) and stopped by PID.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { fileCluster, type PgCluster, pgSkipReason } from "../helpers/postgres.js";
import { BIN, baseEnv, json, mtls, openssl, PASSPHRASE, type RunResult, snapshot, tempDir } from "../helpers/run.js";

const skip = pgSkipReason();

const pg = fileCluster();
let storeCount = 0;

/** A fresh database store: its URL and the environment that carries its password. */
async function newStore(): Promise<{ url: string; env: NodeJS.ProcessEnv; db: string; cluster: PgCluster }> {
  const c = await pg();
  const s = await c.newStore(`store${++storeCount}`);
  return { url: s.url, env: { PGPASSWORD: s.password }, db: s.db, cluster: c };
}

/** Values that differ between two runs by nature (serials, times, fingerprints, where the store is). */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
  if (typeof v !== "string") return typeof v === "number" ? "<n>" : v;
  return v
    .replace(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g, "<$1>")
    .replace(/postgres:\/\/[^\s"#]*#?/g, "<store>/")
    .replace(/\/tmp\/mtls-test-\w+\/pki\/?/g, "<store>/")
    .replace(/\/tmp\/mtls-test-\w+/g, "<tmp>")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "<time>")
    .replace(/sha256:[0-9a-f]{64}/g, "<fp>")
    .replace(/\b[0-9a-fA-F]{16,}\b/g, "<hex>")
    .replace(/\b\d+\b/g, "<n>");
}

interface Step {
  name: string;
  exitCode: number;
  shape: unknown;
  doc: ReturnType<typeof json>;
}

/** The lifecycle every store must run the same way: each step's exit code and --json shape. */
async function lifecycle(dir: string, store: string[], env: NodeJS.ProcessEnv): Promise<Step[]> {
  const steps: Step[] = [];
  const step = async (name: string, args: string[]) => {
    const r: RunResult = await mtls([...args, ...store, "--json"], { cwd: dir, env, timeoutMs: 120_000 });
    const doc = json(r);
    steps.push({ name, exitCode: r.exitCode, shape: shape(doc), doc });
    return doc;
  };
  await makeCsr(dir, "acme");
  await writeFile(
    join(dir, "batch.jsonl"),
    `${[JSON.stringify({ partner: "fleet-1", generate: true, sans: ["uri:spiffe://fleet.example/w/1"], outKey: "fleet-1.key" }), JSON.stringify({ partner: "fleet-2", csr: "fleet.csr" }), "{ broken"].join("\n")}\n`,
  );
  await makeCsr(dir, "fleet");
  await step("ca init", ["ca", "init", "--name", "Team", "--org", "Team Org"]);
  await step("ca init again", ["ca", "init", "--name", "Team"]);
  const acme = await step("issue csr", ["partner", "issue", "acme", "--csr", "acme.csr", "--out", "acme-chain.pem"]);
  await step("issue generate", ["partner", "issue", "beta", "--generate", "--cn", "beta-client", "--out-key", "beta.key", "--out", "beta-chain.pem"]);
  await step("issue batch", ["partner", "issue", "--batch", "batch.jsonl"]);
  await step("issue taken identity", ["partner", "issue", "gamma", "--generate", "--cn", "beta-client", "--out-key", "gamma.key"]);
  await step("revoke", ["revoke", acme.result.serial, "--reason", "keyCompromise", "--yes"]);
  await step("revoke again", ["revoke", acme.result.serial, "--yes"]);
  await step("revoke unknown", ["revoke", "0123456789abcdef", "--yes"]);
  await step("offboard", ["partner", "offboard", "beta", "--yes"]);
  await step("crl publish", ["crl", "publish", "--out", "published.crl.pem"]);
  await step("crl show", ["crl", "show"]);
  await step("list", ["list"]);
  await step("list revoked", ["list", "--status", "revoked"]);
  await step("partner list", ["partner", "list"]);
  await step("partner show", ["partner", "show", "fleet-1"]);
  await step("status", ["status"]);
  await step("audit verify", ["audit", "verify"]);
  await step("audit", ["audit"]);
  await step("doctor", ["doctor"]);
  await step("ca show", ["ca", "show"]);
  await step("ca policy", ["ca", "policy", "set", "--warn-days", "20"]);
  return steps;
}

test("#16 every lifecycle command runs the same on a directory and on PostgreSQL: exit codes and --json shapes", { skip }, async (t) => {
  const dirA = await tempDir(t);
  const dirB = await tempDir(t);
  const s = await newStore();
  const onDir = await lifecycle(dirA, ["--store", join(dirA, "pki")], {});
  const onPg = await lifecycle(dirB, ["--store", s.url], s.env);
  assert.deepEqual(
    onPg.map((x) => [x.name, x.exitCode]),
    onDir.map((x) => [x.name, x.exitCode]),
  );
  assert.deepEqual(
    onDir.map((x) => [x.name, x.exitCode]),
    [
      ["ca init", 0],
      ["ca init again", 4],
      ["issue csr", 0],
      ["issue generate", 0],
      ["issue batch", 1],
      ["issue taken identity", 4],
      ["revoke", 0],
      ["revoke again", 4],
      ["revoke unknown", 3],
      ["offboard", 0],
      ["crl publish", 0],
      ["crl show", 0],
      ["list", 0],
      ["list revoked", 0],
      ["partner list", 0],
      ["partner show", 0],
      // #14: acme's one certificate is revoked and acme is not offboarded: a locked-out partner.
      ["status", 1],
      ["audit verify", 0],
      ["audit", 0],
      ["doctor", 0],
      ["ca show", 0],
      ["ca policy", 0],
    ],
  );
  for (const [i, a] of onDir.entries()) assert.deepEqual(JSON.stringify(onPg[i]?.shape), JSON.stringify(a.shape), `${a.name}: the --json documents differ`);
  // The database store's CRL is real: openssl checks it and finds the revoked certificates.
  const pem = await readFile(join(dirB, "published.crl.pem"), "utf8");
  assert.match(pem, /BEGIN X509 CRL/);
  const list = onPg.find((x) => x.name === "list")?.doc.result.certificates as Array<{ serial: string; status: string }>;
  const revoked = list.filter((c) => c.status === "revoked").map((c) => c.serial);
  assert.equal(revoked.length, 2);
  const crlText = await openssl(["crl", "-in", join(dirB, "published.crl.pem"), "-noout", "-text"]);
  for (const serial of revoked) assert.match(crlText.stdout.toLowerCase().replace(/:/g, ""), new RegExp(serial.replace(/^0+/, "")));
  // The certificate issued from the database verifies with openssl against the database's CA.
  const exported = await tempDir(t);
  const m = await mtls(["store", "migrate", "--from", s.url, "--to", join(exported, "pki")], { env: s.env });
  assert.equal(m.exitCode, 0, m.stderr);
  const v = await openssl([
    "verify",
    "-CAfile",
    join(exported, "pki/ca/root.pem"),
    "-untrusted",
    join(exported, "pki/ca/intermediate.pem"),
    "-purpose",
    "sslclient",
    join(dirB, "beta-chain.pem"),
  ]);
  assert.equal(v.exitCode, 0, v.stdout + v.stderr);
});

test("#16 store migrate: directory → PostgreSQL → directory is lossless and the audit chain still verifies", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await newStore();
  const src = join(dir, "pki");
  for (const args of [
    ["ca", "init", "--name", "Round", "--org", "Trip"],
    ["partner", "issue", "a", "--generate", "--cn", "a-client", "--out-key", "a.key"],
    ["partner", "issue", "b", "--generate", "--cn", "b-client", "--out-key", "b.key"],
    ["partner", "offboard", "b", "--yes"],
  ]) {
    const r = await mtls([...args, "--store", src], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
  }
  const before = await snapshot(src);
  const up = await mtls(["store", "migrate", "--from", src, "--to", s.url, "--json"], { cwd: dir, env: s.env });
  assert.equal(up.exitCode, 0, up.stderr);
  assert.equal(json(up).result.certificates, 2);
  // Into a store that holds a PKI: refused, nothing merged.
  const again = await mtls(["store", "migrate", "--from", src, "--to", s.url, "--json"], { cwd: dir, env: s.env });
  assert.equal(again.exitCode, 4);
  assert.equal(json(again).error?.code, "ERR_STORE_NOT_EMPTY");
  const verify = await mtls(["audit", "verify", "--store", s.url, "--json"], { env: s.env });
  assert.equal(verify.exitCode, 0, verify.stdout);
  const down = await mtls(["store", "migrate", "--from", s.url, "--to", join(dir, "back"), "--json"], { env: s.env });
  assert.equal(down.exitCode, 0, down.stderr);
  const after = await snapshot(join(dir, "back"));
  assert.deepEqual(after, before);
  const v2 = await mtls(["audit", "verify", "--json"], { cwd: dir, env: { MTLS_PKI: join(dir, "back") } });
  assert.equal(v2.exitCode, 0, v2.stdout);
  // A non-empty destination directory is refused.
  const busy = await mtls(["store", "migrate", "--from", s.url, "--to", join(dir, "back"), "--json"], { env: s.env });
  assert.equal(busy.exitCode, 4);
});

test("#21 store migrate: a batch's certificates, held only in its pack, reach the database store", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await newStore();
  const src = join(dir, "pki");
  await writeFile(
    join(dir, "b.jsonl"),
    `${JSON.stringify({ partner: "w-1", generate: true, outKey: "w-1.key" })}\n${JSON.stringify({ partner: "w-2", generate: true, outKey: "w-2.key" })}\n`,
  );
  for (const args of [
    ["ca", "init", "--name", "Packed"],
    ["partner", "issue", "--batch", "b.jsonl"],
  ]) {
    const r = await mtls([...args, "--store", src], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
  }
  const up = await mtls(["store", "migrate", "--from", src, "--to", s.url, "--json"], { cwd: dir, env: s.env });
  assert.equal(up.exitCode, 0, up.stderr);
  assert.equal(json(up).result.certificates, 2);
  const doctor = await mtls(["doctor", "--store", s.url, "--json"], { env: s.env });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
});

/** The delivery side on a store: OpenPGP keys, bundles, onboarding, gateway config, report. */
async function delivery(dir: string, store: string[], env: NodeJS.ProcessEnv, pgpKey: string): Promise<Step[]> {
  const steps: Step[] = [];
  const step = async (name: string, args: string[]) => {
    const r = await mtls([...args, ...store, "--json"], { cwd: dir, env, timeoutMs: 120_000 });
    const doc = json(r);
    steps.push({ name, exitCode: r.exitCode, shape: shape(doc), doc });
    return doc;
  };
  await makeCsr(dir, "acme");
  await step("ca init", ["ca", "init", "--name", "Deliver"]);
  await step("partner add", ["partner", "add", "acme", "--pgp-key", pgpKey, "--name", "Acme"]);
  await step("partner issue", ["partner", "issue", "acme", "--csr", "acme.csr"]);
  await step("partner export", ["partner", "export", "acme", "--out", "acme.zip.pgp"]);
  await step("pgp show", ["pgp", "show"]);
  await step("onboard", ["partner", "onboard", "beta", "--pgp-key", pgpKey, "--generate", "--cn", "beta-client", "--out", "beta.zip.pgp", "--no-input"]);
  await step("server issue", ["server", "issue", "gw", "--dns", "localhost", "--out", "gw.pem", "--out-key", "gw.key"]);
  await step("gateway config", ["gateway", "config", "nginx", "--partner", "acme", "--server", "gw", "--out", "nginx/"]);
  await step("report", ["report", "--html", "report.html"]);
  await step("offboard", ["partner", "offboard", "beta", "--yes"]);
  await step("identity release", ["partner", "identity", "release", "beta", "beta-client", "--yes"]);
  await step("doctor", ["doctor"]);
  return steps;
}

test("#16 the delivery side runs the same on both stores, and the partner opens a bundle made from the database", {
  skip: skip ?? (haveGpg() ? undefined : "gpg not installed"),
}, async (t) => {
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "ops@acme.example" });
  const dirA = await tempDir(t);
  const dirB = await tempDir(t);
  const s = await newStore();
  const onDir = await delivery(dirA, ["--store", join(dirA, "pki")], {}, key.publicFile);
  const onPg = await delivery(dirB, ["--store", s.url], s.env, key.publicFile);
  assert.deepEqual(
    onPg.map((x) => [x.name, x.exitCode]),
    onDir.map((x) => [x.name, x.exitCode]),
  );
  assert.ok(
    onDir.every((x) => x.exitCode === 0),
    JSON.stringify(onDir.map((x) => [x.name, x.exitCode, x.doc.error])),
  );
  for (const [i, a] of onDir.entries()) assert.deepEqual(JSON.stringify(onPg[i]?.shape), JSON.stringify(a.shape), `${a.name}: the --json documents differ`);
  // The partner pins the home party's key (as `pgp show` prints it) and checks the signature too.
  const home = onPg.find((x) => x.name === "pgp show")?.doc.result.publicKey as string;
  assert.equal((await g.gpg(["--import"], home)).exitCode, 0);
  const out = await g.gpg(["--decrypt", "--output", join(dirB, "acme.zip"), join(dirB, "acme.zip.pgp")]);
  assert.equal(out.exitCode, 0, out.stderr);
  assert.match(out.stderr, /Good signature/);
  // The gateway configuration from the database store carries its own copies of the CA and CRL.
  assert.match(await readFile(join(dirB, "nginx", "ca-bundle.pem"), "utf8"), /BEGIN CERTIFICATE/);
});

/** Starts a long-running mtls command and waits for the URL it prints. */
async function serve(t: TestContext, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE, ...env }) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  t.after(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  for (let i = 0; i < 300 && !/https?:\/\//.test(stdout); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(stdout, /^https?:\/\/(127\.0\.0\.1|localhost):\d+/, stderr);
  return { child, url: stdout.trim(), stderr: () => stderr };
}

async function until(check: () => Promise<boolean>, tries = 40): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

test("#16 revocation serve and gateway serve follow a database store: a revocation committed elsewhere takes effect without a restart", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await newStore();
  const store = ["--store", s.url];
  assert.equal((await mtls(["ca", "init", "--name", "Follow", ...store], { cwd: dir, env: s.env })).exitCode, 0);
  const issued = await mtls(
    [
      "partner",
      "issue",
      "acme",
      "--generate",
      "--cn",
      "acme-client",
      "--out-key",
      "acme.key",
      "--out-leaf",
      "acme.pem",
      "--out",
      "acme-chain.pem",
      ...store,
      "--json",
    ],
    { cwd: dir, env: s.env },
  );
  assert.equal(issued.exitCode, 0, issued.stderr);
  const copy = join(dir, "copy");
  assert.equal((await mtls(["store", "migrate", "--from", s.url, "--to", copy], { env: s.env })).exitCode, 0);
  const responder = await serve(t, ["revocation", "serve", "--port", "0", ...store], dir, s.env);
  const gateway = await serve(t, ["gateway", "serve", "--port", "0", ...store], dir, s.env);
  const ask = () =>
    openssl([
      "ocsp",
      "-issuer",
      join(copy, "ca/intermediate.pem"),
      "-cert",
      join(dir, "acme.pem"),
      "-url",
      `${responder.url}/ocsp`,
      "-CAfile",
      join(copy, "ca/ca-bundle.pem"),
      "-timeout",
      "5",
    ]);
  const call = () =>
    curlWithCert(Number(new URL(gateway.url).port), { cert: join(dir, "acme-chain.pem"), key: join(dir, "acme.key"), cacert: join(copy, "ca/ca-bundle.pem") });
  assert.match((await ask()).stdout, /: good/);
  assert.equal((await call()).status, 200);
  // probe mints its certificates from the database store and proves the gateway enforces mTLS.
  const probe = await mtls(["probe", gateway.url, "--server-ca", join(copy, "ca/ca-bundle.pem"), ...store, "--json"], {
    cwd: dir,
    env: s.env,
    timeoutMs: 60_000,
  });
  assert.equal(probe.exitCode, 0, probe.stdout.slice(0, 3000));
  // Another process revokes while both servers run: neither holds the store's lock.
  const revoked = await mtls(["revoke", json(issued).result.serial, "--reason", "keyCompromise", "--yes", ...store], {
    cwd: dir,
    env: s.env,
    timeoutMs: 30_000,
  });
  assert.equal(revoked.exitCode, 0, revoked.stderr);
  // inspect's PKI lints read the database store too.
  const lint = await mtls(["inspect", join(dir, "acme.pem"), ...store, "--json"], { cwd: dir, env: s.env });
  assert.ok(
    json(lint).result.lints.some((l: { id: string }) => l.id === "revoked"),
    lint.stdout,
  );
  assert.ok(await until(async () => /: revoked[\s\S]*Reason: keyCompromise/.test((await ask()).stdout)), "the responder never answered revoked");
  assert.ok(await until(async () => (await call()).status !== 200), "the gateway kept accepting the revoked certificate");
  for (const server of [responder, gateway]) {
    server.child.kill("SIGTERM");
    const [code] = await once(server.child, "exit");
    assert.equal(code, 0, server.stderr());
  }
  // The responder certificates the server issued for itself are in the database's audit chain.
  const audit = await mtls(["audit", "--action", "ocsp", ...store, "--json"], { env: s.env });
  assert.ok((json(audit).result.records as unknown[]).length >= 1, audit.stdout);
  const verify = await mtls(["audit", "verify", ...store, "--json"], { env: s.env });
  assert.equal(json(verify).result.ok, true);
});

test("revocation serve on a database store whose revocation journal lost its lines: revoked from the index, never good", { skip }, async (t) => {
  const dir = await tempDir(t);
  const s = await newStore();
  const store = ["--store", s.url];
  assert.equal((await mtls(["ca", "init", "--name", "Lost", ...store], { cwd: dir, env: s.env })).exitCode, 0);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key", "--out-leaf", "acme.pem", ...store, "--json"], {
    cwd: dir,
    env: s.env,
  });
  assert.equal(issued.exitCode, 0, issued.stderr);
  const revoked = await mtls(["revoke", json(issued).result.serial, "--reason", "keyCompromise", "--yes", ...store], { cwd: dir, env: s.env });
  assert.equal(revoked.exitCode, 0, revoked.stderr);
  const copy = join(dir, "copy");
  assert.equal((await mtls(["store", "migrate", "--from", s.url, "--to", copy], { env: s.env })).exitCode, 0);
  await s.cluster.sql("DELETE FROM mtls.journal_lines WHERE journal = 'revocations.jsonl'", [], s.db);
  const responder = await serve(t, ["revocation", "serve", "--port", "0", ...store], dir, s.env);
  const r = await openssl([
    "ocsp",
    "-issuer",
    join(copy, "ca/intermediate.pem"),
    "-cert",
    join(dir, "acme.pem"),
    "-url",
    `${responder.url}/ocsp`,
    "-CAfile",
    join(copy, "ca/ca-bundle.pem"),
    "-timeout",
    "5",
  ]);
  assert.match(r.stderr + r.stdout, /Response verify OK/, r.stdout + r.stderr + responder.stderr());
  assert.match(r.stdout, /acme\.pem: revoked[\s\S]*Reason: keyCompromise/);
  assert.match(responder.stderr(), /revocations\.jsonl lacks 1 revocation\(s\) that index\.jsonl records .*run `mtls doctor`/);
});
