// #21: a revocation revises the summary's row where it is instead of rebuilding the summary. The
// oracle is the rebuild: after every round of revocations and new certificates, the extended
// summary must be byte for byte the one built from the journal, whichever choices of the status
// rows the revocations touch (a partner's newest, newest unrevoked, latest issued or first
// certificate, an issuer's last unrevoked one, a gateway's server certificate).
import assert from "node:assert/strict";
import { closeSync } from "node:fs";
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type CertRecord, serializeIndex } from "../../src/core/store/index-file.js";
import { checkSummary, openIndexView, stampOf, summaryInMemory, summaryPath } from "../../src/core/store/index-summary.js";
import { extendSummary } from "../../src/core/store/summary-extend.js";
import { certRecord } from "../helpers/records.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-revise-"));
});
after(() => rm(dir, { recursive: true, force: true }));

let seed = 21;
const rand = (n: number) => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed % n;
};
const day = (d: number) => new Date(Date.UTC(2026, 0, 1) + d * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z");
let serials = 0;

/** A certificate of one of a few partners and two issuers, some gateways'; times that tie now and then. */
function randomRecord(): CertRecord {
  const serial = (++serials).toString(16).padStart(4, "0");
  const server = rand(12) === 0;
  const issued = rand(300);
  return certRecord(serial, {
    partnerId: server ? `server:gw${rand(2)}` : `p${rand(6)}`,
    subject: `CN=w${serial}`,
    notBefore: day(issued),
    notAfter: day(issued + 30 + rand(4) * 30),
    issuedAt: day(issued),
    issuer: rand(5) === 0 ? "intermediate-2" : "intermediate",
    ...(server ? { kind: "server" as const } : {}),
  });
}

const revoked = (r: CertRecord, at: number): CertRecord => ({ ...r, status: "revoked", revokedAt: day(at), revocationReason: "keyCompromise" });

/** Whether the summary at `index` can be extended to its journal now, and the extension is byte for byte a rebuild. */
async function extends_(index: string): Promise<boolean> {
  const journal = await readFile(index);
  const st = await stat(index);
  const tmp = join(dir, `ext-${++serials}`);
  const fd = extendSummary(summaryPath(index), tmp, journal, index, st, stampOf(st));
  if (fd === undefined) return false;
  closeSync(fd);
  const bytes = await readFile(tmp);
  await rm(tmp);
  assert.ok(bytes.equals(summaryInMemory(journal, index, stampOf(st))), "the extension is the rebuild, byte for byte");
  return true;
}

/** Reads the index (which keeps the extended or rebuilt summary) and has doctor's check compare it with a rebuild. */
async function readAndCheck(index: string): Promise<void> {
  (await openIndexView(index)).close();
  assert.equal(await checkSummary(index), undefined);
}

test("revocations extend the summary, byte for byte a rebuild, whichever status rows they touch", async () => {
  const index = join(dir, "random.jsonl");
  const live = Array.from({ length: 120 }, randomRecord);
  await writeFile(index, serializeIndex(live));
  await readAndCheck(index);
  let extended = 0;
  for (let round = 0; round < 60; round++) {
    const lines: CertRecord[] = [];
    // One to three revocations of unrevoked certificates, and sometimes new certificates.
    for (let k = 1 + rand(3); k > 0; k--) {
      const candidates = live.filter((r) => r.status !== "revoked" && !lines.some((l) => l.serial === r.serial));
      const r = candidates[rand(candidates.length)] as CertRecord;
      const i = live.indexOf(r);
      live[i] = revoked(r, 300 + round);
      lines.push(live[i] as CertRecord);
    }
    if (rand(3) === 0) for (let k = rand(3); k >= 0; k--) lines.push(randomRecord());
    for (const l of lines) if (!live.some((r) => r.serial === l.serial)) live.push(l);
    await appendFile(index, serializeIndex(lines));
    if (await extends_(index)) extended++;
    await readAndCheck(index);
  }
  // Most rounds extend; a revocation that takes an issuer's last unrevoked certificate, with its
  // next one farther than the search goes, would be rebuilt (none is, at 120 certificates).
  assert.equal(extended, 60, "every round extended");
});

test("the partner dated by its first certificate, its newest and an issuer's last: revoked, each is chosen again as a rebuild would", async () => {
  const index = join(dir, "choices.jsonl");
  const r = (serial: string, f: Partial<CertRecord>) =>
    certRecord(serial, { partnerId: "acme", subject: `CN=${serial}`, notBefore: day(0), notAfter: day(100), issuedAt: day(0), ...f });
  const records = [
    r("a1", { issuedAt: day(1), notAfter: day(50) }),
    r("a2", { issuedAt: day(2), notAfter: day(400) }),
    r("a3", { issuedAt: day(3), notAfter: day(200) }),
    r("b1", { partnerId: "beta", issuedAt: day(4), notAfter: day(300), issuer: "intermediate-2" }),
    r("b2", { partnerId: "beta", issuedAt: day(5), notAfter: day(250), issuer: "intermediate-2" }),
    r("e1", { partnerId: "server:gw", kind: "server", issuedAt: day(6), notAfter: day(90) }),
    // gamma's second certificate is none of its choices (not its first, newest or latest issued),
    // and after a2, b1 and b2 the next unrevoked one of its issuer, which only a search finds.
    r("c0", { partnerId: "gamma", issuedAt: day(7), notAfter: day(100), issuer: "intermediate-2" }),
    r("c1", { partnerId: "gamma", issuedAt: day(8), notAfter: day(240), issuer: "intermediate-2" }),
    r("c2", { partnerId: "gamma", issuedAt: day(9), notAfter: day(350) }),
  ];
  await writeFile(index, serializeIndex(records));
  await readAndCheck(index);
  // acme's newest (and the issuer's last), beta's newest and its issuer's last, the first, a gateway's.
  for (const serial of ["a2", "b1", "a1", "e1", "b2", "a3"]) {
    await appendFile(index, serializeIndex([revoked(records.find((x) => x.serial === serial) as CertRecord, 10)]));
    assert.ok(await extends_(index), serial);
    await readAndCheck(index);
  }
});

test("ties: an issuer's last is the first of its latest in issue order, and so is the next one a search finds", async () => {
  const index = join(dir, "ties.jsonl");
  const r = (serial: string, partnerId: string, issued: number, notAfter: number, issuer = "intermediate") =>
    certRecord(serial, { partnerId, subject: `CN=${serial}`, notBefore: day(0), notAfter: day(notAfter), issuedAt: day(issued), issuer });
  // d1, e3 and f3 end on the same day under intermediate-3: d1 is its last, then e3 (none of
  // eps's choices), though f3 (phi's only certificate) is a status row already.
  const records = [
    r("d0", "delta", 1, 10),
    r("d1", "delta", 2, 500, "intermediate-3"),
    r("d2", "delta", 3, 600),
    r("e0", "eps", 4, 10),
    r("e3", "eps", 5, 500, "intermediate-3"),
    r("e4", "eps", 6, 600),
    r("f3", "phi", 7, 500, "intermediate-3"),
  ];
  await writeFile(index, serializeIndex(records));
  await readAndCheck(index);
  for (const serial of ["d1", "e3"]) {
    await appendFile(index, serializeIndex([revoked(records.find((x) => x.serial === serial) as CertRecord, 20)]));
    assert.ok(await extends_(index), serial);
    await readAndCheck(index);
  }
});

test("anything but the revocation of an unrevoked certificate with nothing else changed is rebuilt", async () => {
  const index = join(dir, "others.jsonl");
  const records = Array.from({ length: 8 }, randomRecord).map((x) => ({ ...x, kind: undefined, partnerId: "acme" }) as CertRecord);
  await writeFile(index, serializeIndex(records));
  await readAndCheck(index);
  const [a, b, c, d] = records as [CertRecord, CertRecord, CertRecord, CertRecord];
  const cases: Array<[string, CertRecord[]]> = [
    ["another subject besides", [{ ...revoked(a, 9), subject: "CN=other" }]],
    ["the keys in another order", [{ revokedAt: day(9), ...a, status: "revoked" } as CertRecord]],
    ["a line that changes nothing but is not a revocation", [{ ...b }]],
    ["a revocation of a revoked certificate", [revoked(c, 9)]],
    ["issued and revoked since the summary", [revoked(d, 9)]],
  ];
  // c is revoked (and summarised as such) first; d's line comes twice in one append below.
  await appendFile(index, serializeIndex([revoked(c, 8)]));
  assert.ok(await extends_(index));
  await readAndCheck(index);
  for (const [what, lines] of cases) {
    const all = what.startsWith("issued") ? [{ ...randomRecord(), serial: "ffff" }, revoked({ ...randomRecord(), serial: "ffff" }, 9)] : lines;
    await appendFile(index, serializeIndex(all));
    assert.equal(await extends_(index), false, what);
    await readAndCheck(index);
  }
});

test("a summary whose other elements a revision reads is damaged: rebuilt, not a crash", async () => {
  const index = join(dir, "damaged.jsonl");
  // Each expires as the next is issued: no row is kept for being valid beside the latest.
  const r = (serial: string, issued: number) =>
    certRecord(serial, { partnerId: "acme", subject: `CN=${serial}`, notBefore: day(0), notAfter: day(1 + issued), issuedAt: day(issued) });
  const records = [r("a1", 1), r("a2", 2), r("a3", 3)];
  await writeFile(index, serializeIndex(records));
  await readAndCheck(index);
  // a2's element no longer parses (the same length: the layout stays whole); a3, acme's newest,
  // is revoked, so acme's other rows are read from their elements.
  const path = summaryPath(index);
  const text = (await readFile(path)).toString("latin1");
  assert.ok(text.includes('"subject": "CN=a2"'));
  await writeFile(path, Buffer.from(text.replace('"subject": "CN=a2"', '"subject"! "CN=a2"'), "latin1"));
  await appendFile(index, serializeIndex([revoked(records[2] as CertRecord, 10)]));
  assert.equal(await extends_(index), false);
  await readAndCheck(index);
  // An element that parses but is no record (a number where a time goes) is no base either.
  await appendFile(index, serializeIndex([r("a4", 4)]));
  await readAndCheck(index);
  const again = (await readFile(path)).toString("latin1");
  const notAfter = `"notAfter": "${day(3)}"`;
  assert.ok(again.includes(notAfter));
  await writeFile(path, Buffer.from(again.replace(notAfter, `"notAfter": ${"1".repeat(notAfter.length - 12)}`), "latin1"));
  await appendFile(index, serializeIndex([revoked(r("a4", 4), 11)]));
  assert.equal(await extends_(index), false);
  await readAndCheck(index);
});
