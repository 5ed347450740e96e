// #21: the index summary is a cache of index.jsonl; the journal stays the source of truth.
import assert from "node:assert/strict";
import { appendFile, lstat, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type CertRecord, readIndex, serializeIndex } from "../../src/core/store/index-file.js";
import { checkSummary, openIndexView, readIndexRows, summaryPath } from "../../src/core/store/index-summary.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-summary-"));
});
after(() => rm(dir, { recursive: true, force: true }));

const record = (serial: string, subject: string, extra: Partial<CertRecord> = {}): CertRecord => ({
  serial,
  partnerId: "acme",
  subject,
  sans: [],
  keyType: "ec-p256",
  notBefore: "2026-01-01T00:00:00Z",
  notAfter: "2027-01-01T00:00:00Z",
  issuedAt: "2026-01-01T00:00:00Z",
  fingerprint: `sha256:${serial}`,
  source: "csr",
  issuer: "intermediate",
  certPath: `certs/${serial}.pem`,
  status: "valid",
  ...extra,
});

/** The rows of a journal that is exactly serializeIndex(records): each line's place, and the fields list and status use. */
const rowsOf = (records: CertRecord[]) => {
  let at = 0;
  return records.map((r) => {
    const len = Buffer.byteLength(JSON.stringify(r));
    const row = {
      serial: r.serial,
      partnerId: r.partnerId,
      subject: r.subject,
      notAfter: r.notAfter,
      issuedAt: r.issuedAt,
      issuer: r.issuer,
      status: r.status,
      at,
      len,
      ...(r.kind === "server" ? { kind: "server" } : {}),
      ...(r.supersedes ? { supersedes: r.supersedes } : {}),
      ...(r.overlapUntil ? { overlapUntil: r.overlapUntil } : {}),
    };
    at += len + 1;
    return row;
  });
};

test("the summary is built from the journal, then read instead of it, and says the same", async () => {
  const index = join(dir, "a.jsonl");
  const records = [
    record("0a", "CN=plain"),
    record("0b", "CN=tab\there, O=new\nline, OU=100% %41"),
    record("0c", "CN=gw", { kind: "server", partnerId: "server:gw" }),
    record("0d", "CN=next", { supersedes: "0a", overlapUntil: "2026-02-01T00:00:00Z" }),
  ];
  await writeFile(index, serializeIndex(records));
  assert.deepEqual(await readIndexRows(index), rowsOf(records));
  assert.ok((await lstat(summaryPath(index))).isFile(), "the first reader writes the summary");
  assert.deepEqual(await readIndexRows(index), rowsOf(records), "read back from the summary");
  assert.equal(await checkSummary(index, await readIndex(index)), undefined);
});

test("an append (a revocation, an issue) makes the summary stale: readers see the journal's state", async () => {
  const index = join(dir, "b.jsonl");
  await writeFile(index, serializeIndex([record("01", "CN=a"), record("02", "CN=b")]));
  await readIndexRows(index);
  await appendFile(index, serializeIndex([record("01", "CN=a", { status: "revoked", revokedAt: "2026-06-01T00:00:00Z" }), record("03", "CN=c")]));
  const rows = await readIndexRows(index);
  assert.deepEqual(
    rows.map((r) => [r.serial, r.status]),
    [
      ["01", "revoked"],
      ["02", "valid"],
      ["03", "valid"],
    ],
  );
});

test("a summary that claims to match the journal but was edited is reported; a planted link is not followed", async () => {
  const index = join(dir, "c.jsonl");
  await writeFile(index, serializeIndex([record("01", "CN=a")]));
  await readIndexRows(index);
  const path = summaryPath(index);
  await writeFile(path, (await readFile(path, "utf8")).replace("\tv\t", "\tr\t"));
  assert.equal(await checkSummary(index, await readIndex(index)), "does not match index.jsonl");
  await rm(path);
  await writeFile(join(dir, "elsewhere"), "mtls-index-summary 2\tforged\t0\n");
  await symlink(join(dir, "elsewhere"), path);
  assert.deepEqual(await readIndexRows(index), rowsOf([record("01", "CN=a")]));
  assert.equal(await checkSummary(index, await readIndex(index)), undefined);
});

test("a damaged journal fails the same way with or without a summary", async () => {
  const index = join(dir, "d.jsonl");
  await writeFile(index, `${serializeIndex([record("01", "CN=a")])}{"serial":"zz"}\n`);
  await assert.rejects(readIndexRows(index), (e: Error) => e.name === "MtlsError");
  await assert.rejects(readIndex(index), (e: Error) => e.name === "MtlsError");
});

test("list --json's records are read from where the summary says, in the journal version it came from", async () => {
  const index = join(dir, "e.jsonl");
  const records = [record("01", "CN=a"), record("02", "CN=b")];
  await writeFile(index, serializeIndex(records));
  await readIndexRows(index);
  await appendFile(index, serializeIndex([record("01", "CN=a", { status: "revoked", revokedAt: "2026-06-01T00:00:00Z" })]));
  const view = await openIndexView(index);
  try {
    assert.deepEqual(
      view.rows.map((r) => view.record(r)),
      [record("01", "CN=a", { status: "revoked", revokedAt: "2026-06-01T00:00:00Z" }), record("02", "CN=b")],
    );
  } finally {
    view.close();
  }
});
