// #12: the subject policy on raw DER Names (shapes openssl will not make), and the identity key.
import assert from "node:assert/strict";
import test from "node:test";
import { oid, seq, tlv } from "../../src/core/der.js";
import { identityKey } from "../../src/core/identity/registry.js";
import { commonNamesOf, subjectPolicyProblem } from "../../src/core/identity/subject-policy.js";

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
