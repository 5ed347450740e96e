// #22: the rough edges a new user hits, each checked the way that user would meet it.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { haveNginx, startNginx } from "../helpers/gateways.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { initTempCa, json, mtls, openssl, snapshot, tempDir } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

test("help: every spelling shows the named command's help and exits 0; --json --help/--version are one document", async (t) => {
  const dir = await tempDir(t);
  for (const args of [
    ["help", "partner"],
    ["partner", "--help"],
  ]) {
    const r = await mtls(args, { cwd: dir });
    assert.equal(r.exitCode, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: mtls partner \[options\] \[command\]/, args.join(" "));
  }
  for (const args of [
    ["help", "partner", "issue"],
    ["partner", "help", "issue"],
    ["partner", "issue", "--help"],
  ]) {
    const r = await mtls(args, { cwd: dir });
    assert.equal(r.exitCode, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: mtls partner issue \[options\] \[partner-id\]/, args.join(" "));
    assert.match(r.stdout, /--out-leaf <file>/);
    assert.equal(r.stderr, "");
  }
  // An option value that happens to be "help" stays a value.
  const value = await mtls(["audit", "--action", "help", "--json"], { cwd: dir });
  assert.equal(json(value).error?.code, "ERR_NO_PKI");
  // An unknown name after help is named as such.
  const unknown = await mtls(["help", "partner", "isue", "--json"], { cwd: dir });
  assert.equal(unknown.exitCode, 2);
  assert.match(json(unknown).error?.message ?? "", /unknown command 'isue'/);
  // A group without a subcommand is still a usage error.
  assert.equal((await mtls(["partner"], { cwd: dir })).exitCode, 2);

  const version = await mtls(["--json", "--version"], { cwd: dir });
  assert.equal(version.exitCode, 0);
  const v = json(version);
  assert.equal(v.ok, true);
  assert.match(v.result.version, /^\d+\.\d+\.\d+/);
  const help = await mtls(["--json", "help", "partner", "issue"], { cwd: dir });
  assert.equal(help.exitCode, 0);
  const h = json(help);
  assert.equal(h.command, "partner issue");
  assert.equal(h.result.usage, "mtls partner issue [options] [partner-id]");
  assert.ok(h.result.options.some((o: { long: string }) => o.long === "--out-leaf"));
  assert.match(h.result.text, /Exit codes:/);
  const root = json(await mtls(["--help", "--json"], { cwd: dir }));
  const names = root.result.commands.map((c: { name: string }) => c.name);
  for (const n of ["demo", "ca", "partner", "revoke", "crl", "list", "status", "audit", "doctor", "probe", "gateway", "pgp", "bundle", "completion", "report"])
    assert.ok(names.includes(n), n);
  const issue = root.result.commands.find((c: { name: string }) => c.name === "partner").commands.find((c: { name: string }) => c.name === "issue");
  assert.equal(issue.path, "partner issue", "the tree nests");
});

test("issue --out writes what the client presents (leaf + intermediate), --out-leaf the leaf; nginx accepts the --out file (#22)", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const { csr, key } = await makeCsr(dir, "acme");
  const r = await mtls(["partner", "issue", "acme", "--csr", csr, "--out", "acme.pem", "--out-leaf", "acme-leaf.pem", "--days", "30d"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /for the client:\s+\S*acme\.pem \(certificate \+ intermediate: what the partner's client presents, e\.g\. curl --cert\)/);
  const chain = await readFile(join(dir, "acme.pem"), "utf8");
  const leaf = await readFile(join(dir, "acme-leaf.pem"), "utf8");
  assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2);
  assert.equal(leaf.match(/BEGIN CERTIFICATE/g)?.length, 1);
  assert.ok(chain.startsWith(leaf));
  assert.ok(chain.endsWith(await readFile(join(pki, "ca/intermediate.pem"), "utf8")));
  // The chain file alone verifies against the root, the way a gateway that trusts only the root checks it.
  const v = await openssl(["verify", "-purpose", "sslclient", "-CAfile", join(pki, "ca/root.pem"), "-untrusted", join(dir, "acme.pem"), join(dir, "acme.pem")]);
  assert.equal(v.exitCode, 0, v.stderr);
  // --days 30d is 30 days.
  const end = await openssl(["x509", "-in", join(dir, "acme-leaf.pem"), "-noout", "-startdate", "-enddate"]);
  const [from, to] = [/notBefore=(.*)/, /notAfter=(.*)/].map((re) => Date.parse(re.exec(end.stdout)?.[1] ?? ""));
  assert.ok(Math.abs((to as number) - (from as number) - 30 * 86_400_000) < 3_600_000, end.stdout);
  for (const [days, code] of [
    ["4w", 0],
    ["90", 0],
    ["36h", 2],
    ["soon", 2],
  ] as const) {
    const d = await mtls(["partner", "issue", "acme", "--csr", csr, "--days", days, "--json"], { cwd: dir });
    assert.equal(d.exitCode, code, `--days ${days}: ${d.stdout}`);
  }
  if (!haveNginx()) return t.skip("nginx is not installed");
  const srv = await serverCert(dir);
  const gw = await startNginx(t, dir, {
    serverCert: srv.cert,
    serverKey: srv.key,
    caBundle: join(pki, "ca/root.pem"),
    crlBundle: join(pki, "crl/crl-bundle.pem"),
  });
  const { curlWithCert } = await import("../helpers/curl.js");
  const ok = await curlWithCert(gw.port, { cert: join(dir, "acme.pem"), key, cacert: srv.cert });
  assert.equal(ok.status, 200, JSON.stringify(ok));
  const leafOnly = await curlWithCert(gw.port, { cert: join(dir, "acme-leaf.pem"), key, cacert: srv.cert });
  assert.equal(leafOnly.status, 400, "the leaf alone is what failed before: nginx cannot build the chain");
});

test("partner add shows GnuPG's algorithm names; export prints the serial it picked; offboarding twice is exit 4 with no new CRL", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const cv = await genKey(g, "cv25519", { email: "pki@acme.example" });
  const rsa = await genKey(g, "rsa4096", { email: "pki@rsa.example" });
  const add = await mtls(["partner", "add", "acme", "--pgp-key", cv.publicFile], { cwd: dir });
  assert.equal(add.exitCode, 0, add.stderr);
  assert.match(add.stdout, /key:\s+ed25519\/cv25519, expires/);
  assert.doesNotMatch(add.stdout, /Legacy|eddsa|ecdh/);
  const addRsa = await mtls(["partner", "add", "rsa-co", "--pgp-key", rsa.publicFile], { cwd: dir });
  assert.match(addRsa.stdout, /key:\s+rsa4096\/rsa4096/);
  assert.match((await mtls(["partner", "show", "acme"], { cwd: dir })).stdout, new RegExp(`${cv.fingerprint} \\(ed25519/cv25519\\)`));

  const { csr } = await makeCsr(dir, "acme");
  const first = json(await mtls(["partner", "issue", "acme", "--csr", csr, "--json"], { cwd: dir })).result;
  const second = json(await mtls(["partner", "issue", "acme", "--csr", csr, "--json"], { cwd: dir })).result;
  const exp = await mtls(["partner", "export", "acme", "--out", "acme.zip.pgp"], { cwd: dir });
  assert.equal(exp.exitCode, 0, exp.stderr);
  assert.match(exp.stdout, new RegExp(`^certificate ${second.serial} \\(the newest valid one; --serial picks another\\)`));
  const pinned = json(await mtls(["partner", "export", "acme", "--serial", first.serial, "--out", "first.zip.pgp", "--json"], { cwd: dir })).result;
  assert.equal(pinned.serial, first.serial);
  assert.equal(pinned.picked, false);

  const off = await mtls(["partner", "offboard", "acme", "--yes", "--json"], { cwd: dir });
  assert.equal(off.exitCode, 0, off.stderr);
  assert.equal(json(off).result.revoked.length, 2);
  const before = await snapshot(join(dir, "pki"));
  const again = await mtls(["partner", "offboard", "acme", "--yes", "--json"], { cwd: dir });
  assert.equal(again.exitCode, 4);
  assert.equal(json(again).error?.code, "ERR_ALREADY_OFFBOARDED");
  assert.deepEqual(await snapshot(join(dir, "pki")), before, "no new CRL, no audit record, nothing");
  // The same exit code as revoking a revoked serial.
  assert.equal((await mtls(["revoke", first.serial, "--yes"], { cwd: dir })).exitCode, 4);
});
