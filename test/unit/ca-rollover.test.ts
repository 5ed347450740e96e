// #18: the rollover plan as pure functions of the registry, the CA certificates, the index and now.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import type { CaCerts, CaEntry } from "../../src/core/ca/material.js";
import { issuingCaId, publishOrder, registryOf } from "../../src/core/ca/registry.js";
import { planIntermediateRollover, planRootFinish, planRootStart } from "../../src/core/ca/rollover-plan.js";
import { rolloverView, supersededWithoutCerts } from "../../src/core/ca/rollover-status.js";
import type { CertInfo } from "../../src/core/pki.js";
import { readConfig, type StoreConfig, TOKEN_KEYS_FORMAT_VERSION } from "../../src/core/store/config.js";
import type { CertRecord } from "../../src/core/store/index-file.js";
import { checkCertRecord, isRevocation } from "../../src/core/store/records.js";
import { certRecord } from "../helpers/records.js";

const NOW = new Date("2030-01-01T00:00:00Z");
const YEAR = 365 * 86_400_000;

const config = (over: Partial<StoreConfig> = {}): StoreConfig => ({
  formatVersion: 1,
  createdAt: "2026-01-01T00:00:00Z",
  ca: { name: "Acme", org: "Acme Corp", keyType: "ec-p256", intermediate: true },
  policy: { defaultDays: 90, maxDays: 398, warnDays: 30 },
  crl: { validityDays: 7 },
  ...over,
});

/** CaCerts over fake certificates: the plan reads only ids, kinds and notAfter. */
function caOf(cfg: StoreConfig, notAfter: Record<string, Date> = {}): CaCerts {
  const reg = registryOf(cfg);
  const all: CaEntry[] = reg.list.map((r) => ({
    ...r,
    cert: { subject: `CN=${r.id}`, notAfter: notAfter[r.id] ?? new Date(NOW.getTime() + 5 * YEAR) } as CertInfo,
  }));
  const issuing = all.find((c) => c.id === reg.issuing) as CaEntry;
  const root = (all.find((c) => c.id === (issuing.parent ?? issuing.id)) as CaEntry).cert;
  return { root, intermediate: issuing.cert, issuer: issuing.cert, issuerRole: issuing.id, all, registry: reg };
}

const rec = (serial: string, issuer: string, over: Partial<CertRecord> = {}): CertRecord =>
  certRecord(serial, {
    partnerId: `p-${serial}`,
    subject: `CN=${serial}`,
    notBefore: "2029-12-01T00:00:00Z",
    notAfter: "2030-03-01T00:00:00Z",
    issuedAt: "2029-12-01T00:00:00Z",
    fingerprint: "sha256:00",
    issuer,
    ...over,
  });

test("a store without a registry reads as the hierarchy ca init made (root + intermediate, or the root alone)", () => {
  assert.deepEqual(
    registryOf(config()).list.map((c) => c.id),
    ["root", "intermediate"],
  );
  assert.equal(issuingCaId(config()), "intermediate");
  const single = config({ ca: { name: "A", keyType: "ec-p256", intermediate: false } });
  assert.equal(issuingCaId(single), "root");
  assert.deepEqual(registryOf(single).trusted, ["root"]);
});

test("intermediate rollover: next id, issuing switches, refused past the root's end, single tier and during a root rollover", () => {
  const plan = planIntermediateRollover(config(), caOf(config(), { root: new Date(NOW.getTime() + 10 * YEAR) }), NOW, 1825);
  assert.equal(plan.newCa.id, "intermediate-2");
  assert.equal(plan.newCa.parent, "root");
  assert.equal(plan.registry.issuing, "intermediate-2");
  assert.equal(plan.previous, "intermediate");
  assert.deepEqual(plan.newCa.subject.rdns?.at(-1), ["CN", "Acme Intermediate CA 2"]);
  assert.deepEqual(
    publishOrder(plan.registry).map((c) => c.id),
    ["intermediate-2", "intermediate", "root"],
  );
  assert.throws(() => planIntermediateRollover(config(), caOf(config(), { root: new Date(NOW.getTime() + YEAR) }), NOW, 1825), /outlive the root/);
  const single = config({ ca: { name: "A", keyType: "ec-p256", intermediate: false } });
  assert.throws(
    () => planIntermediateRollover(single, caOf(single), NOW, 30),
    (e: { code?: string }) => e.code === "ERR_ROLLOVER_SINGLE_TIER",
  );
});

test("root start cross-certifies intermediates directly, both ways; finish retires the old hierarchy and lists what it strands", () => {
  const c1 = config();
  const mid = config({ cas: planIntermediateRollover(c1, caOf(c1, { root: new Date(NOW.getTime() + 9 * YEAR) }), NOW, 365).registry });
  const start = planRootStart(mid, caOf(mid), NOW, 3650, 1825);
  assert.equal(start.newRoot.id, "root-2");
  assert.equal(start.newRoot.pathLen, 1);
  assert.equal(start.newIntermediate.id, "intermediate-3");
  assert.deepEqual(
    start.crosses.map((x) => `${x.subject}<-${x.issuer}`),
    ["intermediate-3<-root", "intermediate<-root-2", "intermediate-2<-root-2"],
  );
  // A cross certificate never outlives the root that signs it.
  assert.ok(start.crosses.every((x) => x.notAfter <= new Date(NOW.getTime() + 10 * YEAR)));
  assert.deepEqual(start.registry.trusted, ["root", "root-2"]);
  const during = config({ cas: start.registry });
  assert.throws(
    () => planRootStart(during, caOf(during), NOW, 3650, 1825),
    (e: { code?: string }) => e.code === "ERR_ROLLOVER_IN_PROGRESS",
  );
  assert.throws(
    () => planIntermediateRollover(during, caOf(during), NOW, 30),
    (e: { code?: string }) => e.code === "ERR_ROLLOVER_IN_PROGRESS",
  );
  const records = [
    rec("a1", "intermediate"),
    rec("a2", "intermediate-2", { status: "revoked" }),
    rec("a3", "intermediate-2", { notAfter: "2029-12-31T00:00:00Z" }),
    rec("b1", "intermediate-3"),
  ];
  const view = rolloverView(caOf(during), records, NOW);
  assert.equal(view.finishBlockers, 1);
  assert.deepEqual(
    view.certificates.map((c) => [c.serial, c.chain, c.due]),
    [
      ["a1", "previous-root", true],
      ["b1", "current", false],
    ],
  );
  // status stays quiet about a replaced CA's expiry once nothing valid hangs off it.
  assert.deepEqual([...supersededWithoutCerts(caOf(during), records, NOW)].sort(), ["intermediate-2"]);
  assert.deepEqual([...supersededWithoutCerts(caOf(during), [], NOW)].sort(), ["intermediate", "intermediate-2", "root"]);
  assert.deepEqual([...supersededWithoutCerts(caOf(config()), [], NOW)], [], "a store that never rolled over reports as before");
  const finish = planRootFinish(during, records, NOW);
  assert.deepEqual(
    finish.stranded.map((r) => r.serial),
    ["a1"],
  );
  assert.deepEqual(finish.retired, ["root", "intermediate", "intermediate-2"]);
  assert.deepEqual(finish.registry.trusted, ["root-2"]);
  assert.equal(finish.registry.rootRollover, undefined);
  assert.deepEqual(
    publishOrder(finish.registry).map((c) => c.id),
    ["intermediate-3", "root-2"],
  );
  assert.throws(
    () => planRootFinish(config({ cas: finish.registry }), records, NOW),
    (e: { code?: string }) => e.code === "ERR_NO_ROLLOVER",
  );
});

test("records accept CA ids of a rollover and nothing else; config.json with a damaged registry or a newer format is refused", async (t) => {
  assert.equal(checkCertRecord(rec("ab", "intermediate-12") as unknown as Record<string, unknown>), undefined);
  assert.match(checkCertRecord(rec("ab", "root-0") as unknown as Record<string, unknown>) ?? "", /issuer/);
  assert.match(checkCertRecord(rec("ab", "../root") as unknown as Record<string, unknown>) ?? "", /issuer/);
  assert.equal(isRevocation({ serial: "ab", issuer: "root-2", revokedAt: "2030-01-01T00:00:00Z", reason: "superseded", partnerId: "x" }), true);
  assert.equal(isRevocation({ serial: "ab", issuer: "ca", revokedAt: "2030-01-01T00:00:00Z", reason: "superseded", partnerId: "x" }), false);
  const d = await mkdtemp(join(tmpdir(), "mtls-unit-rollover-"));
  t.after(() => rm(d, { recursive: true, force: true }));
  const write = (c: unknown) => writeFile(join(d, "config.json"), JSON.stringify(c));
  const start = planRootStart(config(), caOf(config()), NOW, 3650, 1825);
  await write(config({ formatVersion: 2, cas: start.registry }));
  assert.equal((await readConfig(d)).cas?.issuing, "intermediate-2");
  await write(config({ formatVersion: 2, cas: { ...start.registry, issuing: "intermediate-9" } }));
  await assert.rejects(readConfig(d), /cas.issuing/);
  await write(config({ formatVersion: 2, cas: { ...start.registry, crosses: [{ subject: "root", issuer: "root-2", serial: "1", file: "../x.pem" }] } }));
  await assert.rejects(readConfig(d), /cas.crosses/);
  // A format newer than this release reads.
  await write(config({ formatVersion: TOKEN_KEYS_FORMAT_VERSION + 1 }));
  await assert.rejects(readConfig(d), (e: { code?: string }) => e.code === "ERR_STORE_VERSION");
});
