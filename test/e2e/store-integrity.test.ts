// #13, the store-integrity half: each reproduction of the issue, run against one shared CA
// (copied per test), failing before the fix.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmod, copyFile, cp, mkdir, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { BIN, baseEnv, json, mtls, PASSPHRASE, snapshot, tempDir } from "../helpers/run.js";
import { auditRevoked, cloneFixture, journalSerials, readCrl, sharedFixture } from "../helpers/store-fixture.js";

const fixture = sharedFixture(after);

const doctorChecks = async (dir: string) => {
  const r = await mtls(["doctor", "--json"], { cwd: dir });
  return { exitCode: r.exitCode, problems: json(r).result.problems as Array<{ check: string; message: string; fixable: boolean; path?: string }> };
};

test("#13 repro 1: doctor --fix never deletes a PKI whose path or partner id looks like a backup", async (t) => {
  const f = await fixture();
  const dir = await tempDir(t);
  const pki = join(dir, "backup/pki.bak-20250101");
  assert.equal((await mtls(["--pki", pki, "ca", "init", "--name", "Bak", "--insecure-no-passphrase"], { cwd: dir })).exitCode, 0);
  if (f.pgpKey) assert.equal((await mtls(["--pki", pki, "partner", "add", "acme.bak-2", "--pgp-key", f.pgpKey], { cwd: dir })).exitCode, 0);
  const before = await snapshot(pki);
  const fixed = await mtls(["--pki", pki, "doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  assert.deepEqual(await snapshot(pki), before, "a healthy store is left byte for byte as it was");

  // A temporary in the exact shape mtls writes, from a writer that is gone, is removed; a file
  // that only looks like one is reported and left.
  await writeFile(join(pki, ".index.jsonl.tmp-999999-0badc0de"), "half");
  await writeFile(join(pki, ".config.json.bak-5"), "mine");
  await writeFile(join(pki, "certs/notes.bak-20250101.txt"), "also mine");
  const r = await mtls(["--pki", pki, "doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 1, "the unexplained file keeps the store from being called healthy");
  const problems = json(r).result.problems as Array<{ message: string; fixed?: boolean }>;
  assert.ok(problems.some((p) => /\.index\.jsonl\.tmp-999999-0badc0de/.test(p.message) && p.fixed));
  assert.ok(problems.some((p) => /\.config\.json\.bak-5 looks like a temporary/.test(p.message) && !p.fixed));
  assert.equal(await readFile(join(pki, ".config.json.bak-5"), "utf8"), "mine");
  assert.equal(await readFile(join(pki, "certs/notes.bak-20250101.txt"), "utf8"), "also mine");
  await assert.rejects(stat(join(pki, ".index.jsonl.tmp-999999-0badc0de")));
  for (const [path, hash] of Object.entries(before))
    if (!path.startsWith("audit.log") && !path.startsWith("crl/")) assert.equal((await snapshot(pki))[path], hash, path);
});

test("#13 repro 2: a serial on a signed CRL stays revoked when a crash lost its journal line; doctor --fix re-journals it", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const before = await tempDir(t);
  await cp(join(dir, "pki"), before, { recursive: true });
  assert.equal((await mtls(["revoke", f.serials.alpha, "--yes"], { cwd: dir })).exitCode, 0);
  // The state a crash in the journal append leaves: new CRLs (store and publish dir), old journal and index.
  for (const name of ["revocations.jsonl", "index.jsonl", "audit.log"]) await copyFile(join(before, name), join(dir, "pki", name));
  assert.ok((await readCrl(join(dir, "pub/intermediate.crl")))?.serials.has(f.serials.alpha));

  const publish = await mtls(["crl", "publish", "--json"], { cwd: dir });
  assert.equal(publish.exitCode, 0, publish.stderr);
  assert.ok((await readCrl(join(dir, "pki/crl/intermediate.crl")))?.serials.has(f.serials.alpha), "crl publish keeps it");
  assert.ok((await readCrl(join(dir, "pub/intermediate.crl")))?.serials.has(f.serials.alpha));
  assert.ok((await journalSerials(dir)).has(f.serials.alpha), "and puts it back in the journal");

  // The same through doctor: a CRL says revoked, the journal does not.
  const dir2 = await cloneFixture(t, f);
  await cp(join(dir2, "pki"), before, { recursive: true, force: true });
  assert.equal((await mtls(["revoke", f.serials.beta, "--yes"], { cwd: dir2 })).exitCode, 0);
  for (const name of ["revocations.jsonl", "index.jsonl", "audit.log"]) await copyFile(join(before, name), join(dir2, "pki", name));
  const sick = await doctorChecks(dir2);
  assert.equal(sick.exitCode, 1);
  assert.ok(sick.problems.some((p) => p.check === "revocations" && p.message.includes(f.serials.beta)));
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir2 })).exitCode, 0);
  assert.equal((await mtls(["doctor"], { cwd: dir2 })).exitCode, 0);
  assert.ok((await readCrl(join(dir2, "pki/crl/intermediate.crl")))?.serials.has(f.serials.beta));
  assert.ok((await journalSerials(dir2)).has(f.serials.beta));
  const listed = json(await mtls(["list", "--json"], { cwd: dir2 })).result.certificates.find((c: { serial: string }) => c.serial === f.serials.beta);
  assert.equal(listed.status, "revoked");
});

test("#13 repro 2: a revocation only the audit log still records is put back by doctor --fix", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  // A journal that lost gamma's line (the audit log still says revoked), and CRLs from before it.
  const journal = (await readFile(join(dir, "pki/revocations.jsonl"), "utf8")).split("\n").filter((l) => l && !l.includes(f.serials.gamma));
  await writeFile(join(dir, "pki/revocations.jsonl"), `${journal.join("\n")}\n`);
  const index = (await readFile(join(dir, "pki/index.jsonl"), "utf8"))
    .split("\n")
    .filter((l) => l && !(l.includes(f.serials.gamma) && l.includes('"revoked"')));
  await writeFile(join(dir, "pki/index.jsonl"), `${index.join("\n")}\n`);
  assert.ok((await auditRevoked(dir)).has(f.serials.gamma));
  await rm(join(dir, "pki/crl/intermediate.crl"));
  await rm(join(dir, "pub/intermediate.crl"));
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 0);
  assert.ok((await readCrl(join(dir, "pki/crl/intermediate.crl")))?.serials.has(f.serials.gamma));
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("the canary's revocation a crash lost is put back as the canary's, as ca init recorded it, by doctor --fix and by crl publish", async (t) => {
  const f = await fixture();
  const lines = (await readFile(join(f.dir, "pki/revocations.jsonl"), "utf8")).split("\n").filter(Boolean);
  const canary = lines.find((l) => l.includes('"(canary)"')) as string;
  const recorded = JSON.parse(canary);
  const journalOf = async (dir: string) =>
    (await readFile(join(dir, "pki/revocations.jsonl"), "utf8"))
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  for (const mend of [
    ["doctor", "--fix"],
    ["crl", "publish"],
  ]) {
    const dir = await cloneFixture(t, f);
    // The journal without the canary's line; the CRLs (store and publish directory) still list it.
    await writeFile(join(dir, "pki/revocations.jsonl"), `${lines.filter((l) => l !== canary).join("\n")}\n`);
    const sick = await doctorChecks(dir);
    assert.ok(
      sick.problems.some(
        (p) =>
          p.message ===
          `${recorded.serial} ((canary)) is on a published CRL but not in the revocation journal (a crash before the journal append, or a damaged journal)`,
      ),
      sick.problems.map((p) => p.message).join("; "),
    );
    const r = await mtls(mend, { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
    const back = (await journalOf(dir)).filter((e) => e.serial === recorded.serial);
    assert.deepEqual(back, [recorded], mend.join(" "));
    assert.equal((await doctorChecks(dir)).exitCode, 0);
    const shown = json(await mtls(["crl", "show", "--json"], { cwd: dir })).result;
    assert.ok(JSON.stringify(shown).includes('"partnerId":"(canary)"'), JSON.stringify(shown));
  }
});

test("#13 repro 3: the publish directory never goes back to an older CRL; doctor and status compare it with the store", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const oldPub = await tempDir(t);
  await cp(join(dir, "pub"), oldPub, { recursive: true });
  assert.equal((await mtls(["revoke", f.serials.alpha, "--yes"], { cwd: dir })).exitCode, 0);
  const newer = await readCrl(join(dir, "pub/intermediate.crl"));
  // The race of the issue: an older CRL lands in the publish directory last.
  await cp(oldPub, join(dir, "pub"), { recursive: true, force: true });
  const sick = await doctorChecks(dir);
  assert.equal(sick.exitCode, 1);
  assert.ok(sick.problems.some((p) => p.check === "publish" && /older than the store/.test(p.message)));
  const status = await mtls(["status", "--json"], { cwd: dir });
  assert.equal(status.exitCode, 1);
  assert.ok(json(status).result.problems.some((p: { kind: string }) => p.kind === "crl-publish-stale"));
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 0);
  // A copy interrupted after the DER files: the bundle gateways load is still the old one.
  await copyFile(join(oldPub, "crl-bundle.pem"), join(dir, "pub/crl-bundle.pem"));
  const torn = await doctorChecks(dir);
  assert.ok(
    torn.problems.some((p) => p.check === "publish" && p.message.includes("crl-bundle.pem")),
    JSON.stringify(torn.problems),
  );
  const status2 = await mtls(["status", "--json"], { cwd: dir });
  assert.ok(
    json(status2).result.problems.some((p: { kind: string; message: string }) => p.kind === "crl-publish-stale" && p.message.includes("crl-bundle.pem")),
  );
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 0);
  const fixed = await readCrl(join(dir, "pub/intermediate.crl"));
  assert.ok(fixed && newer && fixed.number > newer.number && fixed.serials.has(f.serials.alpha));

  // A newer CRL in the publish directory is never replaced by an older one: the next number
  // continues from it, and its revocations stay listed.
  const dir2 = await cloneFixture(t, f);
  const storeBefore = await tempDir(t);
  await cp(join(dir2, "pki"), storeBefore, { recursive: true });
  assert.equal((await mtls(["revoke", f.serials.beta, "--yes"], { cwd: dir2 })).exitCode, 0);
  const published = await readCrl(join(dir2, "pub/intermediate.crl"));
  await rm(join(dir2, "pki"), { recursive: true });
  await cp(storeBefore, join(dir2, "pki"), { recursive: true }); // a store restored from before the revoke
  const r = await mtls(["crl", "publish", "--json"], { cwd: dir2 });
  assert.equal(r.exitCode, 0, r.stderr);
  const after2 = await readCrl(join(dir2, "pub/intermediate.crl"));
  assert.ok(after2 && published && after2.number > published.number, `CRL number ${after2?.number} after ${published?.number}`);
  assert.ok(after2.serials.has(f.serials.beta));
});

test("#13 repro 4: CRL numbers strictly increase across a lost state.json update and a damaged one", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const state = join(dir, "pki/crl/state.json");
  const numbers: number[] = [(await readCrl(join(dir, "pki/crl/intermediate.crl")))?.number ?? 0];
  const publish = async () => {
    const r = await mtls(["crl", "publish", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    numbers.push(json(r).result.crls[0].number);
  };
  const saved = await readFile(state, "utf8");
  await publish();
  await writeFile(state, saved); // a crash before state.json was renamed into place
  await publish();
  for (const damaged of ["garbage", "null", '{"intermediate":{"number":"x"}}', '{"intermediate":{"number":null}}', "{}"]) {
    await writeFile(state, damaged);
    if (damaged !== "{}") {
      const d = await doctorChecks(dir);
      assert.ok(
        d.problems.some((p) => p.check === "records" && p.message.includes("crl/state.json")),
        `doctor names state.json for ${damaged}`,
      );
    }
    await publish();
  }
  for (let i = 1; i < numbers.length; i++) assert.ok((numbers[i] as number) > (numbers[i - 1] as number), `CRL numbers ${numbers.join(", ")}`);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("#13 repro 9: a garbage audit tail never blocks revoke: it is moved to a quarantine file and the chain goes on", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const log = join(dir, "pki/audit.log");
  const lines = (await readFile(log, "utf8")).trimEnd().split("\n");
  await writeFile(log, `${[...lines.slice(0, -1), "garbage"].join("\n")}\n`);
  const d = await doctorChecks(dir);
  assert.ok(d.problems.some((p) => p.check === "audit" && p.fixable && /audit\.log lines/.test(p.message)));
  const r = await mtls(["revoke", f.serials.alpha, "--yes", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const quarantined = (await readdir(join(dir, "pki"))).filter((n) => n.startsWith("audit.log.quarantine-"));
  assert.equal(quarantined.length, 1);
  assert.equal(await readFile(join(dir, "pki", quarantined[0] as string), "utf8"), "garbage\n");
  const audit = json(await mtls(["audit", "--json"], { cwd: dir })).result;
  assert.equal(audit.verification.ok, true);
  assert.ok(audit.records.some((x: { action: string; details?: { file?: string } }) => x.action === "audit.quarantine" && x.details?.file === quarantined[0]));
  assert.ok(audit.records.some((x: { action: string; serial?: string }) => x.action === "cert.revoke" && x.serial === f.serials.alpha));
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);

  // The same damage repaired by doctor --fix instead.
  const dir2 = await cloneFixture(t, f);
  await writeFile(join(dir2, "pki/audit.log"), `${await readFile(join(dir2, "pki/audit.log"), "utf8")}{"seq":\n`);
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir2 })).exitCode, 0);
  assert.equal((await mtls(["audit", "verify"], { cwd: dir2 })).exitCode, 0);
});

test("#15: a torn last line of the audit log is a torn append doctor repairs (kept in a quarantine file), not a broken chain", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const log = join(dir, "pki/audit.log");
  const intact = await readFile(log, "utf8");
  await writeFile(log, `${intact}{"seq":99,"ti`);
  const d = await doctorChecks(dir);
  assert.deepEqual(
    d.problems.map((p) => [p.check, p.fixable]),
    [["journal", true]],
  );
  assert.equal((await mtls(["audit", "verify"], { cwd: dir })).exitCode, 0);
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  const q = (await readdir(join(dir, "pki"))).filter((n) => n.startsWith("audit.log.quarantine-"));
  assert.equal(q.length, 1);
  assert.equal(await readFile(join(dir, "pki", q[0] as string), "utf8"), '{"seq":99,"ti');
  assert.ok((await readFile(log, "utf8")).startsWith(intact));
  assert.equal((await mtls(["audit", "verify"], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("#13 repro 9: null, {} and broken lines in the index and journal are exit 5 naming file and line, never 70", async (t) => {
  const f = await fixture();
  for (const [file, bad] of [
    ["index.jsonl", "null"],
    ["index.jsonl", "{}"],
    ["revocations.jsonl", "null"],
    ["revocations.jsonl", "{}"],
  ] as const) {
    const dir = await cloneFixture(t, f);
    const path = join(dir, "pki", file);
    const lines = (await readFile(path, "utf8")).trimEnd().split("\n");
    await writeFile(path, `${[lines[0], bad, ...lines.slice(1)].join("\n")}\n`);
    // The commands that read the damaged file; `crl publish` builds CRLs from the journal alone.
    const readers =
      file === "index.jsonl"
        ? [["list"], ["status"], ["partner", "list"], ["revoke", f.serials.alpha, "--yes"]]
        : [["status"], ["crl", "publish"], ["revoke", f.serials.alpha, "--yes"]];
    for (const cmd of readers) {
      const r = await mtls([...cmd, "--json"], { cwd: dir });
      assert.equal(r.exitCode, 5, `${cmd.join(" ")} with ${bad} in ${file}: ${r.stdout}`);
      assert.match(json(r).error?.message ?? "", new RegExp(`${file.replace(".", "\\.")} line 2 is damaged`));
    }
    const d = await doctorChecks(dir);
    assert.equal(d.exitCode, 1);
    assert.ok(d.problems.some((p) => p.check === "records" && p.message.includes(`${file} line 2`)));
  }
});

test("#13 repro 9: doctor --fix quarantines a broken journal line and keeps every revocation a CRL shows", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const path = join(dir, "pki/revocations.jsonl");
  // gamma's line broken in the middle of the journal (the canary's line stays intact).
  const text = await readFile(path, "utf8");
  await writeFile(path, text.replace(`"serial":"${f.serials.gamma}"`, `"serial":"${f.serials.gamma}`));
  assert.equal((await mtls(["crl", "publish"], { cwd: dir })).exitCode, 5);
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
  assert.ok((await journalSerials(dir)).has(f.serials.gamma), "gamma is back in the journal (from the signed CRL)");
  assert.ok((await readCrl(join(dir, "pki/crl/intermediate.crl")))?.serials.has(f.serials.gamma));
  const q = (await readdir(join(dir, "pki"))).filter((n) => n.startsWith("revocations.jsonl.quarantine-"));
  assert.equal(q.length, 1);
  assert.equal((await mtls(["crl", "publish"], { cwd: dir })).exitCode, 0);
});

test("#13 repro 10: partner onboard is all or nothing: --days 500 exits 3 and writes nothing", async (t) => {
  const f = await fixture();
  if (!f.pgpKey) return t.skip("gpg is not installed");
  const dir = await cloneFixture(t, f);
  await makeCsr(dir, "delta");
  const before = await snapshot(join(dir, "pki"));
  const r = await mtls(["partner", "onboard", "delta", "--pgp-key", f.pgpKey, "--csr", "delta.csr", "--days", "500", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 3, r.stdout);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  assert.deepEqual(
    (await readdir(dir)).filter((n) => n.endsWith(".pgp")),
    [],
  );
  const ok = await mtls(["partner", "onboard", "delta", "--pgp-key", f.pgpKey, "--csr", "delta.csr", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stdout + ok.stderr);
  const audit = json(await mtls(["audit", "--partner", "delta", "--json"], { cwd: dir })).result.records.map((x: { action: string }) => x.action);
  assert.deepEqual(audit, ["partner.add", "cert.issue"]);
  const seqs = json(await mtls(["audit", "--partner", "delta", "--json"], { cwd: dir })).result.records.map((x: { seq: number }) => x.seq);
  assert.equal(seqs[1], seqs[0] + 1, "one commit");
  await stat(json(ok).result.bundlePath);
});

test("#13 repro 11: an empty or garbage lock from a dead writer is taken over at once; a 0-byte lock is never written", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  for (const content of ["", "garbage", "null"]) {
    await writeFile(join(dir, "pki/.lock"), content);
    // Dated in the future (a skewed clock), so waiting for it to age can never take it over:
    // only recognising it as no live writer's lock does.
    const future = new Date(Date.now() + 3600_000);
    await utimes(join(dir, "pki/.lock"), future, future);
    const r = await mtls(["crl", "publish", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    await assert.rejects(stat(join(dir, "pki/.lock")));
  }
});

test("#13 repro 11: a failed copy to the publish directory after a committed change is exit 0 with a warning", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  await rm(join(dir, "pub"), { recursive: true });
  await writeFile(join(dir, "pub"), "a file where the publish directory should be");
  const r = await mtls(["revoke", f.serials.alpha, "--yes", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  assert.ok(json(r).warnings.some((w) => /committed, but copying the CRLs/.test(w)));
  assert.ok((await readCrl(join(dir, "pki/crl/intermediate.crl")))?.serials.has(f.serials.alpha));
  const d = await doctorChecks(dir);
  assert.ok(d.problems.some((p) => p.check === "publish"));

  // Named as a file from the start, it is refused before anything is made: every copy would fail.
  const dir2 = await tempDir(t);
  await writeFile(join(dir2, "pub"), "not a directory");
  const init = await mtls(["ca", "init", "--name", "X", "--insecure-no-passphrase", "--crl-publish-dir", "pub", "--json"], { cwd: dir2 });
  assert.equal(init.exitCode, 2, init.stdout);
  assert.match(json(init).error?.message ?? "", /--crl-publish-dir \S+pub is not a directory/);
  assert.deepEqual(await readdir(dir2), ["pub"]);
});

test("#13 repro 11: doctor checks modes everywhere in the store, not only private/", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  await chmod(join(dir, "pki/index.jsonl"), 0o666);
  await chmod(join(dir, "pki/certs"), 0o777);
  await mkdir(join(dir, "pki/pgp"), { recursive: true });
  const d = await doctorChecks(dir);
  const modes = d.problems.filter((p) => p.check === "modes").map((p) => p.message);
  assert.ok(modes.some((m) => m.startsWith("index.jsonl is mode 666")));
  assert.ok(modes.some((m) => m.startsWith("certs is mode 777")));
  assert.equal((await mtls(["doctor", "--fix"], { cwd: dir })).exitCode, 0);
  assert.equal((await stat(join(dir, "pki/index.jsonl"))).mode & 0o777, 0o644);
  assert.equal((await stat(join(dir, "pki/certs"))).mode & 0o777, 0o755);
});

test("#13 repro 11: a full disk leaves no 0-byte temporary and no empty lock; the next command runs at once", async (t) => {
  const f = await fixture();
  if (spawnSync("unshare", ["-rm", "true"]).status !== 0) return t.skip("unprivileged user and mount namespaces are not available (unshare -rm)");
  const dir = await cloneFixture(t, f);
  const mnt = join(dir, "small-disk");
  await mkdir(mnt);
  // In a private mount namespace: a 1 MB tmpfs holding the PKI, filled up, with 0 or 1 page left.
  const script = `set -e
mount -t tmpfs -o size=1m tmpfs "$MNT"
cp -a "$DIR/pki" "$MNT/pki"
sed -i "s#$DIR/pub#$MNT/pub#" "$MNT/pki/config.json"
for free in 0 4096; do
  dd if=/dev/zero of="$MNT/fill" bs=4096 2>/dev/null || true
  [ "$free" = 0 ] || truncate -s -$free "$MNT/fill"
  set +e; node "$BIN" --pki "$MNT/pki" revoke "$SERIAL" --yes --json > "$DIR/out-$free.json"; echo $? > "$DIR/rc-$free"; set -e
  ls -A "$MNT/pki" "$MNT/pki/crl" > "$DIR/ls-$free"
  rm "$MNT/fill"
done
node "$BIN" --pki "$MNT/pki" revoke "$SERIAL" --yes --json > "$DIR/out-after.json"; echo $? > "$DIR/rc-after"
`;
  const r = spawnSync("unshare", ["-rm", "sh", "-c", script], {
    env: { ...baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }), MNT: mnt, DIR: dir, BIN, SERIAL: f.serials.alpha },
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  for (const free of ["0", "4096"]) {
    const rc = Number(await readFile(join(dir, `rc-${free}`), "utf8"));
    assert.equal(rc, 5, `${free} bytes free: ${await readFile(join(dir, `out-${free}.json`), "utf8")}`);
    assert.equal(json({ exitCode: rc, stdout: await readFile(join(dir, `out-${free}.json`), "utf8"), stderr: "" }).error?.code, "ERR_DISK_FULL");
    const listing = await readFile(join(dir, `ls-${free}`), "utf8");
    assert.doesNotMatch(listing, /\.tmp-|^\.lock/m, `${free} bytes free left:\n${listing}`);
  }
  assert.equal(Number(await readFile(join(dir, "rc-after"), "utf8")), 0, await readFile(join(dir, "out-after.json"), "utf8"));
});

test("an audit log deleted or emptied is a broken chain for audit verify and doctor, also after the next command starts it again", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  const log = join(dir, "pki/audit.log");
  const verify = async () => json(await mtls(["audit", "verify", "--json"], { cwd: dir }));
  assert.equal((await verify()).result.ok, true);
  await writeFile(log, "");
  const empty = await verify();
  assert.equal(empty.exitCode, 1);
  assert.match(empty.result.firstBad.reason, /log is empty/);
  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 1);
  assert.match(doctor.stdout, /deleted or emptied/);
  // The next command begins a new chain from nothing: its first record is not the store's ca.init.
  await rm(log);
  assert.equal((await mtls(["crl", "publish", "-q"], { cwd: dir })).exitCode, 0);
  const restarted = await verify();
  assert.equal(restarted.exitCode, 1);
  assert.match(restarted.result.firstBad.reason, /begins with crl\.publish, not the store's ca\.init record/);
});

test("an index entry edited in place but still well-formed (a date, the subject, SANs, key type, issuer, partner, a field name) is named by doctor", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  const index = join(dir, "pki/index.jsonl");
  const text = await readFile(index, "utf8");
  const first = JSON.parse(text.split("\n")[0] as string);
  for (const [field, value] of [
    ["notAfter", "2099-01-01T00:00:00Z"],
    ["subject", `${first.subject}x`],
    ["sans", [...first.sans, "dns:extra.example"]],
    ["keyType", "rsa-2048"],
    ["issuer", "intermediate-9"],
    ["partnerId", "nobody-registered"],
    ["sourcd", "csr"],
  ] as const) {
    await writeFile(index, text.replace(JSON.stringify(first), JSON.stringify({ ...first, [field]: value })));
    const doctor = await mtls(["doctor", "--json"], { cwd: dir });
    assert.equal(doctor.exitCode, 1, `${field}: ${doctor.stdout}`);
    const why =
      { sans: "SANs differ", issuer: 'issuer "intermediate-9" names no CA', partnerId: "partnerId names no partner", sourcd: 'unknown field "sourcd"' }[
        field as string
      ] ?? `${field} differs`;
    const messages = (JSON.parse(doctor.stdout).result.problems as Array<{ message: string }>).map((p) => p.message);
    assert.ok(
      messages.some((m) => m.includes(`does not match its entry in index.jsonl (${why}`)),
      `${field}: ${messages.join("; ")}`,
    );
  }
  await writeFile(index, text);
  assert.equal((await mtls(["doctor", "--json"], { cwd: dir })).exitCode, 0);
});

test("a journal, the audit log or the summary turned into a directory is named, never exit 70; a missing key in service is named by doctor", async (t) => {
  const f = await fixture();
  const cases: Array<[string, string[][], number]> = [
    [
      "audit.log",
      [
        ["crl", "publish"],
        ["revoke", f.serials.beta, "--yes"],
      ],
      5,
    ],
    ["index.jsonl", [["list"], ["status"], ["partner", "list"], ["doctor"]], 5],
  ];
  for (const [file, commands, code] of cases) {
    const dir = await cloneFixture(t, f);
    await rm(join(dir, "pki", file));
    await mkdir(join(dir, "pki", file));
    for (const cmd of commands) {
      const r = await mtls([...cmd, "--json"], { cwd: dir });
      assert.equal(r.exitCode, code, `${file}, ${cmd.join(" ")}: ${r.stdout}${r.stderr}`);
      assert.equal(json(r).error?.code, "ERR_IS_DIRECTORY", `${file}, ${cmd.join(" ")}`);
    }
  }
  // The summary is a cache: readers do without it, doctor names it and leaves the directory.
  const dir = await cloneFixture(t, f);
  const summary = join(dir, "pki/index.jsonl.summary");
  await rm(summary, { force: true });
  await mkdir(summary);
  for (const cmd of [["list"], ["partner", "list"]]) assert.equal((await mtls([...cmd, "--json"], { cwd: dir })).exitCode, 0, cmd.join(" "));
  for (const cmd of [["doctor"], ["doctor", "--fix"]]) {
    const doctor = await mtls([...cmd, "--json"], { cwd: dir });
    assert.equal(doctor.exitCode, 1, doctor.stdout);
    assert.match(doctor.stdout, /index\.jsonl\.summary is not a file: move it away/);
  }
  assert.ok((await stat(summary)).isDirectory());
  // A CA key or the canary's deleted: the next signing command would fail; doctor says so first.
  for (const key of ["private/intermediate.key", "private/root.key", "private/canary.key"]) {
    const d = await cloneFixture(t, f);
    await rm(join(d, "pki", key));
    const problems = (await doctorChecks(d)).problems.map((p) => p.message);
    assert.ok(problems.includes(`${key} is missing`), `${key}: ${problems.join("; ")}`);
  }
});

test("a revocation edited in place but still well-formed (whose certificate, the reason) is named by doctor, never published as code 0", async (t) => {
  const f = await fixture();
  const dir = await cloneFixture(t, f);
  const path = join(dir, "pki/revocations.jsonl");
  const text = await readFile(path, "utf8");
  const gamma = `"serial":"${f.serials.gamma}"`;
  const line = text.split("\n").find((l) => l.includes(gamma)) as string;
  const edited = (from: RegExp, to: string) => text.replace(line, line.replace(from, to));
  await writeFile(path, edited(/"partnerId":"[^"]*"/, '"partnerId":"alpha"'));
  let messages = (await doctorChecks(dir)).problems.map((p) => p.message);
  assert.ok(
    messages.includes(`the revocation of ${f.serials.gamma} in revocations.jsonl names "alpha", but the certificate is "gamma"'s in index.jsonl`),
    messages.join("; "),
  );
  const canary = text.split("\n").find((l) => l.includes('"(canary)"')) as string;
  await writeFile(path, text.replace(canary, canary.replace('"(canary)"', '"beta"')));
  messages = (await doctorChecks(dir)).problems.map((p) => p.message);
  assert.ok(
    messages.some((m) => /the revocation of [0-9a-f]+ in revocations\.jsonl names "beta", but the certificate is the canary/.test(m)),
    messages.join("; "),
  );
  await writeFile(path, edited(/"reason":"[^"]*"/, '"reason":"keyCompromize"'));
  const doctor = await doctorChecks(dir);
  assert.ok(
    doctor.problems.some((p) => p.message.includes('line 2 is damaged: "reason" is not a revocation reason')),
    doctor.problems.map((p) => p.message).join("; "),
  );
  const publish = await mtls(["crl", "publish", "--json"], { cwd: dir });
  assert.equal(publish.exitCode, 5, publish.stdout);
  await writeFile(path, text);
  assert.equal((await doctorChecks(dir)).exitCode, 0);
});

test("config.json edited but still JSON (a setting misspelt, missing or of another kind, a canary serial that is not the canary's) is named, never taken for unset", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  const path = join(dir, "pki/config.json");
  const text = await readFile(path, "utf8");
  const config = JSON.parse(text);
  const rename = (o: Record<string, unknown>, from: string, to: string) => {
    o[to] = o[from];
    delete o[from];
  };
  const edits: Array<[string, (c: typeof config) => void, RegExp]> = [
    // Each of these was read as "not set" before: no CRL copies, no expiring partners, no revoked probe.
    ["publishDir misspelt", (c) => rename(c.crl, "publishDir", "publishDr"), /crl\.publishDr is not a setting mtls writes/],
    [
      "warnDays missing",
      (c) => {
        delete c.policy.warnDays;
      },
      /policy\.warnDays is missing/,
    ],
    ["canary misspelt", (c) => rename(c, "canary", "canery"), /canery is not a setting/],
    [
      "a key type mtls does not make",
      (c) => {
        c.ca.keyType = "ec-p25d";
      },
      /ca\.keyType is not one of ec-p256/,
    ],
    [
      "a fraction of a day",
      (c) => {
        c.policy.maxDays = 398.5;
      },
      /policy\.maxDays is not a whole number of days/,
    ],
    [
      "a default above the maximum",
      (c) => {
        c.policy.defaultDays = 400;
      },
      /policy\.defaultDays exceeds policy\.maxDays/,
    ],
    [
      "a URL with a space",
      (c) => {
        c.ca.crlUrl = "http://pki.example/crl list";
      },
      /ca\.crlUrl is not an http\(s\) URL/,
    ],
    [
      "an impossible date",
      (c) => {
        c.canary.revokedAt = "2026-02-30T00:00:00Z";
      },
      /canary\.revokedAt is not a time/,
    ],
  ];
  for (const [what, edit, message] of edits) {
    const c = structuredClone(config);
    edit(c);
    await writeFile(path, `${JSON.stringify(c, null, 2)}\n`);
    for (const cmd of [["doctor"], ["list"], ["status"]]) {
      const r = await mtls([...cmd, "--json"], { cwd: dir });
      assert.equal(r.exitCode, 5, `${what}, ${cmd[0]}: ${r.stdout}${r.stderr}`);
      const error = json(r).error ?? { code: "", message: "" };
      assert.equal(error.code, "ERR_STORE_CORRUPT", what);
      assert.match(error.message, message, what);
      assert.ok(error.message.includes(path), what);
    }
  }
  const c = structuredClone(config);
  c.canary.serial = c.canary.serial.replace(/^./, (d: string) => (d === "f" ? "e" : "f"));
  await writeFile(path, `${JSON.stringify(c, null, 2)}\n`);
  const messages = (await doctorChecks(dir)).problems.map((p) => p.message);
  assert.ok(
    messages.some((m) => m === `config.json names canary serial ${c.canary.serial}, but ca/canary.pem holds serial ${config.canary.serial}`),
    messages.join("; "),
  );
  // A URL an earlier release stored as typed is read; only a gateway config refuses to carry it.
  await writeFile(path, `${JSON.stringify({ ...config, ca: { ...config.ca, ocspUrl: "HTTP://pki.example/ocsp;x" } }, null, 2)}\n`);
  assert.equal((await mtls(["list", "--json"], { cwd: dir })).exitCode, 0);
  const gateway = await mtls(["gateway", "config", "nginx", "--partner", "alpha", "--json"], { cwd: dir });
  assert.equal(gateway.exitCode, 2, gateway.stdout);
  assert.match(json(gateway).error?.message ?? "", /OCSP URL .*cannot be written into a gateway config/);
  assert.equal((await mtls(["ca", "policy", "set", "--ocsp-url", "http://pki.example/ocsp", "--json"], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["gateway", "config", "nginx", "--partner", "alpha", "--json"], { cwd: dir })).exitCode, 0);
  // Nor does ca policy set write what the check refuses: an empty publish directory is no directory.
  const before = await readFile(path, "utf8");
  const empty = await mtls(["ca", "policy", "set", "--crl-publish-dir", "", "--json"], { cwd: dir });
  assert.equal(empty.exitCode, 2, empty.stdout);
  assert.equal(await readFile(path, "utf8"), before);
  // Whitespace and key order are not damage.
  await writeFile(path, JSON.stringify(Object.fromEntries(Object.entries(config).reverse()), null, "\t"));
  assert.equal((await mtls(["doctor", "--json"], { cwd: dir })).exitCode, 0);
});

test("a superseded index line edited in place, or a time no longer ISO 8601, is named by doctor though the last line wins", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  const index = join(dir, "pki/index.jsonl");
  const text = await readFile(index, "utf8");
  const lines = text.split("\n");
  const revokedSerial = JSON.parse(lines.find((l) => l.includes('"revoked"')) as string).serial;
  const at = lines.findIndex((l) => l.includes(revokedSerial));
  const last = lines.findLastIndex((l) => l.includes(revokedSerial));
  const superseded = JSON.parse(lines[at] as string);
  const edited = [...lines];
  edited[at] = JSON.stringify({ ...superseded, partnerId: "alpha" });
  await writeFile(index, edited.join("\n"));
  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 1, doctor.stdout);
  const messages = (JSON.parse(doctor.stdout).result.problems as Array<{ message: string }>).map((p) => p.message);
  assert.ok(
    messages.some((m) => m.includes(`line ${last + 1} and an earlier line for serial ${revokedSerial} disagree on its partnerId`)),
    messages.join("; "),
  );
  // A byte that Date.parse forgives: the index is damaged, named with its line.
  const damaged = [...lines];
  damaged[last] = (lines[last] as string).replace(/"revokedAt":"(\d{4}-\d\d)-/, '"revokedAt":"$1\u0001');
  await writeFile(index, damaged.join("\n"));
  const bad = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(bad.exitCode, 1, bad.stdout);
  assert.match(bad.stdout, new RegExp(`index\\.jsonl line ${last + 1}`));
  assert.equal((await mtls(["list", "--json"], { cwd: dir })).exitCode, 5);
});

test("doctor accepts what mtls issued: an RSA key of any accepted size, a server address typed in a long form (as recorded then and now)", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  await makeCsr(dir, "wide", { key: "rsa2560" });
  const wide = await mtls(["partner", "issue", "wide", "--csr", "wide.csr", "--json"], { cwd: dir });
  assert.equal(wide.exitCode, 0, wide.stdout);
  assert.equal(json(wide).result.keyType, "rsa-2560");
  const gw = await mtls(["server", "issue", "gw", "--ip", "2001:DB8:0:0::1", "--dns", "gw.example", "--out", "gw.pem", "--out-key", "gw.key", "--json"], {
    cwd: dir,
  });
  assert.equal(gw.exitCode, 0, gw.stdout);
  const index = join(dir, "pki/index.jsonl");
  const line = (await readFile(index, "utf8")).split("\n").find((l) => l.includes('"server:gw"')) as string;
  assert.ok(JSON.parse(line).sans.includes("ip:2001:db8::1"), "recorded as the certificate carries it");
  const clean = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(clean.exitCode, 0, clean.stdout);
  // A store from before: the address kept as typed.
  await writeFile(index, (await readFile(index, "utf8")).replace(line, line.replace("ip:2001:db8::1", "ip:2001:DB8:0:0::1")));
  const older = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(older.exitCode, 0, older.stdout);
});

test("a FIFO planted in the publish directory as a CRL hangs no command: status and doctor report it", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  const crl = join(dir, "pub/intermediate.crl");
  await rm(crl);
  assert.equal(spawnSync("mkfifo", [crl]).status, 0);
  const status = await mtls(["status", "--json"], { cwd: dir, timeoutMs: 20_000 });
  assert.equal(status.exitCode, 1, status.stdout + status.stderr);
  assert.match(status.stdout, /intermediate\.crl in the publish directory is not a regular file/);
  const doctor = await mtls(["doctor", "--json"], { cwd: dir, timeoutMs: 20_000 });
  assert.equal(doctor.exitCode, 1, doctor.stdout + doctor.stderr);
  assert.match(doctor.stdout, /intermediate\.crl/);
});

test("a partner record filed under another name or with a damaged time is a damaged partners.json, named by doctor; no command exits 70", async (t) => {
  const dir = await cloneFixture(t, await fixture());
  const path = join(dir, "pki/partners.json");
  const text = await readFile(path, "utf8");
  for (const [what, damaged, why] of [
    ["id", text.replace('"id": "alpha"', '"id": "al<ha"'), '\\"id\\" is \\"al<ha\\", not its key'],
    ["createdAt", text.replace(/"createdAt": "(\d{4})-/, '"createdAt": "$1x'), '\\"createdAt\\" is not a time'],
  ] as const) {
    assert.notEqual(damaged, text, what);
    await writeFile(path, damaged);
    const doctor = await mtls(["doctor", "--json"], { cwd: dir });
    assert.equal(doctor.exitCode, 1, `${what}: ${doctor.stdout}`);
    assert.ok(doctor.stdout.includes("partners.json") && doctor.stdout.includes(why), `${what}: ${doctor.stdout}`);
    const list = await mtls(["partner", "list", "--json"], { cwd: dir });
    assert.equal(list.exitCode, 5, `${what}: ${list.stdout}`);
  }
  await writeFile(path, text);
  assert.equal((await mtls(["doctor", "--json"], { cwd: dir })).exitCode, 0);
});
