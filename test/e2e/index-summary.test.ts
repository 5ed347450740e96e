// #21: list and status read index.jsonl.summary, a cache of the index with the table cells and
// the --json elements already rendered; doctor checks it. What they print must be exactly what
// the journal's records say, rendered the slow way.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { Output, tableChunks } from "../../src/cli/output.js";
import { safeJson } from "../../src/cli/terminal-safe.js";
import { assessPartners, partnerProblems } from "../../src/core/health/partners.js";
import { IdentityOwners } from "../../src/core/identity/registry.js";
import { validatePartnerId } from "../../src/core/ids.js";
import { CERT_STATUSES, type ListParams, listCertificates, statusOf } from "../../src/core/inventory/list.js";
import { listPartners, listPartnersFromJournal, showPartner } from "../../src/core/partners/partners.js";
import { expiredServerProblems } from "../../src/core/server/status.js";
import { openPki } from "../../src/core/session.js";
import { readIndexOf, readPartnersOf } from "../../src/core/store/blobs.js";
import type { CertRecord } from "../../src/core/store/index-file.js";
import { rowsOfJournal } from "../../src/core/store/index-summary.js";
import { parsePartners } from "../../src/core/store/partners.js";
import { makeCsr } from "../helpers/csr.js";
import { certRecord } from "../helpers/records.js";
import { initTempCa, mtls } from "../helpers/run.js";

test("a summary edited to disagree with the index: doctor reports it, --fix rebuilds it, list tells the truth again", async (t) => {
  const dir = await initTempCa(t);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--out-key", "acme.key", "--json"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stderr);
  const serial = JSON.parse(issued.stdout).result.serial as string;
  assert.match((await mtls(["list"], { cwd: dir })).stdout, new RegExp(`${serial} +acme .* valid`));
  const path = join(dir, "pki/index.jsonl.summary");
  // Same length, bytes kept (latin1): the partner's name in every section of the summary.
  await writeFile(path, Buffer.from((await readFile(path)).toString("latin1").replaceAll("acme", "acmX"), "latin1"));
  assert.match((await mtls(["list"], { cwd: dir })).stdout, /acmX/, "the cache is trusted while its stamp matches");

  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 1, doctor.stdout);
  const problems = JSON.parse(doctor.stdout).result.problems as Array<{ check: string; message: string }>;
  assert.deepEqual(
    problems.map((p) => [p.check, p.message]),
    [["index-summary", "index.jsonl.summary does not match index.jsonl"]],
  );
  const fixed = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fixed.exitCode, 0, fixed.stdout);
  assert.equal((await mtls(["doctor", "--json"], { cwd: dir })).exitCode, 0);
  const list = await mtls(["list"], { cwd: dir });
  assert.match(list.stdout, new RegExp(`${serial} +acme .* valid`));
  assert.doesNotMatch(list.stdout, /acmX/);
});

const DAY = 86_400_000;
// Every time sits half a day from a day boundary, so that the test and the spawned command,
// a moment apart, agree on days left and on expiring.
const BASE = Math.floor(Date.now() / 1000) * 1000 + DAY / 2;
const at = (days: number) => new Date(BASE + days * DAY).toISOString().replace(/\.000Z$/, "Z");
let serialNo = 0x1000;

function cert(partnerId: string, subject: string, days: number, extra: Partial<CertRecord> & Record<string, unknown> = {}): CertRecord {
  const serial = (serialNo++).toString(16);
  return certRecord(serial, {
    partnerId,
    subject,
    sans: [`dns:${serial}.example`],
    notBefore: at(-400),
    notAfter: at(days),
    issuedAt: at(-400 + (serialNo % 50)),
    ...extra,
  });
}

/** A journal with revocations (one appended later), rotations, expired and superseded certificates, servers, and hostile ids and subjects. */
function hostileJournal(): { lines: CertRecord[]; offboarded: string } {
  const acme = [cert("acme", "CN=acme", 200), cert("acme", "CN=acme 2", 10), cert("acme", "CN=old", -5)];
  const old = cert("rot", "CN=rot old", 20);
  const rot = [old, cert("rot", "CN=rot new", 300, { supersedes: old.serial, overlapUntil: at(-1) })];
  const old2 = cert("rot2", "CN=rot2 old", 40);
  const rot2 = [old2, cert("rot2", "CN=rot2 new", 300, { supersedes: old2.serial, overlapUntil: at(3) })];
  const hostile = [
    cert("evil\u001b[31mred", "CN=a\nb", 100),
    cert("tab\tpart", "CN=\u0000nul", 5),
    cert("pct%41%", 'CN=100% "quoted" \\ back', 50),
    cert("ünï-日本", "CN=😀 wide, O=日本", 60),
    cert("bidi\u202eabc", "CN=\u2028ls \u0085nel \u200bzw", 25),
    cert("empty", "", 70),
  ];
  const locked = [cert("locked", "CN=l1", -3), cert("locked", "CN=l2", 90, { status: "revoked", revokedAt: at(-2), revocationReason: "keyCompromise" })];
  const offboarded = [cert("gone", "CN=gone", 80)];
  const servers = [
    cert("server:gw1", "CN=gw1", -10, { kind: "server" }),
    cert("server:gw1", "CN=gw1 b", -1, { kind: "server" }),
    cert("server:gw2", "CN=gw2", 12, { kind: "server" }),
  ];
  const odd = [
    cert("odd", "CN=days first", 33, { daysLeft: 7, status: "valid", note: "kept" } as Partial<CertRecord>),
    cert("frac", "CN=frac", 15, { notAfter: at(15).replace("Z", ".500Z") }),
    cert("frac", "CN=frac 2", 16),
  ];
  // daysLeft before status in the record's key order: the element's two values come the other way round.
  const first = odd[0] as CertRecord & { daysLeft?: number };
  odd[0] = {
    ...Object.fromEntries(Object.entries(first).filter(([k]) => k !== "status" && k !== "daysLeft")),
    daysLeft: 7,
    status: "valid",
  } as unknown as CertRecord;
  const revokedLater: CertRecord = { ...(acme[0] as CertRecord), status: "revoked", revokedAt: at(-1), revocationReason: "superseded" };
  return { lines: [...acme, ...rot, ...rot2, ...hostile, ...locked, ...offboarded, ...servers, ...odd, revokedLater], offboarded: "gone" };
}

const HEADER = ["SERIAL", "PARTNER", "SUBJECT", "NOT AFTER", "DAYS", "STATUS"];
const STATUS_AT_END = /(valid|expiring|expired|revoked)$/gm;

/** The table and the --json document the way they were rendered before the summary held them: from the parsed records. */
async function renderedSlowly(pkiDir: string, p: ListParams, color: boolean): Promise<{ table: string; json: string }> {
  const listed = await listCertificates(await openPki(pkiDir, { now: new Date(), actor: "test" }), p);
  const out = new Output(process.stdout, process.stderr, color ? { FORCE_COLOR: "1" } : {});
  out.configure({ json: false, quiet: false, color });
  const s = out.out;
  const certs = listed.certificates;
  const cells = (i: number) => {
    const c = certs[i] as (typeof certs)[number];
    return [c.serial, c.partnerId, c.subject, c.notAfter.slice(0, 10), String(c.daysLeft), c.status];
  };
  const table =
    certs.length === 0
      ? `${s.dim("no certificates match")}\n`
      : [...tableChunks(HEADER, certs.length, cells, s)].map((c) => (color ? c.replace(STATUS_AT_END, (st) => s.status(st)) : c)).join("");
  const doc = { schemaVersion: 1, command: "list", ok: true, exitCode: 0, result: listed, warnings: [] };
  return { table, json: `${safeJson(JSON.stringify(doc, null, 2))}\n` };
}

/** A store whose index.jsonl is the hostile journal. */
async function hostileStore(t: TestContext) {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const journal = hostileJournal();
  await writeFile(join(pki, "index.jsonl"), journal.lines.map((r) => `${JSON.stringify(r)}\n`).join(""));
  return { dir, pki, ...journal, since: { createdAt: at(-500), updatedAt: at(-100) } };
}

test("list, list --json and status from the summary say exactly what the journal's records say, hostile values and all", async (t) => {
  const { dir, pki, lines, offboarded, since } = await hostileStore(t);
  await writeFile(
    join(pki, "partners.json"),
    JSON.stringify({ partners: { [offboarded]: { id: offboarded, ...since, offboardedAt: at(-100) }, pending: { id: "pending", ...since } } }),
  );
  const filters: Array<[string[], ListParams]> = [
    [[], {}],
    [["--partner", "evil\u001b[31mred"], { partner: "evil\u001b[31mred" }],
    // A registered partner without certificates: nothing to list (a partner nobody knows is exit 3).
    [["--partner", "pending"], { partner: "pending" }],
    [["--status", "expiring"], { status: "expiring" }],
    [["--kind", "server"], { kind: "server" }],
    [["--expiring-within", "20d"], { expiringWithinMs: 20 * DAY }],
  ];
  for (const [args, p] of filters) {
    const want = await renderedSlowly(pki, p, false);
    const json = await mtls(["list", ...args, "--json"], { cwd: dir });
    assert.equal(json.stdout, want.json, `list ${args.join(" ")} --json`);
    const table = await mtls(["list", ...args], { cwd: dir });
    assert.equal(table.stdout, want.table, `list ${args.join(" ")}`);
  }
  const coloured = await mtls(["list"], { cwd: dir, env: { FORCE_COLOR: "1" } });
  assert.equal(coloured.stdout, (await renderedSlowly(pki, {}, true)).table, "list, coloured");
  assert.ok(
    CERT_STATUSES.every((st) => coloured.stdout.includes(st)),
    "every status is listed",
  );

  const status = JSON.parse((await mtls(["status", "--json"], { cwd: dir })).stdout).result;
  const now = new Date();
  const rows = rowsOfJournal(await readFile(join(pki, "index.jsonl")), "index.jsonl");
  const registry = parsePartners(await readFile(join(pki, "partners.json"), "utf8"), "partners.json");
  const partners = assessPartners({ records: rows, registry, now, warnMs: 30 * DAY });
  assert.deepEqual(status.partners, JSON.parse(JSON.stringify(partners)));
  assert.deepEqual(
    new Set(partners.map((p) => p.state)),
    new Set(["ok", "due", "locked-out", "rotating", "offboarded", "pending"]),
    "every partner state is covered",
  );
  const listed = (await listCertificates(await openPki(pki, { now, actor: "test" }))).certificates;
  const count = (st: string) => listed.filter((c) => c.status === st).length;
  assert.deepEqual(status.certificates, {
    total: listed.length,
    valid: count("valid"),
    expiring: count("expiring"),
    expired: count("expired"),
    revoked: count("revoked"),
  });
  const kinds = new Set(["partner-due", "partner-locked-out", "server-cert-expired"]);
  assert.deepEqual(
    status.problems.filter((p: { kind: string }) => kinds.has(p.kind)),
    JSON.parse(JSON.stringify([...expiredServerProblems(rows, now), ...partnerProblems(partners)])),
  );
  const gw2 = lines.find((r) => r.subject === "CN=gw2");
  assert.deepEqual(
    status.problems.filter((p: { kind: string }) => p.kind === "cert-expiring").map((p: { serial: string }) => p.serial),
    [gw2?.serial],
  );
});

test("#21 partner list from the summary says what the journal's records say, hostile ids and odd times alike; a partner known only from its certificates is dated by them", async (t) => {
  const { pki, lines, offboarded, since } = await hostileStore(t);
  const clients = [...new Set(lines.filter((r) => r.kind !== "server").map((r) => r.partnerId))];
  const registry = (ids: string[]) =>
    JSON.stringify({ partners: Object.fromEntries(ids.map((id) => [id, { id, ...since, ...(id === offboarded ? { offboardedAt: at(-100) } : {}) }])) });
  await writeFile(join(pki, "partners.json"), registry([...clients, "pending"]));
  for (const days of [0, 4, 12, 45, 400]) {
    const session = await openPki(pki, { now: new Date(BASE + days * DAY), actor: "test" });
    const fromSummary = await listPartners(session);
    assert.deepEqual(fromSummary, await listPartnersFromJournal(session), `day ${days}`);
    if (days === 0) {
      const frac = fromSummary.partners.find((p) => p.id === "frac");
      assert.equal(frac?.nextExpiry, at(15).replace("Z", ".500Z"), "an odd time is kept as written");
      assert.ok(new Set(fromSummary.partners.map((p) => p.state)).size >= 5, "partner states of every kind are compared");
    }
  }
  // The summary's way was taken: with the journal unreadable, the answer is the same.
  const session0 = await openPki(pki, { now: new Date(BASE), actor: "test" });
  const base = session0.storage;
  const noJournal = Object.assign(Object.create(base), {
    readJournal: async (name: string) => {
      if (name === "index") throw new Error("the journal was read");
      return base.readJournal(name as "index");
    },
  });
  const fast = await listPartners(await openPki(noJournal, { now: new Date(BASE), actor: "test" }));
  assert.deepEqual(fast, await listPartnersFromJournal(session0));
  // Counted again here, record by record, not by the code under test.
  const records = (await readIndexOf(base)).records.filter((r) => r.kind !== "server");
  for (const p of fast.partners) {
    const mine = records.filter((r) => r.partnerId === p.id);
    const st = mine.map((r) => statusOf(r, new Date(BASE), 30 * DAY));
    const counts = Object.fromEntries(CERT_STATUSES.map((c) => [c, st.filter((x) => x === c).length]));
    assert.deepEqual(p.certificates, { total: mine.length, ...counts }, p.id);
    const live = mine.filter((_, i) => st[i] === "valid" || st[i] === "expiring").map((r) => r.notAfter);
    assert.equal(p.nextExpiry, live.sort()[0], p.id);
  }
  // A line appended in another time form than mtls writes: the summary is rebuilt, not extended,
  // and still agrees with the journal.
  // Two canonical lines first (the summary is extended by them), the earlier expiry among them
  // one the summary's status rows do not keep; then the odd one.
  const acme = lines.find((r) => r.partnerId === "acme") as CertRecord;
  const line = (serial: string, f: Partial<CertRecord>) =>
    `${JSON.stringify({ ...acme, serial, fingerprint: `sha256:${serial}`, certPath: `certs/${serial}.pem`, ...f })}\n`;
  await writeFile(join(pki, "index.jsonl"), line("fedcb0", { notAfter: at(5), issuedAt: at(-450) }) + line("fedcb1", { notAfter: at(400) }), { flag: "a" });
  const extended = await openPki(pki, { now: new Date(BASE), actor: "test" });
  assert.deepEqual(await listPartners(extended), await listPartnersFromJournal(extended));
  const later = JSON.parse(line("fedcba", { notAfter: at(300).replace("Z", ".000Z") })) as CertRecord;
  await writeFile(join(pki, "index.jsonl"), `${JSON.stringify(later)}\n`, { flag: "a" });
  const after = await openPki(pki, { now: new Date(BASE), actor: "test" });
  const odd = await listPartners(after);
  assert.deepEqual(odd, await listPartnersFromJournal(after));
  assert.equal(odd.partners.find((p) => p.id === "acme")?.nextExpiry, at(5));
  // An impossible date is a damaged record, not one Date.parse rolls over.
  await writeFile(join(pki, "index.jsonl"), `${JSON.stringify({ ...later, serial: "fedcbb", notAfter: "2027-02-30T00:00:00Z" })}\n`, { flag: "a" });
  await assert.rejects(listPartners(await openPki(pki, { now: new Date(BASE), actor: "test" })), { code: "ERR_STORE_CORRUPT" });
  // So is a kind other than "client" or "server", which one reader took for a client and another skipped.
  const withoutFeb30 = lines.map((r) => `${JSON.stringify(r)}\n`).join("");
  await writeFile(join(pki, "index.jsonl"), withoutFeb30 + line("fedcbc", { kind: "Server" } as unknown as Partial<CertRecord>));
  await assert.rejects(listPartners(await openPki(pki, { now: new Date(BASE), actor: "test" })), { code: "ERR_STORE_CORRUPT" });
  await writeFile(join(pki, "index.jsonl"), withoutFeb30);
  // Without "acme" in the registry, its first certificate dates it: the journal's way.
  await writeFile(join(pki, "partners.json"), registry(clients.filter((id) => id !== "acme")));
  const session = await openPki(pki, { now: new Date(BASE), actor: "test" });
  const listed = await listPartners(session);
  assert.deepEqual(listed, await listPartnersFromJournal(session));
  assert.equal(listed.partners.find((p) => p.id === "acme")?.createdAt, lines[0]?.issuedAt);
  // ...from the summary: its status rows keep each partner's first certificate.
  const unread = Object.assign(Object.create(session.storage), {
    readJournal: async (name: string) => {
      if (name === "index") throw new Error("the journal was read");
      return session.storage.readJournal(name as "index");
    },
  });
  assert.deepEqual(await listPartners(await openPki(unread, { now: new Date(BASE), actor: "test" })), listed);
  // With no partner registered at all, every one is dated by its first certificate, also one
  // whose first is neither its newest nor its latest issued.
  const dated = [at(-300), at(-200), at(-100)].map((issuedAt, i) => line(`dade0${i}`, { partnerId: "dated", issuedAt, notAfter: at(50 * (i + 1)) }));
  await writeFile(join(pki, "index.jsonl"), dated.join(""), { flag: "a" });
  await writeFile(join(pki, "partners.json"), registry([]));
  const none = await openPki(pki, { now: new Date(BASE), actor: "test" });
  const bare = await listPartners(
    await openPki(Object.assign(Object.create(none.storage), { readJournal: unread.readJournal }), { now: new Date(BASE), actor: "test" }),
  );
  assert.deepEqual(bare, await listPartnersFromJournal(none));
  for (const id of clients)
    assert.equal(bare.partners.find((p) => p.id === id)?.createdAt, lines.find((r) => r.partnerId === id && r.kind !== "server")?.issuedAt, id);
  assert.equal(bare.partners.find((p) => p.id === "dated")?.createdAt, at(-300));
});

test("#21 partner show from the summary says what the journal's records say, for every partner of the hostile journal", async (t) => {
  const { pki, lines, offboarded, since } = await hostileStore(t);
  const ids = [...new Set(lines.map((r) => r.partnerId))];
  const registered = ids.filter((id) => id !== "acme");
  await writeFile(
    join(pki, "partners.json"),
    JSON.stringify({ partners: Object.fromEntries(registered.map((id) => [id, { id, ...since, ...(id === offboarded ? { offboardedAt: at(-100) } : {}) }])) }),
  );
  for (const days of [0, 45]) {
    const now = new Date(BASE + days * DAY);
    const session = await openPki(pki, { now, actor: "test" });
    const records = (await readIndexOf(session.storage)).records;
    const registry = await readPartnersOf(session.storage);
    let compared = 0;
    for (const id of ids) {
      if (!isPartnerId(id)) {
        // An id no command accepts is refused before anything is read, as before.
        await assert.rejects(showPartner(session, { partnerId: id }), { code: "ERR_PARTNER_ID" });
        continue;
      }
      // The journal's answer, as partner show gave it before the summary did.
      const certs = records.filter((r) => r.partnerId === id);
      const want = {
        partner: registry.partners[id] ?? { id, createdAt: certs[0]?.issuedAt, updatedAt: certs[0]?.issuedAt },
        identities: IdentityOwners.build(certs, registry, now)
          .identitiesOf(id)
          .map((c) => ({ type: c.type, value: c.value, status: c.active ? "in-use" : "reserved" })),
        certificates: certs.map((r) => ({ ...r, status: statusOf(r, now, 30 * DAY), daysLeft: Math.floor((Date.parse(r.notAfter) - now.getTime()) / DAY) })),
      };
      assert.deepEqual(await showPartner(session, { partnerId: id }), want, `${JSON.stringify(id)} on day ${days}`);
      compared++;
    }
    assert.equal(compared, 8, "registered and unregistered partners, revoked, rotating, expired and offboarded ones");
  }
});

const isPartnerId = (id: string) => {
  try {
    validatePartnerId(id);
    return true;
  } catch {
    return false;
  }
};

test("fields that are not what mtls writes (a tab in supersedes, a word for overlapUntil, common names that are no list of strings) are a damaged record: exit 5 naming the line, never exit 70", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "p");
  assert.equal((await mtls(["partner", "issue", "p", "--csr", csr, "-q"], { cwd: dir })).exitCode, 0);
  const other = (await makeCsr(dir, "q")).csr;
  const index = join(dir, "pki", "index.jsonl");
  const issued = await readFile(index, "utf8");
  const first = JSON.parse(issued) as CertRecord;
  for (const [field, value, want] of [
    ["supersedes", "ab\tcd\nef", "a hex serial"],
    ["supersedes", 7, "a hex serial"],
    ["overlapUntil", "soon", "a time"],
    ["commonNames", "p", "a list of strings"],
    ["commonNames", ["p", 3], "a list of strings"],
  ] as const) {
    await writeFile(index, `${issued}${JSON.stringify({ ...first, serial: "abcdef01", [field]: value })}\n`);
    const damaged = new RegExp(`index\\.jsonl line 2 is damaged: "${field}" is not ${want}`);
    for (const args of [
      ["list"],
      ["list", "--json"],
      ["status"],
      ["partner", "list"],
      ["partner", "show", "p"],
      ["partner", "issue", "q", "--csr", other, "-q"],
    ]) {
      const r = await mtls(args, { cwd: dir });
      assert.equal(r.exitCode, 5, `${args.join(" ")} ${field}: ${r.stderr}`);
      assert.match(r.stdout + r.stderr, damaged, args.join(" "));
    }
    const doctor = await mtls(["doctor"], { cwd: dir });
    assert.equal(doctor.exitCode, 1, doctor.stderr);
    assert.match(doctor.stdout + doctor.stderr, damaged);
  }
});
