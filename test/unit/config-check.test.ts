// config.json is checked whole when read: every setting mtls writes, each of its kind, nothing
// else. A setting misspelt or dropped must not read as unset (a lost publishDir stops CRL copies).
import assert from "node:assert/strict";
import { test } from "node:test";
import { configProblem } from "../../src/core/store/config-check.js";

const T = "2026-01-01T00:00:00Z";
const minimal = {
  formatVersion: 1,
  createdAt: T,
  ca: { name: "Acme", keyType: "ec-p256", intermediate: true },
  policy: { defaultDays: 90, maxDays: 398, warnDays: 30 },
  crl: { validityDays: 7 },
};
/** Every setting some command writes, after a root rollover in progress. */
const full = {
  formatVersion: 3,
  createdAt: T,
  ca: {
    name: "Acme",
    org: "Acme Corp",
    keyType: "rsa-3072",
    intermediate: true,
    crlUrl: "http://pki.example.com/crl/intermediate.crl",
    ocspUrl: "https://pki.example.com:8443/ocsp",
    keyStore: {
      root: "pkcs11:token=acme;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so",
      intermediate: "pkcs11:token=acme;id=%01?module-path=/usr/lib/softhsm/libsofthsm2.so",
    },
  },
  policy: { defaultDays: 90, maxDays: 398, warnDays: 1, overlapDays: 14, notifyDays: [30, 7], notifyOperators: ["ops@acme.example"] },
  crl: { validityDays: 7, publishDir: "/srv/www/crl" },
  delivery: { signingKeyFingerprint: "A".repeat(40), userId: "Acme PKI <pki@acme.example>" },
  canary: { serial: "0a1b", revokedAt: T },
  ocspCanary: { serial: "ff", revokedAt: T },
  cas: {
    list: [
      { id: "root", kind: "root", createdAt: T },
      { id: "intermediate", kind: "intermediate", parent: "root", createdAt: T, retiredAt: T },
      { id: "root-2", kind: "root", createdAt: T },
      { id: "intermediate-2", kind: "intermediate", parent: "root-2", createdAt: T },
    ],
    issuing: "intermediate-2",
    trusted: ["root", "root-2"],
    crosses: [{ subject: "root-2", issuer: "root", serial: "01", file: "cross-root-2-by-root.pem" }],
    rootRollover: { from: "root", to: "root-2", startedAt: T },
    history: [{ step: "root start", at: T, ca: "root-2" }],
  },
};

/** Every object in `v` with the path to it ("" for the top). */
function objectsOf(v: unknown, at = ""): Array<[string, Record<string, unknown>]> {
  if (v === null || typeof v !== "object") return [];
  const own: Array<[string, Record<string, unknown>]> = Array.isArray(v) ? [] : [[at, v as Record<string, unknown>]];
  return [...own, ...Object.entries(v).flatMap(([k, x]) => objectsOf(x, Array.isArray(v) ? `${at}[${k}]` : at ? `${at}.${k}` : k))];
}

const objectAt = (v: unknown, path: string) => (objectsOf(v).find(([p]) => p === path) ?? ["", {}])[1];

test("what mtls writes passes: the configuration ca init writes and one holding every setting", () => {
  assert.equal(configProblem(minimal), undefined);
  assert.equal(configProblem(full), undefined);
});

test("every field renamed is named as a setting mtls does not write, and every required one removed as missing", () => {
  const optional: Record<string, string[]> = {
    "": ["delivery", "canary", "ocspCanary", "cas"],
    ca: ["org", "crlUrl", "ocspUrl", "keyStore"],
    "ca.keyStore": ["root", "intermediate"],
    policy: ["overlapDays", "notifyDays", "notifyOperators"],
    crl: ["publishDir"],
    cas: ["crosses", "rootRollover", "history"],
  };
  for (const [path, obj] of objectsOf(full)) {
    for (const key of Object.keys(obj)) {
      const name = path ? `${path}.${key}` : key;
      const renamed = structuredClone(full);
      const target = objectAt(renamed, path);
      target[`${key}x`] = target[key];
      delete target[key];
      const problem = configProblem(renamed) ?? "";
      // A required field renamed may be reported as missing first: either names it. The key
      // store's fields are CA ids.
      const unknown = path === "ca.keyStore" ? "is not a CA of this store" : "is not a setting mtls writes";
      assert.match(problem, new RegExp(`(${escaped(name)} is missing|${escaped(`${name}x`)} ${unknown})`), name);
      const removed = structuredClone(full);
      delete objectAt(removed, path)[key];
      const gone = configProblem(removed);
      const mayGo = (optional[path.replace(/\[\d+\]$/, "")] ?? []).includes(key) || (path.startsWith("cas.list") && key === "retiredAt");
      if (mayGo) assert.equal(gone, undefined, `${name} is optional`);
      else assert.ok(gone, `${name} removed`);
    }
  }
});

const escaped = (s: string) => s.replace(/[.[\]()]/g, "\\$&");

test("a value of another kind or out of range is named with the setting", () => {
  const url = ["ftp://pki.example/crl", "http://pki.example/a b", "http://pki.example/\u00e9", "http://", "http://pki.example/\n", 5];
  const bad: Array<[string, unknown[]]> = [
    ["formatVersion", [0, 1.5, "1"]],
    ["createdAt", ["2026-02-30T00:00:00Z", "yesterday", 5]],
    ["ca.name", ["", 5, null]],
    ["ca.keyType", ["ec-p25d", "EC-P256", 256]],
    ["ca.intermediate", ["true", 1, null]],
    ["ca.crlUrl", url],
    ["ca.ocspUrl", url],
    ["ca.keyStore.root", ["file:/x", 5, "pkcs11:token=gone", "pkcs11:token=acme?module-path=/usr/lib/softhsm/libsofthsm2.so", "pkcs11:%zz;;=="]],
    ["policy.defaultDays", [0, -1, 1.5, "90", null]],
    ["policy.maxDays", [398.5, "398"]],
    ["policy.warnDays", [-1, 2.5, "30"]],
    ["policy.overlapDays", [0, "14"]],
    ["policy.notifyDays", [[0], ["7"], 7]],
    ["policy.notifyOperators", [[""], [5], "ops@acme.example"]],
    ["crl.validityDays", [0, "7"]],
    ["crl.publishDir", ["", 5]],
    ["delivery.signingKeyFingerprint", ["ABC", "a".repeat(40), 5]],
    ["canary.serial", ["XY", "", "0x1f", 5]],
    ["ocspCanary.revokedAt", ["2026-13-01T00:00:00Z", T.replace("Z", "")]],
    ["cas.issuing", ["leaf", 5]],
    ["cas.list", [[]]],
  ];
  for (const [name, values] of bad)
    for (const value of values) {
      const c = structuredClone(full) as Record<string, unknown>;
      const keys = name.split(".");
      const last = keys.pop() as string;
      (keys.reduce((o, k) => o[k] as Record<string, unknown>, c) as Record<string, unknown>)[last] = value;
      assert.match(configProblem(c) ?? "", new RegExp(`^${escaped(name)} is not`), `${name}: ${JSON.stringify(value)}`);
    }
  assert.equal(configProblem({ ...full, policy: { ...full.policy, defaultDays: 399 } }), "policy.defaultDays exceeds policy.maxDays");
});

test("a revocation URL stored as typed by an earlier release (a query, an upper-case scheme) is read; gateway config checks it where it renders it", () => {
  for (const crlUrl of ["HTTP://PKI.Example.com/crl?ca=intermediate", "http://pki.example/crl;x"])
    assert.equal(configProblem({ ...full, ca: { ...full.ca, crlUrl } }), undefined, crlUrl);
});

test("the CA registry's own rules: ids unique, kinds matching ids, parents earlier, the issuing CA and trusted roots in the list", () => {
  const withCas = (cas: Partial<typeof full.cas>) => configProblem({ ...full, cas: { ...full.cas, ...cas } });
  const list = full.cas.list;
  assert.match(withCas({ list: [...list, list[0] as (typeof list)[0]] }) ?? "", /repeats CA root/);
  assert.match(withCas({ list: [{ id: "root", kind: "intermediate", createdAt: T }] }) ?? "", /CA root has kind intermediate/);
  assert.match(withCas({ list: [list[1] as (typeof list)[0], list[0] as (typeof list)[0]] }) ?? "", /names no earlier root/);
  assert.match(withCas({ issuing: "intermediate-3" }) ?? "", /cas\.issuing is not one of the CAs/);
  assert.match(withCas({ trusted: ["intermediate"] }) ?? "", /cas\.trusted is not a list of roots/);
  assert.match(withCas({ crosses: [{ ...(full.cas.crosses[0] as (typeof full.cas.crosses)[0]), issuer: "root-3" }] }) ?? "", /cas\.crosses names a CA/);
  assert.match(withCas({ crosses: [{ ...(full.cas.crosses[0] as (typeof full.cas.crosses)[0]), file: "../x.pem" }] }) ?? "", /cas\.crosses\[0\]\.file is not/);
  assert.match(withCas({ rootRollover: { from: "root", to: "root-9", startedAt: T } }) ?? "", /cas\.rootRollover names a root that is not in cas\.list/);
  assert.match(withCas({ rootRollover: { from: "root", to: "intermediate-2", startedAt: T } }) ?? "", /cas\.rootRollover names a root/);
  assert.match(withCas({ trusted: ["root-2"] }) ?? "", /cas\.rootRollover\.from is not a trusted root/);
  assert.match(withCas({ trusted: ["root"] }) ?? "", /cas\.rootRollover\.to is not a trusted root/);
  assert.match(withCas({ history: [{ step: "root start", at: T, ca: "root-4" }] }) ?? "", /cas\.history names a CA that is not in cas\.list/);
});

test("the key store names CAs of the store: any CA of the registry, else the hierarchy ca init made", () => {
  const keyStore = (ks: Record<string, unknown>, over: Record<string, unknown> = full) =>
    configProblem({ ...over, ca: { ...(over.ca as object), keyStore: ks } });
  const uri = "pkcs11:token=acme;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so";
  assert.equal(keyStore({ "root-2": uri, "intermediate-2": uri }), undefined);
  assert.match(keyStore({ "intermediate-3": uri }) ?? "", /^ca\.keyStore\.intermediate-3 is not a CA of this store$/);
  assert.match(keyStore({ "intermediate-2": "file:/x" }) ?? "", /^ca\.keyStore\.intermediate-2 is not a pkcs11: URI of a key$/);
  // Without a registry: the root, and the intermediate when there is one.
  assert.equal(keyStore({ root: uri, intermediate: uri }, minimal), undefined);
  assert.match(keyStore({ "intermediate-2": uri }, minimal) ?? "", /intermediate-2 is not a CA of this store/);
  const single = { ...minimal, ca: { ...minimal.ca, intermediate: false } };
  assert.match(keyStore({ intermediate: uri }, single) ?? "", /ca\.keyStore\.intermediate is not a CA of this store/);
  assert.match(keyStore({ constructor: uri }) ?? "", /ca\.keyStore\.constructor is not a CA/);
});

test("not an object, or a field JSON.parse makes from __proto__, is damage", () => {
  for (const v of [null, [], "x", 5]) assert.match(configProblem(v) ?? "", /is not an object/);
  assert.match(configProblem(JSON.parse(`{"__proto__":{},${JSON.stringify(minimal).slice(1)}`)) ?? "", /__proto__ is not a setting/);
});
