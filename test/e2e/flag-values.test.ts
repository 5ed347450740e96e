// Exit codes and messages for bad or conflicting flag values: a value typed on the command line is
// a usage error (exit 2); the same value read from a file (a CSR, a batch line) is input (exit 3).
import assert from "node:assert/strict";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { BIN, have, initTempCa, json, mtls, type RunResult, snapshot, tempDir } from "../helpers/run.js";
import { startTerminal } from "../helpers/tmux.js";

/** One line on stderr naming the problem (plus its hint), and the --json error with the same code. */
function refused(r: RunResult, exit: number, code: string, message: RegExp): void {
  assert.equal(r.exitCode, exit, `${r.stdout}${r.stderr}`);
  const doc = json(r);
  assert.equal(doc.exitCode, exit);
  assert.equal(doc.error?.code, code);
  assert.match(doc.error?.message ?? "", message);
}

test("a bad flag value is exit 2 on every command, and changes nothing", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "acme");
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", csr], { cwd: dir })).exitCode, 0);
  const before = await snapshot(join(dir, "pki"));
  const cases: Array<[string[], string, RegExp]> = [
    [["crl", "publish", "--validity", "forever"], "ERR_DURATION", /invalid --validity "forever"/],
    [["list", "--expiring-within", "x"], "ERR_DURATION", /--expiring-within "x"/],
    [["status", "--ca-warn-within", "x"], "ERR_DURATION", /--ca-warn-within "x"/],
    [["inspect", csr, "--expiring-within", "0"], "ERR_DURATION", /greater than zero/],
    [["notify", "--dry-run", "--overlap-notice", "x"], "ERR_DURATION", /--overlap-notice "x"/],
    [["partner", "rotate", "acme", "--generate", "--out-key", "k.pem", "--overlap", "x"], "ERR_DURATION", /--overlap "x"/],
    [["ca", "policy", "set", "--crl-url", "notaurl"], "ERR_CRL_URL", /invalid --crl-url "notaurl"/],
    [["ca", "policy", "set", "--ocsp-url", "notaurl"], "ERR_OCSP_URL", /invalid --ocsp-url "notaurl"/],
    [["ca", "policy", "set", "--crl-days", "400"], "ERR_DAYS", /--crl-days must be at most 366/],
    [["server", "issue", "gw", "--dns", "bad_name!", "--out", "gw.pem", "--out-key", "gw.key"], "ERR_SAN", /invalid --dns "bad_name!"/],
    [["server", "issue", "gw", "--ip", "1.2.3", "--out", "gw.pem", "--out-key", "gw.key"], "ERR_SAN", /invalid --ip "1\.2\.3"/],
    [["partner", "issue", "beta", "--generate", "--out-key", "b.key", "--san", "dns:bad_x!"], "ERR_SAN", /invalid SAN "dns:bad_x!"/],
    [["gateway", "serve", "--port", "0", "--upstream", "::"], "ERR_UPSTREAM", /invalid --upstream "::"/],
    [["ca", "rollover", "root", "start", "--root-days", "100", "--intermediate-days", "200"], "ERR_DAYS", /would outlive the root/],
  ];
  for (const [args, code, message] of cases) refused(await mtls([...args, "--json"], { cwd: dir, timeoutMs: 30_000 }), 2, code, message);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  const human = await mtls(["crl", "publish", "--validity", "forever"], { cwd: dir });
  assert.equal(human.exitCode, 2);
  assert.match(human.stderr, /^error: invalid --validity "forever"\n {2}hint: /);
});

test("the same bad value read from a file stays exit 3; an unknown --server is exit 3 like an unknown partner", async (t) => {
  const dir = await initTempCa(t);
  const bad = await makeCsr(dir, "bad", { subj: "/CN=bad-client", addext: ["subjectAltName=DNS:bad_x!"] });
  refused(await mtls(["partner", "issue", "bad", "--csr", bad.csr, "--json"], { cwd: dir }), 3, "ERR_SAN", /asks for an invalid SAN "dns:bad_x!"/);
  refused(await mtls(["gateway", "config", "nginx", "--server", "nope", "--json"], { cwd: dir }), 3, "ERR_NO_SERVER_CERT", /named nope/);
});

test("help texts list a bad flag value under exit 2", async () => {
  const help = async (...cmd: string[]) => (await mtls([...cmd, "--help"])).stdout.split("Exit codes:")[1] ?? "";
  assert.match(await help("crl", "publish"), /2 {2}an invalid --validity/);
  assert.doesNotMatch(await help("crl", "publish"), /3 {2}invalid --validity/);
  assert.match(await help("partner", "issue"), /2 {2}[^\n]*--san or --days/);
  assert.doesNotMatch(await help("partner", "issue"), /3 {2}[^\n]*SAN or validity/);
  assert.match(await help("status"), /2 {2}invalid duration/);
  assert.match(await help("server", "issue"), /2 {2}no --dns\/--ip or an invalid one/);
  assert.match(await help("ca", "policy", "set"), /2 {2}[^\n]*invalid URL or number of days/);
});

test("server issue names a server in its errors, not a partner", async (t) => {
  const dir = await initTempCa(t);
  refused(
    await mtls(["server", "issue", "GW!", "--dns", "gw.example", "--out", "gw.pem", "--out-key", "gw.key", "--json"], { cwd: dir }),
    3,
    "ERR_PARTNER_ID",
    /^invalid server name "GW!"$/,
  );
});

test("list --partner naming no partner is exit 3, as partner show is; a registered partner without certificates lists nothing", async (t) => {
  const dir = await initTempCa(t);
  assert.equal((await mtls(["partner", "add", "zeta"], { cwd: dir })).exitCode, 0);
  refused(await mtls(["list", "--partner", "nope", "--json"], { cwd: dir }), 3, "ERR_UNKNOWN_PARTNER", /no partner "nope"/);
  const table = await mtls(["list", "--partner", "nope"], { cwd: dir });
  assert.equal(table.exitCode, 3);
  assert.equal(table.stdout, "");
  assert.match(table.stderr, /^error: no partner "nope" in this PKI\n/);
  const zeta = await mtls(["list", "--partner", "zeta", "--json"], { cwd: dir });
  assert.equal(zeta.exitCode, 0, zeta.stderr);
  assert.deepEqual(json(zeta).result.certificates, []);
});

test("inspect needs no PKI: an MTLS_PKI naming no directory is skipped, a --pki naming none is still exit 5", async (t) => {
  const dir = await tempDir(t);
  const { csr } = await makeCsr(dir, "x");
  const env = { MTLS_PKI: join(dir, "missing") };
  const r = await mtls(["inspect", csr, "--json"], { cwd: dir, env });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.equal(json(r).result.objects[0].type, "csr");
  assert.equal((await mtls(["--pki", join(dir, "missing"), "inspect", csr], { cwd: dir })).exitCode, 5);
});

test("gateway config --out: nginx writes a directory and refuses a file (exit 2); kong writes a file", async (t) => {
  const dir = await initTempCa(t);
  await writeFile(join(dir, "keep.conf"), "mine\n");
  const before = await snapshot(dir);
  const file = await mtls(["gateway", "config", "nginx", "--out", "keep.conf", "--json"], { cwd: dir });
  refused(
    file,
    2,
    "ERR_OUT_NOT_DIRECTORY",
    /--out \S+keep\.conf is a file, and nginx writes a directory \(mtls-partners\.conf, ca-bundle\.pem, crl-bundle\.pem\)/,
  );
  assert.doesNotMatch(file.stdout, /EEXIST/);
  assert.deepEqual(await snapshot(dir), before);
  const d = await mtls(["gateway", "config", "nginx", "--out", "nginx.d", "--json"], { cwd: dir });
  assert.equal(d.exitCode, 0, d.stderr);
  assert.ok((await stat(join(dir, "nginx.d"))).isDirectory());
  assert.deepEqual(
    json(d)
      .result.files.map((f: { name: string }) => f.name)
      .sort(),
    ["ca-bundle.pem", "crl-bundle.pem", "mtls-partners.conf"],
  );
  const kong = await mtls(["gateway", "config", "kong", "--out", "kong.yaml", "--json"], { cwd: dir });
  assert.equal(kong.exitCode, 0, kong.stderr);
  assert.ok((await stat(join(dir, "kong.yaml"))).isFile());
  assert.match((await mtls(["gateway", "config", "--help"])).stdout, /nginx,\s+haproxy,\s+apache,\s+stunnel\s+and\s+envoy\s+write\s+a\s+directory/);
});

test("gateway config k8s-secret refuses --upstream as it refuses --listen (exit 2)", async (t) => {
  const dir = await initTempCa(t);
  refused(
    await mtls(["gateway", "config", "k8s-secret", "--upstream", "http://127.0.0.1:9", "--json"], { cwd: dir }),
    2,
    "ERR_FLAG_UNUSED",
    /does not use --upstream/,
  );
  // The default --upstream the help shows is not typed: it does not count.
  assert.equal((await mtls(["gateway", "config", "k8s-secret"], { cwd: dir })).exitCode, 0);
});

test("a refused confirmation or question names what turned questions off", async (t) => {
  const dir = await initTempCa(t);
  const noYes = await mtls(["revoke", "00", "--json"], { cwd: dir });
  refused(noYes, 2, "ERR_CONFIRMATION_REQUIRED", /^this needs confirmation and --json turns questions off$/);
  const missing = await mtls(["partner", "issue", "--no-input", "--json"], { cwd: dir });
  refused(missing, 2, "ERR_MISSING", /missing <partner-id>/);
  assert.match(json(missing).error?.hint ?? "", /--json turns questions off/);
  const plain = await mtls(["revoke", "00"], { cwd: dir, env: { CI: "" } });
  assert.match(plain.stderr, /this needs confirmation and there is no terminal to ask/);
});

test("on a real terminal, --no-input and CI are named, not a missing terminal", async (t) => {
  if (!have("tmux")) return t.skip("tmux is not installed");
  const dir = await initTempCa(t);
  for (const [env, command, reason] of [
    [{}, "revoke 00 --no-input", /this needs confirmation and --no-input turns questions off/],
    [{ CI: "1" }, "revoke 00", /this needs confirmation and CI is set, which turns questions off/],
    [{}, "partner issue --no-input", /pass it on the command line \(--no-input turns questions off\)/],
  ] as const) {
    const term = await startTerminal(t, `node ${BIN} ${command}`, { cwd: dir, env: { MTLS_CA_PASSPHRASE: "unused", ...env } });
    const screen = await term.waitFor(/\[exit \d+\]/);
    assert.match(screen, reason);
    assert.doesNotMatch(screen, /no terminal/);
    assert.match(screen, /\[exit 2\]/);
  }
});

test("a damaged config.json is named as damaged, without JSON.parse's text", async (t) => {
  const dir = await initTempCa(t);
  await writeFile(join(dir, "pki/config.json"), "junk\n");
  const r = await mtls(["status", "--json"], { cwd: dir });
  refused(r, 5, "ERR_STORE_CORRUPT", /config\.json is damaged: it is not valid JSON$/);
  assert.match(json(r).error?.hint ?? "", /backup/);
  assert.doesNotMatch(r.stdout + r.stderr, /Unexpected token|junk/);
});

test("crl publish --then with a missing program names it once", async (t) => {
  const dir = await initTempCa(t);
  const r = await mtls(["crl", "publish", "--then", "/nonexistent/bin"], { cwd: dir });
  assert.equal(r.exitCode, 1);
  assert.match(r.stderr, /the CRLs were published, but `\/nonexistent\/bin` not found: /);
  assert.equal(r.stderr.split("/nonexistent/bin").length, 2, r.stderr);
});

test("bundle open --out naming a file is exit 4, like a non-empty directory, and leaves it alone", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@partner.example" });
  assert.equal((await mtls(["partner", "add", "acme", "--pgp-key", key.publicFile], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", (await makeCsr(dir, "acme")).csr], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["partner", "export", "acme", "--out", "b.pgp"], { cwd: dir })).exitCode, 0);
  await writeFile(join(dir, "taken"), "mine\n");
  const args = ["bundle", "open", "b.pgp", "--key", key.secretFile, "--signer", join(dir, "pki/pgp/home-party.asc"), "--out", "taken"];
  for (const extra of [[], ["--force"]]) {
    const r = await mtls([...args, ...extra, "--json"], { cwd: dir });
    refused(r, 4, "ERR_EXISTS", /taken exists and is not a directory$/);
    assert.doesNotMatch(r.stdout + r.stderr, /\.open-|ENOTDIR/);
  }
  assert.equal(await readFile(join(dir, "taken"), "utf8"), "mine\n");
});

test("flags that exclude each other, or do not apply, are refused (exit 2) before anything is done", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "empty"));
  refused(
    await mtls(["--pki", "empty/pki", "ca", "init", "--no-intermediate", "--intermediate-days", "100", "--json"], { cwd: dir }),
    2,
    "ERR_USAGE",
    /--no-intermediate and --intermediate-days exclude each other/,
  );
  await writeFile(join(dir, "a-file"), "x\n");
  refused(
    await mtls(["--pki", "empty/pki", "ca", "init", "--crl-publish-dir", "a-file", "--json"], { cwd: dir }),
    2,
    "ERR_USAGE",
    /--crl-publish-dir \S+a-file is not a directory/,
  );
  assert.deepEqual(await snapshot(join(dir, "empty")), {});

  const ca = await initTempCa(t);
  await writeFile(join(ca, "a-file"), "x\n");
  const { csr } = await makeCsr(ca, "p");
  const before = await snapshot(join(ca, "pki"));
  refused(await mtls(["ca", "policy", "set", "--crl-publish-dir", "a-file", "--json"], { cwd: ca }), 2, "ERR_USAGE", /is not a directory/);
  refused(
    await mtls(["server", "issue", "gw", "--csr", csr, "--key-type", "rsa-2048", "--dns", "gw.example", "--out", "gw.pem", "--json"], { cwd: ca }),
    2,
    "ERR_USAGE",
    /--csr and --key-type exclude each other/,
  );
  const both = await mtls(["partner", "issue", "newp", "--csr", csr, "--generate", "--json"], { cwd: ca });
  refused(both, 2, "ERR_USAGE", /^--csr and --generate exclude each other$/);
  refused(await mtls(["notify", "--smtp", "http://x", "--json"], { cwd: ca }), 2, "ERR_SMTP_URL", /invalid --smtp "http:\/\/x"/);
  refused(await mtls(["notify", "--dry-run", "--from", "bob", "--json"], { cwd: ca }), 3, "ERR_ADDRESS", /invalid --from address "bob"/);
  assert.equal((await mtls(["notify", "--dry-run", "--from", "pki@home.example"], { cwd: ca })).exitCode, 0);
  assert.deepEqual(await snapshot(join(ca, "pki")), before);
});
