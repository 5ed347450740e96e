import assert from "node:assert/strict";
import { appendFile, chmod, copyFile, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls, opensslVerifyWithCrl, PASSPHRASE, tempDir } from "../helpers/run.js";

const crlSerials = async (dir: string) =>
  new Set<string>(json(await mtls(["crl", "show", "--json"], { cwd: dir })).result.crls[0].entries.map((e: { serial: string }) => e.serial));

test("the audit log records every state-changing action with its actor, chains them, and holds no secret", async (t) => {
  const dir = await initTempCa(t, ["--insecure-no-passphrase"]);
  const env = { MTLS_ACTOR: "ops-alice@pki-vault" };
  const { csr } = await makeCsr(dir, "audited");
  const issued = json(await mtls(["partner", "issue", "audited", "--csr", csr, "--json"], { cwd: dir, env })).result;
  await mtls(["revoke", issued.serial, "--reason", "keyCompromise", "--yes"], { cwd: dir, env });
  await mtls(["crl", "publish"], { cwd: dir, env });
  const log = json(await mtls(["audit", "--json"], { cwd: dir }));
  const actions = log.result.records.map((r: { action: string }) => r.action);
  assert.deepEqual(actions, ["ca.init", "cert.issue", "cert.revoke", "crl.publish", "crl.publish"]);
  const revoke = log.result.records[2];
  assert.equal(revoke.actor, "ops-alice@pki-vault");
  assert.equal(revoke.serial, issued.serial);
  assert.equal(revoke.partner, "audited");
  assert.equal(revoke.details.reason, "keyCompromise");
  assert.equal(json(await mtls(["audit", "--partner", "audited", "--json"], { cwd: dir })).result.records.length, 2);
  assert.equal(json(await mtls(["audit", "--action", "crl", "--json"], { cwd: dir })).result.records.length, 2);
  assert.equal((await mtls(["audit", "verify"], { cwd: dir })).exitCode, 0);

  // Edit a record: the chain breaks right after it, and verify names it.
  const path = join(dir, "pki/audit.log");
  const original = await readFile(path, "utf8");
  await writeFile(path, original.replace('"audited"', '"someone-else"'));
  const edited = await mtls(["audit", "verify", "--json"], { cwd: dir });
  assert.equal(edited.exitCode, 1);
  assert.equal(json(edited).result.firstBad.line, 2);
  // Delete a record in the middle.
  const lines = original.trimEnd().split("\n");
  await writeFile(path, `${[...lines.slice(0, 2), ...lines.slice(3)].join("\n")}\n`);
  const deleted = json(await mtls(["audit", "verify", "--json"], { cwd: dir }));
  assert.equal(deleted.result.ok, false);
  assert.match(deleted.result.firstBad.reason, /inserted or deleted/);
  // Cut inside the last record: the complete lines still chain (a crash leaves such a tail), but
  // the log does not end there, and verify says so.
  await writeFile(path, original.slice(0, original.length - 20));
  const torn = await mtls(["audit", "verify", "--json"], { cwd: dir });
  assert.equal(torn.exitCode, 0, torn.stdout);
  assert.deepEqual([json(torn).result.ok, json(torn).result.records, json(torn).result.tornTail], [true, lines.length - 1, true]);
  assert.match(json(torn).warnings.join("\n"), /torn append after record 4/);
});

test("doctor finds what a crash or a careless hand leaves behind, and --fix repairs it", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "doc");
  const a = json(await mtls(["partner", "issue", "doc", "--csr", csr, "--json"], { cwd: dir })).result;
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
  // An unrecorded certificate (as a crash before the index append leaves one), a torn index
  // line, a revocation only in the journal, a readable key, a leftover temp file.
  const b = json(await mtls(["partner", "issue", "doc", "--csr", csr, "--json"], { cwd: dir })).result;
  const index = (await readFile(join(dir, "pki/index.jsonl"), "utf8")).trimEnd().split("\n");
  await writeFile(join(dir, "pki/index.jsonl"), `${index.slice(0, -1).join("\n")}\n{"serial":"trunc`);
  await appendFile(
    join(dir, "pki/revocations.jsonl"),
    `${JSON.stringify({ serial: a.serial, issuer: "intermediate", revokedAt: "2026-11-22T00:00:00Z", reason: "keyCompromise", partnerId: "doc" })}\n`,
  );
  await chmod(join(dir, "pki/private/intermediate.key"), 0o644);
  await writeFile(join(dir, "pki/.index.jsonl.tmp-999999-abcd1234"), "half");
  const sick = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(sick.exitCode, 1);
  const checks = json(sick)
    .result.problems.map((p: { check: string }) => p.check)
    .sort();
  assert.deepEqual(checks, ["crl", "journal", "leftovers", "modes", "orphans", "revocations"]);
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
  // The unrecorded certificate is revoked and on the CRL; so is the journal-only revocation.
  const onCrl = await crlSerials(dir);
  assert.ok(onCrl.has(b.serial) && onCrl.has(a.serial));
  const v = await opensslVerifyWithCrl(join(dir, "pki"), join(dir, "pki/certs/orphans", `${b.serial}.pem`));
  assert.match(v.stdout + v.stderr, /certificate revoked/);
  assert.equal(json(await mtls(["list", "--partner", "doc", "--json"], { cwd: dir })).result.certificates[0].status, "revoked");
  assert.equal((await stat(join(dir, "pki/private/intermediate.key"))).mode & 0o777, 0o600);
});

test("races: 20 concurrent revokes, and issues racing with CRL publishing; every serial unique, every revocation published", async (t) => {
  const dir = await initTempCa(t);
  await writeFile(
    join(dir, "b.jsonl"),
    Array.from({ length: 20 }, (_, i) => JSON.stringify({ partner: `r-${i}`, generate: true, outKey: `k${i}.key` })).join("\n"),
  );
  const batch = json(await mtls(["partner", "issue", "--batch", "b.jsonl", "--json"], { cwd: dir })).result;
  const serials = batch.results.map((r: { serial: string }) => r.serial) as string[];
  const revokes = await Promise.all(serials.map((s) => mtls(["revoke", s, "--yes"], { cwd: dir, timeoutMs: 120_000 })));
  for (const r of revokes) assert.equal(r.exitCode, 0, r.stderr);
  const onCrl = await crlSerials(dir);
  for (const s of serials) assert.ok(onCrl.has(s), `${s} on the CRL`);
  const { csr } = await makeCsr(dir, "racer");
  const mixed = await Promise.all([
    ...Array.from({ length: 10 }, (_, i) =>
      mtls(["partner", "issue", `racer-${i}`, "--csr", csr, "--cn", `racer-${i}`, "--json"], { cwd: dir, timeoutMs: 120_000 }),
    ),
    ...Array.from({ length: 5 }, () => mtls(["crl", "publish", "--json"], { cwd: dir, timeoutMs: 120_000 })),
  ]);
  for (const r of mixed) assert.equal(r.exitCode, 0, r.stderr);
  const all = json(await mtls(["list", "--json"], { cwd: dir })).result.certificates.map((c: { serial: string }) => c.serial);
  assert.equal(new Set(all).size, 30);
  const numbers = mixed.slice(10).map((r) => json(r).result.crls[0].number);
  assert.equal(new Set(numbers).size, 5, "every publish got its own CRL Number");
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("secrets: after a lifecycle, no file, output or audit record holds the passphrase or a private key in the clear", async (t) => {
  const dir = await initTempCa(t);
  const outputs: string[] = [];
  const run = async (args: string[]) => {
    const r = await mtls(args, { cwd: dir });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const { csr } = await makeCsr(dir, "secret");
  await run(["partner", "issue", "secret", "--csr", csr, "--json"]);
  await run(["partner", "issue", "gen", "--generate", "--out-key", "gen.key", "--json"]);
  const serial = json(await run(["list", "--partner", "secret", "--json"])).result.certificates[0].serial;
  await run(["revoke", serial, "--yes", "--json"]);
  await run(["status", "--json"]);
  await run(["doctor", "--json"]);
  await run(["audit"]);
  await run(["partner", "issue", "bad", "--csr", csr, "--json"]).then(() => run(["partner", "issue", "x", "--csr", csr, "--json"]));
  outputs.push((await mtls(["partner", "issue", "y", "--csr", csr, "--json"], { cwd: dir, env: { MTLS_CA_PASSPHRASE: "a wrong passphrase 1" } })).stdout);
  // The private scalars of the CA keys and of the generated key, in every form they could leak
  // as: raw bytes, hex, and base64 at each of the three byte alignments.
  const { createPrivateKey } = await import("node:crypto");
  const needles: string[] = [];
  const scalars: Buffer[] = [];
  for (const k of ["root", "intermediate", "canary"]) {
    const pem = await readFile(join(dir, `pki/private/${k}.key`), "utf8");
    scalars.push(Buffer.from(createPrivateKey({ key: pem, passphrase: PASSPHRASE }).export({ format: "jwk" }).d as string, "base64url"));
  }
  scalars.push(Buffer.from(createPrivateKey(await readFile(join(dir, "gen.key"), "utf8")).export({ format: "jwk" }).d as string, "base64url"));
  for (const d of scalars) {
    needles.push(d.toString("latin1"), d.toString("hex"));
    for (let shift = 0; shift < 3; shift++) needles.push(d.subarray(shift).toString("base64").slice(0, 24));
  }
  const haystacks: Array<[string, string]> = outputs.map((o, i) => [`output ${i}`, o]);
  for (const f of await readdir(join(dir, "pki"), { recursive: true })) {
    const p = join(dir, "pki", f);
    if ((await stat(p)).isFile()) haystacks.push([f, await readFile(p, "latin1")]);
  }
  for (const [name, text] of haystacks) {
    assert.ok(!text.includes(PASSPHRASE), `passphrase in ${name}`);
    assert.ok(!text.includes("a wrong passphrase 1"), `wrong passphrase in ${name}`);
    for (const n of needles) assert.ok(!text.includes(n), `private key material in ${name}`);
  }
  // The needles do find a key where one is (the test can fail).
  const genPem = await readFile(join(dir, "gen.key"), "latin1");
  const genDer = Buffer.from(genPem.split("\n").slice(1, -2).join(""), "base64").toString("latin1");
  assert.ok(
    needles.some((n) => genDer.includes(n)),
    "the needles find the generated key in its own file",
  );
  assert.equal((await stat(join(dir, "pki/private"))).mode & 0o777, 0o700);
  for (const f of await readdir(join(dir, "pki/private"))) assert.equal((await stat(join(dir, "pki/private", f))).mode & 0o777, 0o600, f);
});

test("a corrupted key file and a CA certificate that does not match its key are clear errors", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "k");
  const key = join(dir, "pki/private/intermediate.key");
  const good = await readFile(key, "utf8");
  await writeFile(
    key,
    good.replace(/^(-----BEGIN ENCRYPTED PRIVATE KEY-----\n)(.)/m, (_m, h: string, c: string) => h + (c === "M" ? "N" : "M")),
  );
  // A damaged encrypted key may read as a wrong passphrase (exit 3: the passphrase is input), or
  // as no key at all: damage to the store (exit 5, naming the file).
  const corrupt = await mtls(["partner", "issue", "k", "--csr", csr, "--json"], { cwd: dir });
  assert.match(json(corrupt).error?.code ?? "", /^ERR_(PASSPHRASE_WRONG|KEY_CORRUPT)$/);
  assert.equal(corrupt.exitCode, json(corrupt).error?.code === "ERR_KEY_CORRUPT" ? 5 : 3);
  await writeFile(key, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
  const garbage = await mtls(["partner", "issue", "k", "--csr", csr, "--json"], { cwd: dir });
  assert.equal(garbage.exitCode, 5, garbage.stdout);
  assert.equal(json(garbage).error?.code, "ERR_KEY_CORRUPT");
  assert.match(json(garbage).error?.message ?? "", /the intermediate CA key \(.*private\/intermediate\.key\) is not a readable private key/);
  await copyFile(join(dir, "pki/private/root.key"), key);
  const mismatch = await mtls(["partner", "issue", "k", "--csr", csr, "--json"], { cwd: dir });
  assert.equal(mismatch.exitCode, 3);
  assert.equal(json(mismatch).error?.code, "ERR_CA_KEY_MISMATCH");
  assert.match(json(mismatch).error?.message ?? "", /the intermediate CA key does not match its certificate/);
});

test("a symlink planted where mtls writes is refused, and its target is untouched", async (t) => {
  const dir = await initTempCa(t);
  const victim = join(await tempDir(t), "victim.txt");
  await writeFile(victim, "precious\n");
  const { csr } = await makeCsr(dir, "s");
  const index = join(dir, "pki/index.jsonl");
  await writeFile(index, "");
  const { unlink } = await import("node:fs/promises");
  await unlink(index);
  await symlink(victim, index);
  const r = await mtls(["partner", "issue", "s", "--csr", csr, "--json"], { cwd: dir });
  assert.notEqual(r.exitCode, 0);
  assert.notEqual(r.exitCode, 70);
  assert.equal(json(r).error?.code, "ERR_SYMLINK");
  assert.equal(await readFile(victim, "utf8"), "precious\n");
  // A planted CRL link is refused too (#13: every fixed store file is checked), neither written
  // through nor read: a gateway or `status` reading through it could be shown an older CRL.
  await unlink(index);
  await writeFile(index, "");
  const crl = join(dir, "pki/crl/crl-bundle.pem");
  await unlink(crl);
  await symlink(victim, crl);
  const publish = await mtls(["crl", "publish", "--json"], { cwd: dir });
  assert.equal(publish.exitCode, 5, publish.stdout);
  assert.equal(json(publish).error?.code, "ERR_SYMLINK");
  assert.equal(await readFile(victim, "utf8"), "precious\n");
  await unlink(crl);
  assert.equal((await mtls(["crl", "publish"], { cwd: dir })).exitCode, 0);
  assert.match(await readFile(crl, "utf8"), /BEGIN X509 CRL/);
});

test("hostile input through the CLI: a 50 MB file, partner ids with NUL, '../' or 300 characters — exit 3, never 70", async (t) => {
  const dir = await initTempCa(t);
  const big = join(dir, "big.csr");
  await writeFile(big, Buffer.alloc(50 * 1024 * 1024, 0x41));
  const r = await mtls(["partner", "issue", "big", "--csr", big, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 3);
  assert.equal(json(r).error?.code, "ERR_INPUT_TOO_LARGE");
  const long = await mtls(["partner", "issue", "a".repeat(300), "--generate", "--out-key", "k.key", "--json"], { cwd: dir });
  assert.equal(long.exitCode, 3);
  assert.match(json(long).error?.message ?? "", /invalid partner id "a{80}…"/);
  await writeFile(
    join(dir, "ids.jsonl"),
    [
      JSON.stringify({ partner: "nul\u0000id", generate: true, outKey: "1.key" }),
      JSON.stringify({ partner: "../../etc", generate: true, outKey: "2.key" }),
    ].join("\n"),
  );
  const batch = json(await mtls(["partner", "issue", "--batch", "ids.jsonl", "--json"], { cwd: dir }));
  assert.deepEqual(
    batch.result.results.map((x: { error?: { code: string } }) => x.error?.code),
    ["ERR_PARTNER_ID", "ERR_PARTNER_ID"],
  );
});

test("doctor names a missing CA bundle, issuing chain, chain file or canary; --fix writes again what derives from the CA certificates", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "gone");
  const issued = json(await mtls(["partner", "issue", "gone", "--csr", csr, "--json"], { cwd: dir })).result;
  const derived = ["ca/ca-bundle.pem", "ca/chain.pem", `certs/${issued.serial}.chain.pem`];
  const originals = await Promise.all(derived.map((f) => readFile(join(dir, "pki", f), "utf8")));
  for (const f of [...derived, "ca/canary.pem"]) await rm(join(dir, "pki", f));
  const d = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(d.exitCode, 1, d.stdout);
  const problems = json(d).result.problems as Array<{ message: string; fixable: boolean }>;
  for (const f of [...derived, "ca/canary.pem"])
    assert.ok(
      problems.some((p) => p.message === `${f} is missing`),
      `${f}: ${d.stdout}`,
    );
  assert.equal((await mtls(["doctor", "--fix", "--json"], { cwd: dir })).exitCode, 1);
  assert.deepEqual(await Promise.all(derived.map((f) => readFile(join(dir, "pki", f), "utf8"))), originals);
  const after = json(await mtls(["doctor", "--json"], { cwd: dir })).result.problems as Array<{ message: string }>;
  assert.deepEqual(
    after.map((p) => p.message),
    ["ca/canary.pem is missing"],
  );
});
