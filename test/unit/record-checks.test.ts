// Every record read back from the store is checked before anything uses it (#13): a value of
// another kind than mtls writes is a damaged store (exit 5 naming the file), never an exception
// deeper down (exit 70). The fast check of the revocation journal answers as the full one.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkAuditRecord, checkPartnerRecord, checkRevocation, isRevocation } from "../../src/core/store/records.js";

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
    for (const value of [...hostile, "ff", "intermediate-2", "2026-03-01T00:00:00.5Z"]) {
      const v = { ...good, [field]: value };
      assert.equal(isRevocation(v), checkRevocation(v) === undefined, `${field}: ${JSON.stringify(value)}`);
    }
});

test("an audit record's actor, outcome, partner and serial, printed as they are, are text when there", () => {
  const good = { seq: 3, time: "2026-03-01T00:00:00Z", action: "cert.issue", prev: "0".repeat(64) };
  assert.equal(checkAuditRecord(good), undefined, "records without them (some actions name no partner) stay readable");
  assert.equal(checkAuditRecord({ ...good, actor: "ops@host", outcome: "ok", partner: "p", serial: "ab" }), undefined);
  for (const field of ["actor", "outcome", "partner", "serial"])
    for (const bad of hostile.filter((v) => typeof v !== "string"))
      assert.match(checkAuditRecord({ ...good, [field]: bad }) ?? "", new RegExp(field), `${field}: ${JSON.stringify(bad)}`);
});
