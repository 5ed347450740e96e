// #12: the subject policy on raw DER Names (shapes openssl will not make), and the identity key.
import assert from "node:assert/strict";
import test from "node:test";
import { oid, seq, tlv } from "../../src/core/der.js";
import { assertIdentitiesAvailable, IdentityOwners, identityKey } from "../../src/core/identity/registry.js";
import { commonNamesOf, subjectPolicyProblem } from "../../src/core/identity/subject-policy.js";
import type { CertRecord } from "../../src/core/store/index-file.js";
import type { PartnerRecord } from "../../src/core/store/partners.js";

const atv = (o: string, value: string, tag = 0x0c) => seq(oid(o), tlv(tag, Buffer.from(value, tag === 0x1e ? "utf16le" : "utf8")));
const rdn = (...atvs: Buffer[]) => tlv(0x31, Buffer.concat(atvs));
const name = (...rdns: Buffer[]) => seq(...rdns);
const CN = "2.5.4.3";
const O = "2.5.4.10";

test("#12 the seed subject passes; lengths follow RFC 5280 upper bounds", () => {
  const seed = name(rdn(atv(O, "Producer Organization")), rdn(atv("2.5.4.11", "Integration Team")), rdn(atv(CN, "producer-api-client")));
  assert.equal(subjectPolicyProblem(seed), undefined);
  assert.deepEqual(commonNamesOf(seed), ["producer-api-client"]);
  assert.match(subjectPolicyProblem(name(rdn(atv(O, "o".repeat(65))))) ?? "", /O is longer than 64/);
  assert.match(subjectPolicyProblem(name(rdn(atv("2.5.4.7", "l".repeat(129))))) ?? "", /L is longer than 128/);
  assert.equal(subjectPolicyProblem(name(rdn(atv("2.5.4.7", "l".repeat(128))))), undefined);
});

test("#12 structures and characters the policy refuses, each named", () => {
  assert.match(subjectPolicyProblem(name(rdn(atv(O, "x"), atv(CN, "a")))) ?? "", /multi-valued RDN \(O\+CN\)/);
  assert.match(subjectPolicyProblem(name(rdn(atv(CN, "a")), rdn(atv(CN, "b")))) ?? "", /more than one CN/);
  assert.match(subjectPolicyProblem(name(rdn(atv("1.2.840.113549.1.9.1", "a@b")))) ?? "", /emailAddress/);
  assert.match(subjectPolicyProblem(name(rdn(atv(CN, "")))) ?? "", /CN is empty/);
  // A BMPString decodes before the check: a lookalike in UCS-2 is still refused.
  const bmp = tlv(0x1e, Buffer.from("a\u202eb", "utf16le").swap16());
  assert.match(subjectPolicyProblem(name(rdn(seq(oid(CN), bmp)))) ?? "", /U\+202E/);
  assert.match(subjectPolicyProblem(name(...Array.from({ length: 17 }, (_, i) => rdn(atv("2.5.4.11", `u${i}`))))) ?? "", /at most 16/);
});

test("#12 identities compare case-insensitively after trimming", () => {
  assert.equal(identityKey("  Partner-A-Client "), identityKey("partner-a-client"));
  assert.notEqual(identityKey("partner-a-client2"), identityKey("partner-a-client"));
  assert.equal(identityKey("0:0:0:0:0:0:0:1"), identityKey("::1"));
  assert.equal(identityKey("2001:DB8::0:1"), identityKey("2001:db8::1"));
});

test("#12 one identity in any spelling another reader takes for it: the root's dot, RFC 3986 normalisation, IPv4-mapped addresses", () => {
  const same: Array<[string, string]> = [
    ["api.acme.example.", "api.acme.example"],
    ["acme-client.", "acme-client"],
    ["ops@acme.example.", "ops@acme.example"],
    ["spiffe://fleet.example/./acme", "spiffe://fleet.example/acme"],
    ["spiffe://fleet.example/x/../acme", "spiffe://fleet.example/acme"],
    ["spiffe://fleet.example:/acme", "spiffe://fleet.example/acme"],
    ["spiffe://fleet.example/%61cme", "spiffe://fleet.example/acme"],
    ["spiffe://fleet.example/%2e%2e/acme", "spiffe://fleet.example/acme"],
    ["spiffe://Fleet.Example./acme/", "spiffe://fleet.example/acme"],
    ["spiffe://fleet.example//acme?#", "spiffe://fleet.example/acme"],
    ["https://api.acme.example:443/client", "https://API.acme.example/client"],
    ["https://0x7f.1/client", "https://127.0.0.1/client"],
    ["::ffff:10.0.0.1", "10.0.0.1"],
    ["0:0:0:0:0:ffff:a00:1", "10.0.0.1"],
  ];
  for (const [variant, name] of same) assert.equal(identityKey(variant), identityKey(name), variant);
  const different: Array<[string, string]> = [
    ["spiffe://fleet.example/acme2", "spiffe://fleet.example/acme"],
    ["spiffe://fleet.example/a%2fb", "spiffe://fleet.example/a/b"],
    ["spiffe://other.example/acme", "spiffe://fleet.example/acme"],
    ["64:ff9b::a00:1", "10.0.0.1"],
    ["api.acme.example.org", "api.acme.example"],
  ];
  for (const [a, b] of different) assert.notEqual(identityKey(a), identityKey(b), a);
});

const record = (serial: string, partnerId: string, issuedAt: string, status: "valid" | "revoked"): CertRecord =>
  ({
    serial,
    partnerId,
    issuedAt,
    status,
    notAfter: "2027-12-01T00:00:00Z",
    subject: "CN=shared-id",
    commonNames: ["shared-id"],
    sans: [],
  }) as unknown as CertRecord;

test("#12 a release covers the certificates it names: one issued in the same second after it reserves the identity again", () => {
  const second = "2026-12-07T10:00:00Z";
  const records = [record("a1", "alpha", "2026-12-07T09:00:00Z", "revoked"), record("a2", "alpha", second, "valid")];
  const alpha = (release: { identity: string; releasedAt: string; serials?: string[] }): PartnerRecord => ({
    id: "alpha",
    createdAt: second,
    updatedAt: second,
    releasedIdentities: [release],
  });
  const registry = { partners: { alpha: alpha({ identity: "shared-id", releasedAt: second, serials: ["a1"] }) } };
  assert.deepEqual(
    IdentityOwners.build(records, registry)
      .claimsOf("shared-id")
      .map((c) => [c.partnerId, c.active, c.serials]),
    [["alpha", true, ["a2"]]],
  );
  assert.throws(
    () => assertIdentitiesAvailable({ records, registry, partnerId: "beta", identities: [{ type: "cn", value: "shared-id" }] }),
    /belongs to partner alpha/,
  );
  // A release recorded before releases named their certificates covers what was issued up to its second.
  const legacy = { partners: { alpha: alpha({ identity: "shared-id", releasedAt: second }) } };
  assert.deepEqual(IdentityOwners.build(records, legacy).claimsOf("shared-id"), []);
});
