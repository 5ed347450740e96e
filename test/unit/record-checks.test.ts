// Every record read back from the store is checked before anything uses it (#13): a value of
// another kind than mtls writes is a damaged store (exit 5 naming the file), never an exception
// deeper down (exit 70). The fast check of the revocation journal answers as the full one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkAuditRecord, checkCertRecord, checkPartnerRecord, checkRevocation, isRevocation, REVOCATION_REASONS } from "../../src/core/store/records.js";

const partner = { id: "p", createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z" };
const hostile: unknown[] = [5, null, true, {}, [], ["x", 3], "a\tb", "", "\u0000", "2027-02-30T00:00:00Z", "\ud800"];

test("a partner's released identities are a list of identities with the time each was released", () => {
  assert.equal(checkPartnerRecord({ ...partner, releasedIdentities: [] }), undefined);
  assert.equal(checkPartnerRecord({ ...partner, releasedIdentities: [{ identity: "dns:a.example", releasedAt: "2026-02-01T00:00:00Z" }] }), undefined);
  for (const bad of [
    ...hostile.filter((v) => !Array.isArray(v) || (v as unknown[]).length > 0),
    [{}],
    [{ identity: 5, releasedAt: "2026-02-01T00:00:00Z" }],
    [{ identity: "a", releasedAt: "2026-02-30T00:00:00Z" }],
  ])
    assert.match(checkPartnerRecord({ ...partner, releasedIdentities: bad }) ?? "", /releasedIdentities/, JSON.stringify(bad));
});

test("the revocation journal's fast check gives the full check's verdict, field by field and value by value", () => {
  const good = { serial: "ab", issuer: "intermediate", revokedAt: "2026-03-01T00:00:00Z", reason: "keyCompromise", partnerId: "p" };
  assert.equal(isRevocation(good), true);
  for (const field of Object.keys(good))
    for (const value of [...hostile, "ff", "intermediate-2", "2026-03-01T00:00:00.5Z", "superseded", "certificateHold", "KeyCompromise", "unspecifieD"]) {
      const v = { ...good, [field]: value };
      assert.equal(isRevocation(v), checkRevocation(v) === undefined, `${field}: ${JSON.stringify(value)}`);
    }
});

test("an audit record has the fields every record has, text where it is printed, and none mtls never wrote", () => {
  const good = { seq: 3, time: "2026-03-01T00:00:00Z", actor: "ops@host", action: "cert.issue", outcome: "ok", prev: "0".repeat(64) };
  assert.equal(checkAuditRecord(good), undefined, "partner, serial and details are optional: some actions name none");
  assert.equal(checkAuditRecord({ ...good, partner: "p", serial: "ab", details: { reason: "superseded", number: 2, dryRun: false } }), undefined);
  for (const field of ["actor", "outcome"]) {
    const { [field]: _gone, ...without } = good as Record<string, unknown>;
    assert.match(checkAuditRecord(without) ?? "", new RegExp(field), `${field} missing`);
  }
  for (const field of ["actor", "outcome", "partner", "serial"])
    for (const bad of hostile.filter((v) => typeof v !== "string"))
      assert.match(checkAuditRecord({ ...good, [field]: bad }) ?? "", new RegExp(field), `${field}: ${JSON.stringify(bad)}`);
  for (const bad of [5, null, "x", [], { a: {} }, { a: [1] }, { a: null }])
    assert.match(checkAuditRecord({ ...good, details: bad }) ?? "", /details/, JSON.stringify(bad));
  // A misspelt name in the newest record: no later record's hash covers it.
  for (const line of ['"actr":"ops@host"', '"detail":{}', '"__proto__":{}'].map((f) => `{${JSON.stringify(good).slice(1, -1)},${f}}`))
    assert.match(checkAuditRecord(JSON.parse(line)) ?? "", /is not a field mtls writes/, line);
});

test("a revocation's reason, in the journal or copied into the index, is one mtls revokes with; the index's revocation time is a time", () => {
  const revocation = { serial: "ab", issuer: "intermediate", revokedAt: "2026-03-01T00:00:00Z", reason: "keyCompromise", partnerId: "p" };
  const record = {
    serial: "ab",
    partnerId: "p",
    subject: "CN=p",
    sans: [],
    notBefore: "2026-01-01T00:00:00Z",
    notAfter: "2026-04-01T00:00:00Z",
    issuedAt: "2026-01-01T00:00:00Z",
    fingerprint: "sha256:00",
    issuer: "intermediate",
    certPath: "certs/ab.pem",
    status: "revoked",
    revokedAt: "2026-03-01T00:00:00Z",
  };
  for (const reason of REVOCATION_REASONS) {
    assert.equal(checkRevocation({ ...revocation, reason }), undefined, reason);
    assert.equal(checkCertRecord({ ...record, revocationReason: reason }), undefined, reason);
  }
  for (const bad of ["certificateHold", "removeFromCRL", "KeyCompromise", "cessationOfOperatioo", "", 1]) {
    assert.match(checkRevocation({ ...revocation, reason: bad }) ?? "", /"reason" is not a revocation reason/, String(bad));
    assert.match(checkCertRecord({ ...record, revocationReason: bad }) ?? "", /"revocationReason" is not a revocation reason/, String(bad));
  }
  for (const bad of ["2026-03-01T00:00;00Z", "2026-02-30T00:00:00Z", 5])
    assert.match(checkCertRecord({ ...record, revokedAt: bad }) ?? "", /"revokedAt" is not a time/, String(bad));
});
