import assert from "node:assert/strict";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { issueBatch } from "../../src/core/issue/batch.js";
import { openPki } from "../../src/core/session.js";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls, openssl, PASSPHRASE, snapshot } from "../helpers/run.js";

/** A batch's certificate (#21: its pack is its only copy), into a file of its own for openssl, by `mtls cert show`. */
async function packedCert(dir: string, serial: string, opts: string[] = []): Promise<string> {
  const r = await mtls(["cert", "show", serial, ...opts], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  const out = join(dir, `${serial}${opts.length ? "-chain" : ""}.pem`);
  await writeFile(out, r.stdout);
  return out;
}

test("--batch issues every good line under one lock with one index append; bad lines fail alone with their line numbers", async (t) => {
  const dir = await initTempCa(t);
  const a = await makeCsr(dir, "alpha", { addext: ["subjectAltName=DNS:alpha.example"] });
  const weak = await makeCsr(dir, "weak", { key: "rsa1024" });
  const lines = [
    JSON.stringify({ partner: "alpha", csr: "alpha.csr", days: 30 }),
    JSON.stringify({ partner: "fleet-1", csr: "generate", sans: ["uri:spiffe://fleet.example/w/1"], outKey: "named.key" }),
    "# comments and blank lines are skipped",
    "",
    JSON.stringify({ partner: "fleet-2", generate: true, keyType: "ec-p384", sans: ["uri:spiffe://fleet.example/w/2"] }),
    "{ not json",
    JSON.stringify({ partner: "weak", csr: "weak.csr" }),
    JSON.stringify({ partner: "bad-san", generate: true, sans: ["dns:has space"] }),
    JSON.stringify({ partner: "../escape", generate: true }),
  ];
  await writeFile(join(dir, "batch.jsonl"), `${lines.join("\n")}\n`);
  void a;
  void weak;
  const indexBefore = (await readFile(join(dir, "pki/index.jsonl"), "utf8")).split("\n").filter(Boolean).length;
  const r = await mtls(["partner", "issue", "--batch", "batch.jsonl", "--key-dir", "keys", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 1, r.stderr);
  const doc = json(r);
  assert.equal(doc.result.issued, 3);
  assert.equal(doc.result.failed, 4);
  const byLine = Object.fromEntries(doc.result.results.map((x: { line: number }) => [x.line, x]));
  assert.equal(byLine[1].ok, true);
  assert.equal(byLine[2].keyPath, join(dir, "named.key"));
  assert.equal(byLine[5].keyPath, join(dir, "keys", `fleet-2-${byLine[5].serial.slice(0, 8)}.key`));
  assert.match(byLine[6].error.message, /line 6 is not a JSON object/);
  assert.equal(byLine[7].error.code, "ERR_KEY_POLICY");
  assert.equal(byLine[8].error.code, "ERR_SAN");
  assert.equal(byLine[9].error.code, "ERR_PARTNER_ID");
  for (const n of [2, 5]) assert.equal((await stat(byLine[n].keyPath)).mode & 0o777, 0o600);
  assert.equal((await stat(join(dir, "keys"))).mode & 0o777, 0o700);
  const p5Path = () => join(dir, `${byLine[5].serial}.pem`);
  for (const n of [1, 2, 5]) {
    const v = await openssl([
      "verify",
      "-purpose",
      "sslclient",
      "-CAfile",
      join(dir, "pki/ca/root.pem"),
      "-untrusted",
      join(dir, "pki/ca/intermediate.pem"),
      await packedCert(dir, byLine[n].serial),
    ]);
    assert.equal(v.exitCode, 0, v.stderr);
  }
  // --chain: what a client presents, verified without naming the intermediate.
  const chain = await packedCert(dir, byLine[5].serial, ["--chain"]);
  const chained = await openssl(["verify", "-purpose", "sslclient", "-CAfile", join(dir, "pki/ca/root.pem"), "-untrusted", chain, chain]);
  assert.equal(chained.exitCode, 0, chained.stderr);
  const shown = json(await mtls(["cert", "show", byLine[5].serial.toUpperCase(), "--json"], { cwd: dir }));
  assert.deepEqual([shown.result.partnerId, shown.result.status, shown.result.pem], ["fleet-2", "valid", await readFile(p5Path(), "utf8")]);
  const unknown = await mtls(["cert", "show", "0badc0de", "--json"], { cwd: dir });
  assert.equal(unknown.exitCode, 3);
  assert.equal(json(unknown).error?.code, "ERR_UNKNOWN_SERIAL");
  // No per-serial files for a batch's certificates: the pack holds them.
  for (const n of [1, 2, 5]) await assert.rejects(stat(join(dir, "pki/certs", `${byLine[n].serial}.pem`)), { code: "ENOENT" });
  const p5 = p5Path();
  const pub = await openssl(["x509", "-in", p5, "-noout", "-pubkey"]);
  const fromKey = await openssl(["pkey", "-in", byLine[5].keyPath, "-pubout"]);
  assert.equal(pub.stdout, fromKey.stdout);
  assert.match((await openssl(["x509", "-in", p5, "-noout", "-text"])).stdout, /NIST CURVE: P-384/);
  // One append: exactly the three new records, in batch-file order.
  const index = (await readFile(join(dir, "pki/index.jsonl"), "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  assert.equal(index.length, indexBefore + 3);
  assert.deepEqual(
    index.map((x: { partnerId: string }) => x.partnerId),
    ["alpha", "fleet-1", "fleet-2"],
  );
  // Again: named.key exists now, so line 2 fails on its own and the rest is issued.
  const human = await mtls(["partner", "issue", "--batch", "batch.jsonl", "--key-dir", "keys2"], { cwd: dir });
  assert.equal(human.exitCode, 1);
  assert.match(human.stdout, /2 issued, 5 failed from batch\.jsonl\nLINE\s+PARTNER\s+ERROR\n2\s+fleet-1\s+line 2: .*named\.key already exists\n6\s+/);
});

test("--batch --all-or-nothing issues nothing when a line is bad; a generated key with nowhere to go fails its line", async (t) => {
  const dir = await initTempCa(t);
  await writeFile(
    join(dir, "b.jsonl"),
    `${JSON.stringify({ partner: "good", generate: true, outKey: "good.key" })}\n${JSON.stringify({ partner: "nokey", generate: true })}\n`,
  );
  const before = await snapshot(join(dir, "pki"));
  const all = await mtls(["partner", "issue", "--batch", "b.jsonl", "--all-or-nothing", "--json"], { cwd: dir });
  assert.equal(all.exitCode, 3);
  assert.match(json(all).error?.message ?? "", /1 of 2 lines are invalid .*line 2 generates a key but names no "outKey".*nothing was issued/);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  await assert.rejects(stat(join(dir, "good.key")));
  const some = json(await mtls(["partner", "issue", "--batch", "b.jsonl", "--json"], { cwd: dir }));
  assert.equal(some.result.issued, 1);
  assert.equal(some.result.results[1].error.code, "ERR_KEY_DESTINATION");
  const mixed = await mtls(["partner", "issue", "acme", "--batch", "b.jsonl", "--json"], { cwd: dir });
  assert.equal(mixed.exitCode, 2);
});

test("--batch: a field of the wrong JSON type fails its line with ERR_BATCH_LINE naming the field, never an internal error", async (t) => {
  const dir = await initTempCa(t);
  const lines: Array<[Record<string, unknown>, RegExp]> = [
    [{ partner: "t1", generate: true, sans: "dns:x.example", outKey: "k1.key" }, /line 1: "sans" must be an array of strings, not a string/],
    [{ partner: "t2", generate: true, sans: [123], outKey: "k2.key" }, /line 2: "sans" must be an array of strings, not an array whose item 1 is a number/],
    [{ partner: "t3", generate: true, cn: 123, outKey: "k3.key" }, /line 3: "cn" must be a string, not a number/],
    [{ partner: "t4", csr: 123 }, /line 4: "csr" must be a file name \(a non-empty string\), not a number/],
    [{ partner: "t5", generate: true, outKey: ["a"] }, /line 5: "outKey" must be a file name \(a non-empty string\), not an array/],
    [{ partner: "t6", generate: "yes", outKey: "k6.key" }, /line 6: "generate" must be true or false, not a string/],
    [{ partner: "t7", generate: true, keyType: 256, outKey: "k7.key" }, /line 7: "keyType" must be a string, not a number/],
    [{ partner: "t8", generate: true, days: "30", outKey: "k8.key" }, /line 8: "days" must be a number, not a string/],
    [{ partner: ["t9"], generate: true, outKey: "k9.key" }, /line 9: "partner" must be a string, not an array/],
  ];
  await writeFile(join(dir, "b.jsonl"), `${lines.map(([l]) => JSON.stringify(l)).join("\n")}\n`);
  const before = await snapshot(join(dir, "pki"));
  const r = await mtls(["partner", "issue", "--batch", "b.jsonl", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 1, r.stdout);
  const results = json(r).result.results as Array<{ line: number; ok: boolean; error: { code: string; message: string } }>;
  assert.equal(results.length, lines.length);
  for (const [i, [, message]] of lines.entries()) {
    assert.equal(results[i]?.error.code, "ERR_BATCH_LINE", results[i]?.error.message);
    assert.match(results[i]?.error.message ?? "", message);
  }
  const all = await mtls(["partner", "issue", "--batch", "b.jsonl", "--all-or-nothing", "--json"], { cwd: dir });
  assert.equal(all.exitCode, 3);
  assert.match(
    json(all).error?.message ?? "",
    /9 of 9 lines are invalid \(first: line 1: "sans" must be an array of strings, not a string\); nothing was issued/,
  );
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});

test("#21 --batch: a key that cannot be written fails its line alone, and its certificate is not issued", async (t) => {
  const dir = await initTempCa(t);
  await writeFile(
    join(dir, "b.jsonl"),
    `${JSON.stringify({ partner: "lost", generate: true, outKey: "no-such-dir/lost.key" })}\n${JSON.stringify({ partner: "kept", generate: true, outKey: "kept.key" })}\n`,
  );
  const indexBefore = (await readFile(join(dir, "pki/index.jsonl"), "utf8")).split("\n").filter(Boolean).length;
  const r = await mtls(["partner", "issue", "--batch", "b.jsonl", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 1, r.stderr);
  const results = json(r).result.results as Array<{ line: number; ok: boolean; serial?: string; error?: { message: string } }>;
  assert.equal(results[0]?.ok, false);
  assert.match(results[0]?.error?.message ?? "", /no-such-dir\/lost\.key/);
  assert.equal(results[1]?.ok, true);
  const index = (await readFile(join(dir, "pki/index.jsonl"), "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  assert.equal(index.length, indexBefore + 1);
  assert.equal(index.at(-1).partnerId, "kept");
  assert.equal((await stat(join(dir, "kept.key"))).mode & 0o777, 0o600);
  // With --all-or-nothing the same batch issues nothing and leaves no key behind.
  await writeFile(join(dir, "b.jsonl"), (await readFile(join(dir, "b.jsonl"), "utf8")).replaceAll("kept", "again"));
  const all = await mtls(["partner", "issue", "--batch", "b.jsonl", "--all-or-nothing", "--json"], { cwd: dir });
  assert.notEqual(all.exitCode, 0);
  assert.match(json(all).error?.message ?? "", /line 1: .*no-such-dir\/lost\.key.*nothing was issued/);
  await assert.rejects(stat(join(dir, "again.key")), { code: "ENOENT" });
  assert.equal((await readFile(join(dir, "pki/index.jsonl"), "utf8")).split("\n").filter(Boolean).length, indexBefore + 1);
});

test("#21 --batch --keys-out: every generated key in one new 0600 file with its certificate and chain, in batch order; an existing file or a failed batch writes nothing", async (t) => {
  const dir = await initTempCa(t);
  await makeCsr(dir, "alpha");
  const lines = [
    JSON.stringify({ partner: "w-1", generate: true, sans: ["uri:spiffe://fleet.example/w/1"] }),
    JSON.stringify({ partner: "alpha", csr: "alpha.csr" }),
    JSON.stringify({ partner: "w-2", generate: true, keyType: "ec-p384" }),
    JSON.stringify({ partner: "w-3", generate: true, outKey: "w3.key" }),
    JSON.stringify({ partner: "bad-san", generate: true, sans: ["dns:has space"] }),
  ];
  await writeFile(join(dir, "b.jsonl"), `${lines.join("\n")}\n`);
  // Nothing is written when the batch issues nothing, and the store stays as it was.
  const before = await snapshot(join(dir, "pki"));
  const none = await mtls(["partner", "issue", "--batch", "b.jsonl", "--keys-out", "keys.jsonl", "--all-or-nothing", "--json"], { cwd: dir });
  assert.equal(none.exitCode, 3, none.stdout);
  await assert.rejects(stat(join(dir, "keys.jsonl")), { code: "ENOENT" });
  assert.deepEqual(await snapshot(join(dir, "pki")), before);

  const r = await mtls(["partner", "issue", "--batch", "b.jsonl", "--keys-out", "keys.jsonl", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 1, r.stdout);
  const byLine = Object.fromEntries(json(r).result.results.map((x: { line: number }) => [x.line, x]));
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((n) => byLine[n].ok),
    [true, true, true, true, false],
  );
  assert.equal((await stat(join(dir, "keys.jsonl"))).mode & 0o777, 0o600);
  assert.equal(byLine[1].keyPath, join(dir, "keys.jsonl"));
  assert.equal(byLine[4].keyPath, join(dir, "w3.key"), "a line's own outKey still gets its own file");
  assert.equal(byLine[2].keyPath, undefined, "a CSR line has no key");
  const bundle = (await readFile(join(dir, "keys.jsonl"), "utf8"))
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as { partner: string; serial: string; key: string; certificate: string; chain: string });
  assert.deepEqual(
    bundle.map((b) => [b.partner, b.serial]),
    [
      ["w-1", byLine[1].serial],
      ["w-2", byLine[3].serial],
    ],
  );
  for (const b of bundle) {
    const files = { key: join(dir, `${b.serial}.key`), cert: join(dir, `${b.serial}.crt`), chain: join(dir, `${b.serial}.chain`) };
    await writeFile(files.key, b.key, { mode: 0o600 });
    await writeFile(files.cert, b.certificate);
    await writeFile(files.chain, b.chain);
    const pub = await openssl(["x509", "-in", files.cert, "-noout", "-pubkey"]);
    assert.equal(pub.stdout, (await openssl(["pkey", "-in", files.key, "-pubout"])).stdout, `${b.partner}: key and certificate belong together`);
    const v = await openssl(["verify", "-purpose", "sslclient", "-CAfile", join(dir, "pki/ca/root.pem"), "-untrusted", files.chain, files.cert]);
    assert.equal(v.exitCode, 0, v.stderr);
    assert.equal((await mtls(["cert", "show", b.serial], { cwd: dir })).stdout, b.certificate);
  }
  await assert.rejects(stat(join(dir, "keys")), { code: "ENOENT" });
  // An existing file is never overwritten: refused before anything is issued.
  const indexBefore = await readFile(join(dir, "pki/index.jsonl"), "utf8");
  const again = await mtls(["partner", "issue", "--batch", "b.jsonl", "--keys-out", "keys.jsonl", "--json"], { cwd: dir });
  assert.equal(again.exitCode, 4);
  assert.equal(json(again).error?.code, "ERR_EXISTS");
  assert.equal(await readFile(join(dir, "pki/index.jsonl"), "utf8"), indexBefore);
});

test("#21 --batch: while someone is asked for the CA passphrase, no generated key is on disk yet", async (t) => {
  const dir = await initTempCa(t);
  const keyDir = join(dir, "keys");
  const text = Array.from({ length: 20 }, (_, i) => JSON.stringify({ partner: `p-${i}`, generate: true })).join("\n");
  let onDiskWhileAsked: string[] | undefined;
  // A prompt answers late, as a person does; a process killed meanwhile must leave no keys.
  const prompt = async () => {
    await new Promise((r) => setTimeout(r, 400));
    onDiskWhileAsked = await readdir(keyDir).catch(() => []);
    return PASSPHRASE;
  };
  const r = await issueBatch(await openPki(join(dir, "pki"), { actor: "test", passphrase: prompt }), { text, baseDir: dir, keyDir, allOrNothing: false });
  assert.equal(r.issued, 20);
  assert.deepEqual(onDiskWhileAsked, []);
  assert.equal((await readdir(keyDir)).length, 20);
});

test("#21 cert show prints only the certificate the index records for the serial, not what a planted pack entry holds", async (t) => {
  const dir = await initTempCa(t);
  const text = ["a", "b"].map((p) => JSON.stringify({ partner: p, generate: true })).join("\n");
  await writeFile(join(dir, "b.jsonl"), text);
  const r = json(await mtls(["partner", "issue", "--batch", "b.jsonl", "--keys-out", "k.jsonl", "--json"], { cwd: dir }));
  const [a, b] = r.result.results.map((x: { serial: string }) => x.serial) as [string, string];
  const bPem = (await mtls(["cert", "show", b], { cwd: dir })).stdout;
  // A pack that sorts first, claiming a's name with b's certificate.
  await writeFile(join(dir, "pki/certs/packs/0.pack"), `${JSON.stringify({ key: `certs/${a}.pem`, data: bPem })}\n`);
  const shown = await mtls(["cert", "show", a, "--json"], { cwd: dir });
  assert.equal(shown.exitCode, 5, shown.stdout);
  assert.equal(json(shown).error?.code, "ERR_CERT_MISMATCH");
  assert.doesNotMatch(shown.stdout, /BEGIN CERTIFICATE/);
});
