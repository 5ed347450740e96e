import assert from "node:assert/strict";
import test from "node:test";
import { parseSerial, randomSerial, validatePartnerId } from "../../src/core/ids.js";
import { dedupeSans, formatSan, parseSan } from "../../src/core/sans.js";
import { DAY, HOUR, parseDuration } from "../../src/core/time.js";

test("parseSan accepts the four types and refuses values that are not what they claim", () => {
  assert.deepEqual(parseSan("dns:api.partner.example"), { type: "dns", value: "api.partner.example" });
  assert.deepEqual(parseSan("uri:spiffe://example.org/ns/prod/sa/partner"), { type: "uri", value: "spiffe://example.org/ns/prod/sa/partner" });
  assert.deepEqual(parseSan("email:ops@partner.example"), { type: "email", value: "ops@partner.example" });
  assert.deepEqual(parseSan("ip:::1"), { type: "ip", value: "::1" });
  for (const bad of [
    "dns:has space.example",
    "dns:-x.example",
    "dns:*.example.com",
    "uri:no-scheme",
    "uri:spiffe://td:8080/x",
    "email:nobody",
    "ip:999.1.1.1",
    "x500:foo",
    "dns:",
    // Spellings another reader takes for a different form of the same name (#12).
    "dns:api.partner.example.",
    "email:ops@partner.example.",
    "ip:::ffff:10.0.0.1",
    "ip:0:0:0:0:0:ffff:a00:1",
    // SPIFFE IDs as the SPIFFE ID specification has them, and nothing else.
    "uri:spiffe://td/./acme",
    "uri:spiffe://td/x/../acme",
    "uri:spiffe://td:/acme",
    "uri:spiffe://td/%61cme",
    "uri:spiffe://td/acme/",
    "uri:spiffe://td/acme?",
    "uri:spiffe://td/acme#",
    "uri:spiffe://td//acme",
    "uri:spiffe://td./acme",
    "uri:spiffe://TD/acme",
    "uri:spiffe://user@td/acme",
    "uri:spiffe:///acme",
  ]) {
    assert.throws(
      () => parseSan(bad),
      (e: Error & { code?: string }) => e.code === "ERR_SAN" && e.message.includes(bad),
      bad,
    );
  }
});

test("#12 SPIFFE IDs of the specification's shape and IPv6 addresses that are no IPv4 address pass", () => {
  for (const ok of [
    "uri:spiffe://td",
    "uri:spiffe://fleet.example/ns/prod/sa/Web_1.v2",
    "uri:spiffe://a-b_c.example/x...y",
    "ip:::ffff",
    "ip:64:ff9b::10.0.0.1",
  ])
    assert.equal(formatSan(parseSan(ok)), ok.replace("::10.0.0.1", "::a00:1"), ok);
});

test("dedupeSans keeps the first of case-insensitive DNS duplicates", () => {
  assert.deepEqual(
    dedupeSans([
      { type: "dns", value: "A.example" },
      { type: "dns", value: "a.example" },
      { type: "uri", value: "spiffe://x/y" },
    ]),
    [
      { type: "dns", value: "A.example" },
      { type: "uri", value: "spiffe://x/y" },
    ],
  );
});

test("partner ids: a safe file-name alphabet only", () => {
  for (const ok of ["acme", "acme-payments", "a.b_c-1", "0day"]) assert.equal(validatePartnerId(ok), ok);
  for (const bad of ["", "../x", "a/b", "A", "a b", "x\u0000y", ".hidden", "-x", "a..b", "a".repeat(65)]) {
    assert.throws(() => validatePartnerId(bad), /invalid partner id/, JSON.stringify(bad));
  }
});

test("random serials are 32 hex digits, positive, without a leading zero, and distinct", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const s = randomSerial();
    assert.match(s, /^[1-7][0-9a-f]{31}$/);
    seen.add(s);
  }
  assert.equal(seen.size, 5000);
  assert.equal(parseSerial("0x00:AB:cd"), "abcd");
  assert.throws(() => parseSerial("xyz"), /invalid serial/);
});

test("parseDuration understands units and a bare number in the given unit", () => {
  assert.equal(parseDuration("30d", "w"), 30 * DAY);
  assert.equal(parseDuration("12h", "w"), 12 * HOUR);
  assert.equal(parseDuration("5", "t", "s"), 5000);
  assert.equal(parseDuration("2w", "w"), 14 * DAY);
  for (const bad of ["", "soon", "-1d", "0", "1y"]) assert.throws(() => parseDuration(bad, "window"), /invalid window/);
});

test("an address SAN takes the form a certificate's reader prints: the same bytes, one spelling", () => {
  for (const [typed, canonical] of [
    ["ip:2001:DB8:0:0::1", "2001:db8::1"],
    ["ip:2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["ip:0:0:0:0:0:0:0:1", "::1"],
    ["ip:fe80:0:0:1:0:0:0:1", "fe80:0:0:1::1"],
    ["ip:2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["ip:10.0.0.1", "10.0.0.1"],
    ["ip:64:ff9b::10.0.0.1", "64:ff9b::a00:1"],
  ] as const)
    assert.equal(parseSan(typed).value, canonical, typed);
  assert.deepEqual(
    dedupeSans([parseSan("ip:2001:DB8::1"), parseSan("ip:2001:db8:0::1")]).map((s) => s.value),
    ["2001:db8::1"],
  );
  assert.throws(() => parseSan("ip:fe80::1%eth0"), /zone/);
});
