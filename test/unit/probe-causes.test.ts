// #22: likely causes follow the evidence; each names what to check.
import assert from "node:assert/strict";
import test from "node:test";
import { gnupgAlgorithmName } from "../../src/cli/pgp-names.js";
import { likelyCauses, markNotOffered } from "../../src/core/probe/causes.js";
import type { AttemptResult } from "../../src/core/probe/probe.js";

const NOW = new Date("2026-06-01T00:00:00Z");
const attempt = (o: Partial<AttemptResult> & Pick<AttemptResult, "evidence">): AttemptResult => ({
  scenario: "valid",
  tls: "1.2",
  expected: "accept",
  observed: "rejected",
  verdict: "fail",
  durationMs: 1,
  ...o,
});
const causes = (evidence: AttemptResult["evidence"], extra: Partial<Parameters<typeof likelyCauses>[1]> = {}) =>
  likelyCauses([attempt({ evidence })], { servername: "gw.example", now: NOW, notOffered: [], ...extra });

test("each kind of evidence gets its own cause, and only that one", () => {
  assert.ok(
    causes({ summary: "something unforeseen" }).some((c) => /missing intermediate/.test(c)),
    "unexplained evidence gets the checklist",
  );
  assert.equal(likelyCauses([attempt({ verdict: "pass", observed: "accepted", evidence: { summary: "HTTP 200" } })], { now: NOW, notOffered: [] }).length, 0);
  const forbidden = causes({ httpStatus: 403, httpText: "Forbidden", summary: "HTTP 403 Forbidden" });
  assert.equal(forbidden.length, 1);
  assert.match(forbidden[0] as string, /allow-list/);
  assert.match(causes({ alert: { code: 48, name: "unknown ca" }, summary: "" })[0] as string, /ca-bundle\.pem/);
  assert.match(causes({ alert: { code: 116, name: "certificate required" }, summary: "" })[0] as string, /did not receive the client certificate/);
  assert.match(causes({ alert: { code: 44, name: "certificate revoked" }, summary: "" })[0] as string, /says the certificate is revoked/);
  assert.match(causes({ alert: { code: 45, name: "certificate expired" }, summary: "" })[0] as string, /expired CRL/);
  const generic = causes({ errno: "ECONNRESET", summary: "ECONNRESET after the handshake" });
  assert.ok(generic.some((c) => /missing intermediate/.test(c)) && generic.some((c) => /crl-bundle\.pem/.test(c)) && generic.some((c) => /error log/.test(c)));
  assert.ok(!generic.some((c) => /SNI/.test(c)), "SNI was sent");
  assert.ok(causes({ errno: "EOF", summary: "" }, { servername: undefined }).some((c) => /no SNI was sent/.test(c)));
});

test("facts about the presented certificate come first; an expired --cert is not blamed on the CRL", () => {
  const presented = { serial: "ab12", subject: "CN=acme", notAfter: new Date("2026-05-01T00:00:00Z") };
  const expired = causes({ alert: { code: 45, name: "certificate expired" }, summary: "" }, { presented });
  assert.equal(expired.length, 1);
  assert.match(expired[0] as string, /--cert \(serial ab12\) expired on 2026-05-01/);
  const revoked = causes(
    { httpStatus: 400, httpText: "The SSL certificate error", summary: "" },
    {
      presented: {
        ...presented,
        notAfter: new Date("2027-01-01T00:00:00Z"),
        revoked: { partnerId: "acme", at: "2026-05-20T00:00:00Z", reason: "keyCompromise" },
      },
      knowsRevocations: true,
    },
  );
  assert.equal(revoked.length, 1, revoked.join("\n"));
  assert.match(revoked[0] as string, /is revoked since 2026-05-20T00:00:00Z \(keyCompromise\): check `mtls partner show acme`/);
});

test("a TLS version answered with protocol_version is not offered: skipped, unless nothing was offered", () => {
  const pv = { alert: { code: 70, name: "protocol version" }, summary: "TLS alert 70 protocol version" };
  const attempts = [
    attempt({ tls: "1.2", verdict: "pass", observed: "accepted", evidence: { summary: "HTTP 200" } }),
    attempt({ tls: "1.3", evidence: pv }),
    attempt({ tls: "1.3", scenario: "no-cert", expected: "reject", verdict: "pass", evidence: pv }),
  ];
  assert.deepEqual(markNotOffered(attempts), ["1.3"]);
  assert.deepEqual(
    attempts.map((a) => a.verdict),
    ["pass", "skipped", "skipped"],
  );
  assert.match(attempts[1]?.evidence.summary ?? "", /^TLS 1\.3 not offered by the gateway/);
  const only = [attempt({ tls: "1.3", evidence: pv })];
  assert.deepEqual(markNotOffered(only), ["1.3"]);
  assert.equal(only[0]?.verdict, "fail", "nothing proven when no version was offered");
  assert.match(likelyCauses(only, { now: NOW, notOffered: ["1.3"], servername: "x" })[0] as string, /TLS 1\.3 not offered.*--tls 1\.2/);
});

test("OpenPGP.js algorithm labels read as GnuPG's", () => {
  const cases: Array<[string, string]> = [
    ["rsaEncryptSign-3072", "rsa3072"],
    ["rsaSign-4096", "rsa4096"],
    ["eddsaLegacy/ed25519Legacy", "ed25519"],
    ["ecdh/curve25519Legacy", "cv25519"],
    ["ecdsa/nistP256", "nistp256"],
    ["ecdh/brainpoolP384r1", "brainpoolP384r1"],
    ["x448", "cv448"],
    ["dsa-2048", "dsa2048"],
    ["elgamal-3072", "elg3072"],
  ];
  for (const [label, name] of cases) assert.equal(gnupgAlgorithmName(label), name, label);
});
