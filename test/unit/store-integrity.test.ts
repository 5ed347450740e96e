// #13, store integrity: the exact temporary-name shape doctor relies on, cleanup of a failed
// write, record validation and the quarantine of a damaged audit tail.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { MtlsError } from "../../src/core/errors.js";
import { readAuditLog, stageAudit } from "../../src/core/store/audit-file.js";
import { INTENT_FILE } from "../../src/core/store/commit-intent.js";
import { parseTempName, StoreWriter, writeFileAtomic } from "../../src/core/store/fs.js";
import { readIndexSnapshot } from "../../src/core/store/index-file.js";
import { layoutOf } from "../../src/core/store/layout.js";
import { readRevocations } from "../../src/core/store/revocations.js";

async function tmp(t: TestContext) {
  const d = await mkdtemp(join(tmpdir(), "mtls-unit-"));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

test("#13 only names in the exact shape mtls writes are temporaries", () => {
  assert.deepEqual(parseTempName(".index.jsonl.tmp-4242-0badc0de"), { target: "index.jsonl", tag: "tmp", pid: 4242 });
  assert.equal(parseTempName(".intermediate.crl.bak-7-abcdef01")?.tag, "bak");
  for (const name of [
    "pki.bak-20250101",
    "acme.bak-2.asc",
    ".config.json.bak-5",
    ".x.tmp-12-ABCDEF01",
    ".x.tmp-12-abcdef0",
    ".x.tmp-0-abcdef01",
    ".x.stale-12-abcdef01",
    "x.tmp-12-abcdef01",
    ".x.tmp-12-abcdef01.pem",
  ])
    assert.equal(parseTempName(name), undefined, name);
});

test("#13 a write that fails half-way (a full disk) leaves no temporary behind", async (t) => {
  const d = await tmp(t);
  // Data the write call rejects after the temporary was created, as ENOSPC does.
  await assert.rejects(writeFileAtomic(join(d, "crl.pem"), 42 as unknown as string), MtlsError);
  assert.deepEqual(await readdir(d), []);
  await assert.rejects(new StoreWriter({ root: d, path: join(d, INTENT_FILE) }).put(join(d, "state.json"), 42 as unknown as string).commit());
  assert.deepEqual(await readdir(d), []);
});

test("#13 records that are not what mtls writes are a damaged store naming file and line", async (t) => {
  const d = await tmp(t);
  const rev = { serial: "1a", issuer: "intermediate", revokedAt: "2026-01-01T00:00:00Z", reason: "unspecified", partnerId: "a" };
  for (const bad of ["null", "{}", "[]", "7", '{"serial":"zz"}', JSON.stringify({ ...rev, issuer: "other" })]) {
    await writeFile(join(d, "revocations.jsonl"), `${JSON.stringify(rev)}\n${bad}\n`);
    await assert.rejects(
      readRevocations(join(d, "revocations.jsonl")),
      (e: MtlsError) => e.exit === 5 && /revocations\.jsonl line 2 is damaged/.test(e.message),
      bad,
    );
    await writeFile(join(d, "index.jsonl"), `${bad}\n`);
    await assert.rejects(readIndexSnapshot(join(d, "index.jsonl")), (e: MtlsError) => e.exit === 5 && /index\.jsonl line 1 is damaged/.test(e.message), bad);
  }
});

test("#13 a damaged audit tail is moved to a quarantine file and the chain goes on from the last intact record", async (t) => {
  const d = await tmp(t);
  const layout = layoutOf(d);
  const now = new Date("2026-12-01T00:00:00Z");
  const append = async (action: "ca.init" | "crl.publish" = "crl.publish") => {
    const tx = new StoreWriter({ root: d, path: join(d, INTENT_FILE) });
    await stageAudit(tx, layout, [{ action, outcome: "ok" }], now);
    await tx.commit();
  };
  // A store's log begins with its ca.init record.
  await append("ca.init");
  await append();
  const intact = await readFile(layout.audit, "utf8");
  await writeFile(layout.audit, `${intact}garbage\nnull\n{"half":`);
  await append();
  const { records, verification } = await readAuditLog(layout.audit);
  assert.equal(verification.ok, true);
  assert.deepEqual(
    records.map((r) => r.action),
    ["ca.init", "crl.publish", "audit.quarantine", "crl.publish"],
  );
  const q = (await readdir(d)).filter((n) => n.startsWith("audit.log.quarantine-"));
  assert.equal(q.length, 1);
  assert.equal(await readFile(join(d, q[0] as string), "utf8"), 'garbage\nnull\n{"half":');
  assert.equal(records[2]?.details?.lines, "3-4");
});
