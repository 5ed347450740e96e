// #14: the pure decisions of rotation, partner health and reminders, over hand-made index records.
import assert from "node:assert/strict";
import test from "node:test";
import { assessPartner, assessPartners, partnerProblems } from "../../src/core/health/partners.js";
import { addressProblem } from "../../src/core/notify/address.js";
import { csrCommand, inert, renderNotice } from "../../src/core/notify/message.js";
import { crossedThreshold, planNotices, sentKey, sentLog, unsent } from "../../src/core/notify/plan.js";
import { signWebhook } from "../../src/core/notify/webhook.js";
import { checkSuccessor, choosePredecessor, dueRotations, overlapEnd } from "../../src/core/rotate/plan.js";
import type { CertRecord } from "../../src/core/store/index-file.js";
import { emptyPartnerMap } from "../../src/core/store/partners.js";
import { DAY } from "../../src/core/time.js";
import { certRecord } from "../helpers/records.js";

const NOW = new Date("2026-06-01T00:00:00Z");
const at = (days: number) => new Date(NOW.getTime() + days * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");

const rec = (serial: string, partnerId: string, notAfterDays: number, extra: Partial<CertRecord> = {}): CertRecord =>
  certRecord(serial, {
    partnerId,
    subject: `CN=${partnerId}-client`,
    commonNames: [`${partnerId}-client`],
    sans: [`dns:${partnerId}.example`],
    notBefore: at(-60),
    notAfter: at(notAfterDays),
    issuedAt: at(-60),
    fingerprint: "sha256:00",
    ...extra,
  });

test("#14 choosePredecessor: the one valid certificate; --serial among several; superseded, revoked and unknown refused", () => {
  assert.equal(choosePredecessor([rec("a1", "acme", 30)], "acme", NOW).serial, "a1");
  const two = [rec("a1", "acme", 30), rec("a2", "acme", 60)];
  assert.throws(
    () => choosePredecessor(two, "acme", NOW),
    (e: Error & { exit: number; code: string }) => e.exit === 2 && /a1, a2/.test(e.message),
  );
  assert.equal(choosePredecessor(two, "acme", NOW, "a2").serial, "a2");
  const rotated = [rec("a1", "acme", 30), rec("a2", "acme", 90, { supersedes: "a1", overlapUntil: at(14) })];
  assert.throws(() => choosePredecessor(rotated, "acme", NOW, "a1"), { code: "ERR_ALREADY_ROTATED" });
  // Without --serial the successor is the open one: rotating again replaces it, not the superseded one.
  assert.equal(choosePredecessor(rotated, "acme", NOW).serial, "a2");
  assert.throws(() => choosePredecessor([rec("a1", "acme", 30, { status: "revoked" })], "acme", NOW, "a1"), { code: "ERR_ALREADY_REVOKED" });
  assert.throws(() => choosePredecessor([rec("a1", "acme", 30)], "beta", NOW), { code: "ERR_UNKNOWN_PARTNER" });
  // Locked out: the newest expired certificate is rotated (no overlap left to give).
  const expired = [rec("a1", "acme", -40), rec("a2", "acme", -10)];
  assert.equal(choosePredecessor(expired, "acme", NOW).serial, "a2");
  // A revoked successor no longer supersedes: the old certificate may be rotated again.
  assert.equal(choosePredecessor([rec("a1", "acme", 30), rec("a2", "acme", 90, { supersedes: "a1", status: "revoked" })], "acme", NOW).serial, "a1");
});

test("#14 checkSuccessor: same identities or exit 3; the old key only with reuseKey, and then a warning", () => {
  const old = rec("a1", "acme", 30);
  const same = [
    { type: "cn" as const, value: "ACME-client" },
    { type: "dns" as const, value: "acme.example" },
  ];
  const k1 = Buffer.from("key-1");
  assert.deepEqual(checkSuccessor({ predecessor: old, predecessorSpki: k1, identities: same, spki: Buffer.from("key-2"), reuseKey: false }), []);
  assert.throws(
    () => checkSuccessor({ predecessor: old, predecessorSpki: k1, identities: [{ type: "cn", value: "beta-client" }], spki: k1, reuseKey: false }),
    (e: Error & { exit: number }) => e.exit === 3 && /missing cn:acme-client, dns:acme\.example; extra cn:beta-client/.test(e.message),
  );
  assert.throws(() => checkSuccessor({ predecessor: old, predecessorSpki: k1, identities: same, spki: k1, reuseKey: false }), { code: "ERR_KEY_REUSED" });
  assert.match(checkSuccessor({ predecessor: old, predecessorSpki: k1, identities: same, spki: k1, reuseKey: true })[0] as string, /reuses the key/);
});

test("#14 overlap: never past the old certificate's expiry; due only once it ended (or early); expired or revoked ones are left alone", () => {
  assert.equal(overlapEnd(NOW, 14 * DAY, rec("a1", "acme", 30)).toISOString(), new Date(at(14)).toISOString());
  assert.equal(overlapEnd(NOW, 14 * DAY, rec("a1", "acme", 5)).toISOString(), new Date(at(5)).toISOString());
  assert.equal(overlapEnd(NOW, 14 * DAY, rec("a1", "acme", -5)).getTime(), NOW.getTime());
  const records = [
    rec("a1", "acme", 30),
    rec("a2", "acme", 90, { supersedes: "a1", overlapUntil: at(7) }),
    rec("b1", "beta", -1),
    rec("b2", "beta", 90, { supersedes: "b1", overlapUntil: at(-3) }),
    rec("c1", "gamma", 30, { status: "revoked" }),
    rec("c2", "gamma", 90, { supersedes: "c1", overlapUntil: at(-3) }),
  ];
  assert.deepEqual(dueRotations(records, NOW), []);
  assert.deepEqual(
    dueRotations(records, NOW, { early: true }).map((d) => d.superseded.serial),
    ["a1"],
  );
  assert.deepEqual(
    dueRotations(records, new Date(at(8))).map((d) => [d.superseded.serial, d.successor.serial]),
    [["a1", "a2"]],
  );
  assert.deepEqual(dueRotations(records, new Date(at(8)), { partnerId: "beta" }), []);
});

test("#14 partner health: ok, due, rotating, locked-out, offboarded, pending; only due and locked-out are problems", () => {
  const warn = 30 * DAY;
  const state = (certs: CertRecord[], offboardedAt?: string) =>
    assessPartner({ partnerId: "p", certs, now: NOW, warnMs: warn, ...(offboardedAt ? { offboardedAt } : {}) });
  assert.equal(state([rec("a", "p", 60)]).state, "ok");
  assert.equal(state([rec("a", "p", 20)]).state, "due");
  // A second certificate issued plainly (not by rotate): the partner is judged by its newest
  // (issuing it warned and pointed to rotate); renewing by issuing again, or a fleet of workload
  // identities, is not flagged for the older certificates.
  const parallel = state([rec("a", "p", 20), rec("b", "p", 90)]);
  assert.equal(parallel.state, "ok");
  assert.equal(parallel.newestSerial, "b");
  assert.deepEqual(partnerProblems([parallel]), []);
  assert.equal(state([rec("a", "p", 60), rec("b", "p", 90)]).state, "ok");
  // A rotation whose successor expired (or was revoked) with the old certificate still valid did
  // not finish: due, whatever the old certificate's expiry, and no longer rotating.
  for (const successor of [rec("b", "p", -1, { supersedes: "a", overlapUntil: at(-2) }), rec("b", "p", 90, { supersedes: "a", status: "revoked" })]) {
    const stalled = state([rec("a", "p", 60), successor]);
    assert.equal(stalled.state, "due");
    assert.equal(stalled.stalled?.superseded, "a");
    assert.match(partnerProblems([stalled])[0]?.message ?? "", /rotation of certificate a did not finish: its successor b (expired|was revoked)/);
  }
  const rotating = state([rec("a", "p", 20), rec("b", "p", 90, { supersedes: "a", overlapUntil: at(7) })]);
  assert.equal(rotating.state, "rotating");
  assert.deepEqual(rotating.rotation, { superseded: "a", successor: "b", overlapUntil: at(7), overlapEnded: false });
  assert.equal(rotating.newestSerial, "b");
  // The superseded one revoked: ok again, whatever the old certificate says.
  assert.equal(state([rec("a", "p", 20, { status: "revoked" }), rec("b", "p", 90, { supersedes: "a" })]).state, "ok");
  const locked = state([rec("a", "p", -3), rec("b", "p", 40, { status: "revoked" })]);
  assert.equal(locked.state, "locked-out");
  assert.equal(locked.newestSerial, "b");
  assert.equal(locked.newestStatus, "revoked");
  assert.equal(state([rec("a", "p", 20, { status: "revoked" })], at(-1)).state, "offboarded");
  // Issued again after offboarding: judged normally.
  assert.equal(state([rec("a", "p", -3, { status: "revoked" }), rec("b", "p", 90, { issuedAt: at(0) })], at(-1)).state, "ok");
  assert.equal(state([]).state, "pending");

  const registry = { partners: Object.assign(emptyPartnerMap(), { newbie: { id: "newbie", createdAt: at(0), updatedAt: at(0) } }) };
  const all = assessPartners({
    records: [rec("x", "due", 3), rec("y", "gone", -5), rec("s", "server:gw", -5, { kind: "server" })],
    registry,
    now: NOW,
    warnMs: warn,
  });
  assert.deepEqual(
    all.map((h) => [h.partnerId, h.state]),
    [
      ["due", "due"],
      ["gone", "locked-out"],
      ["newbie", "pending"],
    ],
  );
  assert.deepEqual(
    partnerProblems(all).map((p) => [p.kind, p.partnerId, p.serial]),
    [
      ["partner-due", "due", "x"],
      ["partner-locked-out", "gone", "y"],
    ],
  );
});

test("#14 reminders: the smallest threshold crossed, once per certificate and threshold and channel", () => {
  const t = [30, 14, 7, 1];
  assert.equal(crossedThreshold(new Date(at(40)), NOW, t), undefined);
  assert.equal(crossedThreshold(new Date(at(30)), NOW, t), 30);
  assert.equal(crossedThreshold(new Date(at(10)), NOW, t), 14);
  assert.equal(crossedThreshold(new Date(at(0.5)), NOW, t), 1);
  assert.equal(crossedThreshold(new Date(at(-1)), NOW, t), undefined);
  const records = [rec("a", "acme", 10), rec("b1", "beta", 60), rec("b2", "beta", 90, { supersedes: "b1", overlapUntil: at(2) }), rec("c", "gamma", -2)];
  const health = assessPartners({ records, registry: { partners: emptyPartnerMap() }, now: NOW, warnMs: 30 * DAY });
  const notices = planNotices({ health, records, thresholds: t, overlapNoticeMs: 3 * DAY, now: NOW });
  assert.deepEqual(
    notices.map((n) => n.key),
    ["reminder:a:14", "overlap-ending:b2", "locked-out:c"],
  );
  const sent = sentLog(new Set([sentKey("reminder:a:14", "smtp")]));
  assert.deepEqual(
    unsent(notices, sent, "smtp").map((n) => n.key),
    ["overlap-ending:b2", "locked-out:c"],
  );
  assert.equal(unsent(notices, sent, "webhook").length, 3);
});

test("partner health and reminders during a rotation: the rotated pair as before; a stalled rotation is not hidden by an open one", () => {
  const warn = 30 * DAY;
  const t = [30, 14, 7, 1];
  const judge = (records: CertRecord[]) => {
    const health = assessPartners({ records, registry: { partners: emptyPartnerMap() }, now: NOW, warnMs: warn });
    return {
      h: health[0] as ReturnType<typeof assessPartner>,
      keys: planNotices({ health, records, thresholds: t, overlapNoticeMs: 3 * DAY, now: NOW }).map((n) => n.key),
    };
  };
  const pair = [rec("b", "p", 20), rec("c", "p", 90, { supersedes: "b", overlapUntil: at(2) })];
  // b (superseded, expiring within the window) and its successor c: rotating.
  const plain = judge(pair);
  assert.deepEqual([plain.h.state, plain.h.expiring], ["rotating", undefined]);
  assert.deepEqual(plain.keys, ["overlap-ending:c"]);
  // Another rotation of the partner that stalled is not hidden by the open one.
  const stalled = judge([rec("a", "p", 60), rec("a2", "p", 90, { supersedes: "a", status: "revoked" }), ...pair]);
  assert.equal(stalled.h.state, "due");
  assert.equal(stalled.h.stalled?.superseded, "a");
});

test("#14 hostile values: addresses that could split SMTP commands or headers are refused; text is inert; the CSR command is quoted", async () => {
  for (const bad of [
    "a@b.example\r\nBcc: victim@evil.example",
    "a@b.example\nRCPT TO:<x@evil.example>",
    "Name <a@b.example>",
    "a@b.example, c@evil.example",
    '"quoted"@b.example',
    "a@b.example\u0000",
    "a b@example.com",
  ])
    assert.ok(addressProblem(bad), JSON.stringify(bad));
  assert.equal(addressProblem("ops+pki@acme.example"), undefined);
  assert.equal(inert("Evil\r\nBcc: x\u001b[31m\u202e"), "Evil\\u{d}\\u{a}Bcc: x\\u{1b}[31m\\u{202e}");
  const cmd = csrCommand({ partnerId: "acme", cn: "x'$(touch /tmp/pwned)/y", keyType: "rsa-3072" });
  assert.equal(cmd, "openssl req -new -newkey rsa:3072 -nodes -keyout acme.key -out acme.csr -subj '/CN=x'\\''$(touch \\/tmp\\/pwned)\\/y'");
  assert.match(csrCommand({ partnerId: "p", cn: "c", keyType: "ec-p384" }), /ec_paramgen_curve:P-384/);

  const cert = rec("a", "acme", 10, { subject: "CN=acme\u001b]0;owned\u0007", commonNames: ["acme\u001b]0;owned\u0007"] });
  const r = await renderNotice(
    { key: "reminder:a:14", kind: "reminder", partnerId: "acme", cert, threshold: 14 },
    {
      caName: "Home\r\nX-Injected: yes",
      partner: { id: "acme", name: "Evil\r\nBcc: victim@evil.example", contact: "a@b.example\r\nBcc: victim@evil.example", createdAt: at(0), updatedAt: at(0) },
      operators: ["pki@home.example"],
      overlapDays: 14,
      now: NOW,
    },
  );
  assert.doesNotMatch(r.subject, /[\r\n]/);
  assert.doesNotMatch(r.text, /[\u0000-\u0008\u000b-\u001f\u007f]/, "no control character but newline and tab");
  assert.match(r.text, /Hello Evil\\u\{d\}\\u\{a\}Bcc: victim@evil\.example,/);
  assert.deepEqual([r.to, r.cc], [["pki@home.example"], []], "a contact that is not a plain address receives nothing");
  assert.match(r.warnings[0] as string, /not a plain e-mail address/);
});

test("a reminder says 1 day, not 1 days", async () => {
  const r = await renderNotice(
    { key: "reminder:a:1", kind: "reminder", partnerId: "acme", cert: rec("a", "acme", 1), threshold: 1 },
    { caName: "Home", operators: ["pki@home.example"], overlapDays: 14, now: NOW },
  );
  assert.match(r.subject, /expires in 1 day$/);
  assert.match(r.text, /\(in 1 day\)/);
  assert.match(r.text, /the reminder 1 day before expiry/);
  assert.doesNotMatch(r.subject + r.text, /\b1 days\b/);
});

test("#14 every notice template renders with the values it is given (a missing one would be a bug, not an empty string)", async () => {
  const ctx = { caName: "Home", operators: [], from: "pki@home.example", overlapDays: 14, now: NOW };
  const old = rec("a1", "acme", 3);
  const next = rec("a2", "acme", 90, { supersedes: "a1", overlapUntil: at(2) });
  const kinds = [
    { key: "reminder:a1:7", kind: "reminder" as const, partnerId: "acme", cert: old, threshold: 7 },
    { key: "locked-out:a1", kind: "locked-out" as const, partnerId: "acme", cert: { ...old, status: "revoked" as const, revokedAt: at(-1) } },
    { key: "overlap-ending:a2", kind: "overlap-ending" as const, partnerId: "acme", cert: old, successor: next },
  ];
  for (const n of kinds) {
    const r = await renderNotice(n, ctx);
    assert.match(r.subject, /^\[Home\] /);
    assert.ok(r.text.includes(n.kind === "overlap-ending" ? "a2" : "a1"), r.text);
    if (n.kind !== "overlap-ending") assert.match(r.text, /Send acme\.csr \(it is not secret\) to pki@home\.example/);
  }
  assert.match((await renderNotice(kinds[1] as (typeof kinds)[1], ctx)).text, /was revoked at /);
});

test("#14 webhook signature: HMAC-SHA256 over timestamp and body, as a receiver recomputes it", async () => {
  const { createHmac } = await import("node:crypto");
  const body = '{"event":"mtls.reminder"}';
  assert.equal(signWebhook("s3cret", 1700000000, body), `sha256=${createHmac("sha256", "s3cret").update(`1700000000.${body}`).digest("hex")}`);
  assert.notEqual(signWebhook("s3cret", 1700000001, body), signWebhook("s3cret", 1700000000, body));
});
