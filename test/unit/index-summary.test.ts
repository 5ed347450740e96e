// #21: the index summary is a cache of index.jsonl; the journal stays the source of truth.
import assert from "node:assert/strict";
import { closeSync } from "node:fs";
import { appendFile, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type CertRecord, readIndex, serializeIndex } from "../../src/core/store/index-file.js";
import { cellTextOf, checkSummary, type IndexView, openIndexView, stampOf, summaryInMemory, summaryPath } from "../../src/core/store/index-summary.js";
import { extendSummary } from "../../src/core/store/summary-extend.js";
import { certRecord } from "../helpers/records.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-summary-"));
});
after(() => rm(dir, { recursive: true, force: true }));

const record = (serial: string, subject: string, extra: Partial<CertRecord> = {}): CertRecord =>
  certRecord(serial, {
    partnerId: "acme",
    subject,
    notBefore: "2026-01-01T00:00:00Z",
    notAfter: "2027-01-01T00:00:00Z",
    issuedAt: "2026-01-01T00:00:00Z",
    ...extra,
  });

/** What the view says of each row: serial (first cell), partner, flags, notAfter. */
const shown = (v: IndexView) => {
  const cells = v.cells();
  return Array.from({ length: v.count }, (_, i) => [cellTextOf(cells, i, 0), v.partners[v.partnerOf[i] as number], v.flags[i], v.notAfterMs[i]]);
};

const read = async (index: string) => {
  const v = await openIndexView(index);
  try {
    return shown(v);
  } finally {
    v.close();
  }
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
  const want = records.map((r) => [r.serial, r.partnerId, (r.kind === "server" ? 2 : 0) | 0, Date.parse(r.notAfter)]);
  assert.deepEqual(await read(index), want);
  assert.ok((await lstat(summaryPath(index))).isFile(), "the first reader writes the summary");
  const before = await readFile(summaryPath(index));
  assert.deepEqual(await read(index), want, "read back from the summary");
  assert.ok(before.equals(await readFile(summaryPath(index))), "and not rewritten");
  assert.equal(await checkSummary(index), undefined);
  const v = await openIndexView(index);
  v.close();
  assert.deepEqual(
    v.statusRows.map((r) => [r.serial, r.subject, r.kind, r.supersedes]),
    records.map((r) => [r.serial, r.subject, r.kind, r.supersedes]),
    "a partner that rotated is judged by all its rows",
  );
});

test("an append (a revocation, an issue) makes the summary stale: readers see the journal's state", async () => {
  const index = join(dir, "b.jsonl");
  await writeFile(index, serializeIndex([record("01", "CN=a"), record("02", "CN=b")]));
  await read(index);
  await appendFile(index, serializeIndex([record("01", "CN=a", { status: "revoked", revokedAt: "2026-06-01T00:00:00Z" }), record("03", "CN=c")]));
  assert.deepEqual(
    (await read(index)).map((r) => [r[0], r[2]]),
    [
      ["01", 1],
      ["02", 0],
      ["03", 0],
    ],
  );
});

test("a summary that claims to match the journal but was edited is reported; a planted link is not followed", async () => {
  const index = join(dir, "c.jsonl");
  await writeFile(index, serializeIndex([record("01", "CN=a")]));
  await read(index);
  const path = summaryPath(index);
  await writeFile(path, Buffer.from((await readFile(path)).toString("latin1").replaceAll("CN=a", "CN=b"), "latin1"));
  assert.equal(await checkSummary(index), "does not match index.jsonl");
  await writeFile(path, (await readFile(path)).subarray(0, 100));
  assert.equal(await checkSummary(index), "is not an index summary mtls wrote");
  assert.deepEqual((await read(index))[0]?.[0], "01", "a damaged summary is rebuilt, never read");
  await rm(path);
  await writeFile(join(dir, "elsewhere"), "mtls-index-summary 2\tforged\t0\n");
  await symlink(join(dir, "elsewhere"), path);
  assert.deepEqual((await read(index))[0]?.[0], "01");
  assert.equal(await checkSummary(index), undefined);
  await rm(path);
  await writeFile(path, "mtls-index-summary 2\tforged\t0\n");
  assert.equal(await checkSummary(index), undefined, "another format version is only stale");
  await writeFile(path, `{"a later format's texts first"}\n${"mtls-index-summary 9\tforged".padEnd(511)}\n`);
  assert.equal(await checkSummary(index), undefined, "so is one with its trailer last");
});

test("a damaged journal fails the same way with or without a summary", async () => {
  const index = join(dir, "d.jsonl");
  await writeFile(index, `${serializeIndex([record("01", "CN=a")])}{"serial":"zz"}\n`);
  await assert.rejects(openIndexView(index), (e: Error) => e.name === "MtlsError");
  await assert.rejects(readIndex(index), (e: Error) => e.name === "MtlsError");
});

test("new certificates appended to the journal extend the summary, byte for byte what a rebuild writes; anything else is rebuilt", async () => {
  const index = join(dir, "f.jsonl");
  await writeFile(
    index,
    serializeIndex([record("01", "CN=a"), record("02", "CN=tab\there"), record("03", "CN=gw", { kind: "server", partnerId: "server:gw" })]),
  );
  await read(index);
  const path = summaryPath(index);
  const extend = async () => {
    const journal = await readFile(index);
    const st = await stat(index);
    const tmp = join(dir, `ext-${Math.random()}`);
    const fd = extendSummary(path, tmp, journal, index, st, stampOf(st));
    if (fd === undefined) return undefined;
    closeSync(fd);
    const bytes = await readFile(tmp);
    await rm(tmp);
    return { bytes, rebuilt: summaryInMemory(journal, index, stampOf(st)) };
  };
  await appendFile(index, serializeIndex([record("04", "CN=d"), record("05", "CN=e", { partnerId: "beta" })]));
  const grown = await extend();
  assert.ok(grown, "extended");
  assert.ok(grown.bytes.equals(grown.rebuilt), "the same bytes as a rebuild");
  assert.deepEqual(
    (await read(index)).map((r) => r[0]),
    ["01", "02", "03", "04", "05"],
  );
  assert.equal(await checkSummary(index), undefined);
  await appendFile(index, serializeIndex([record("02", "CN=tab\there", { status: "revoked", revokedAt: "2026-06-01T00:00:00Z" })]));
  const revoked = await extend();
  assert.ok(revoked?.bytes.equals(revoked.rebuilt), "a revocation revises its row: the same bytes as a rebuild");
  assert.deepEqual(
    (await read(index)).map((r) => [r[0], r[2]]),
    [
      ["01", 0],
      ["02", 1],
      ["03", 2],
      ["04", 0],
      ["05", 0],
    ],
  );
  await appendFile(index, serializeIndex([record("06", "CN=a subject wider than any before it")]));
  assert.equal(await extend(), undefined, "a wider cell pads every row anew: rebuilt");
  await read(index);
  await appendFile(index, serializeIndex([record("07", "CN=g", { supersedes: "01" })]));
  assert.equal(await extend(), undefined, "a rotation: rebuilt");
  await read(index);
  const text = await readFile(index, "latin1");
  await writeFile(index, text.replace('"CN=a"', '"CN=z"'), { flag: "r+" });
  await appendFile(index, serializeIndex([record("08", "CN=h")]));
  assert.equal(await extend(), undefined, "the covered lines changed: rebuilt");
  assert.equal((await read(index)).length, 8);
  assert.equal(await checkSummary(index), undefined);
});

test("a directory where the summary belongs: every read is the journal's, no descriptor is left open, doctor's check names it", async () => {
  const index = join(dir, "dir-summary.jsonl");
  const records = [record("0a", "CN=a"), record("0b", "CN=b")];
  await writeFile(index, serializeIndex(records));
  const want = await read(index);
  await rm(summaryPath(index));
  await mkdir(summaryPath(index));
  const open = async () => (await readdir("/proc/self/fd")).length;
  const before = await open();
  for (let i = 0; i < 20; i++) assert.deepEqual(await read(index), want);
  // Each read builds a summary it cannot name, and reads what it built (the extension's attempt
  // on the directory included) without leaving a descriptor behind.
  assert.equal(await open(), before);
  assert.match((await checkSummary(index)) ?? "", /is not a file/);
  assert.ok((await stat(summaryPath(index))).isDirectory());
});

test("a journal that lost records the summary holds is damage, and that summary stays; one rewritten without losing any is not", async () => {
  const index = join(dir, "damage", "index.jsonl");
  await mkdir(join(dir, "damage"));
  const records = [record("a1", "CN=a"), record("b2", "CN=b"), record("c3", "CN=c")];
  const full = serializeIndex([...records, { ...(records[0] as CertRecord), status: "revoked" }]);
  await writeFile(index, full);
  (await openIndexView(index)).close();
  const summary = await readFile(summaryPath(index));

  // Cut after its second line: c3 gone, a1's revocation gone. The summary is left as it was.
  await writeFile(index, serializeIndex(records.slice(0, 2)));
  const view = await openIndexView(index);
  view.close();
  assert.deepEqual(
    view.damage?.lost.map((l) => [l.serial, l.revoked]),
    [
      ["a1", true],
      ["c3", false],
    ],
  );
  assert.equal(view.damage?.covered, Buffer.byteLength(full));
  assert.equal(view.count, 2, "the view is of what is left");
  assert.ok((await readFile(summaryPath(index))).equals(summary), "the evidence is kept");

  // Compacted (every record, its last line): shorter, other bytes, nothing lost: rebuilt as before.
  await writeFile(index, serializeIndex([{ ...(records[0] as CertRecord), status: "revoked" }, ...records.slice(1)]));
  const compacted = await openIndexView(index);
  compacted.close();
  assert.equal(compacted.damage, undefined);
  assert.ok(!(await readFile(summaryPath(index))).equals(summary), "rebuilt");
  assert.equal(await checkSummary(index), undefined);
});
