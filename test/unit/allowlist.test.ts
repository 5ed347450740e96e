// #12: the anchored DN pattern the nginx, HAProxy and Apache allow-lists use, checked against
// RFC 2253 strings as OpenSSL prints them (the live gateway tests prove the same with real peers).
import assert from "node:assert/strict";
import test from "node:test";
import { exactCnDnRegex } from "../../src/core/gateway/allowlist.js";

/** The PCRE in JavaScript syntax: \x{hh} → \u{hh}, \z → end of input. */
const js = (pcre: string) => new RegExp(pcre.replace(/\\x\{([0-9a-f]+)\}/g, "\\u{$1}").replace(/\\z$/, "$(?![\\s\\S])"), "u");

test("#12 the DN pattern admits only a subject whose one CN equals the listed value", () => {
  const a = js(exactCnDnRegex("partner-a-client"));
  for (const dn of ["CN=partner-a-client", "CN=partner-a-client,OU=Integration Team,O=Producer Organization", "C=DE,CN=partner-a-client,O=x\\,y"])
    assert.ok(a.test(dn), dn);
  for (const dn of [
    "CN=partner-d,O=partner-a-client",
    "CN=partner-d,O=evil\\,CN=partner-a-client",
    "O=evil\\,CN=partner-a-client,CN=partner-d",
    "CN=partner-a-client,CN=partner-d",
    "CN=partner-d,CN=partner-a-client",
    "O=evil+CN=partner-a-client",
    "CN=partner-a-client+O=evil",
    "CN=Partner-A-Client",
    "CN=partner-a-client2",
    "CN=xpartner-a-client",
    "CN=partner-a-client\\,O=x",
    "CN=partner-a-client\n",
  ])
    assert.ok(!a.test(dn), dn);
});

test("#12 every allowed character is matched literally and none can change a config's structure", () => {
  const cn = "b !$%&'()*-./:?@[]^_`{|}~ end";
  const re = exactCnDnRegex(cn);
  assert.ok(js(re).test(`CN=${cn},O=x`));
  assert.ok(!js(re).test(`CN=${cn.replace(".", "Z")}`), "a dot is not a wildcard");
  assert.doesNotMatch(re, /["'\s#;$%]/);
});
