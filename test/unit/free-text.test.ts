// Text a partner or an operator chooses (names, contacts, subjects, a gateway URL) is refused at
// input when it holds a character a terminal acts on or draws as nothing, and escaped on every way
// out (terminal, --json, the HTML report, the bundle's README) for stores that hold it already.
import assert from "node:assert/strict";
import test from "node:test";
import { checkGatewayUrl } from "../../src/core/bundle/gateway-url.js";
import { safeDeep, safeJson, safeText, safeValue } from "../../src/core/display-text.js";
import { MtlsError } from "../../src/core/errors.js";
import { inert } from "../../src/core/notify/message.js";
import { checkPartnerContact, checkPartnerName } from "../../src/core/partners/fields.js";
import { escapeHtml } from "../../src/core/report/escape.js";
import { renderTemplate } from "../../src/core/templates.js";

/** Default-ignorable and other invisible characters the C0/C1/bidi/zero-width ranges leave out. */
const INVISIBLE = ["\u00ad", "\u034f", "\u115f", "\u17b4", "\u180e", "\u3164", "\ufe0f", "\uffa0", "\u{1d173}", "\u{e0020}", "\u{e0041}", "\ufff9"];

const rawLeft = (s: string) => [...s].filter((c) => /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/u.test(c) && c !== "\n" && c !== "\t");

test("safeValue, safeText and notify's inert show every invisible character as \\u{…}", () => {
  for (const c of INVISIBLE) {
    const cp = (c.codePointAt(0) as number).toString(16);
    for (const f of [safeValue, safeText, inert]) assert.equal(f(`acme${c}-client`), `acme\\u{${cp}}-client`, `U+${cp} by ${f.name}`);
  }
  // The CN that read as "acme-client" in `mtls inspect`.
  assert.equal(safeValue("acme\u00ad-cli\u180eent\u{e0020}"), "acme\\u{ad}-cli\\u{180e}ent\\u{e0020}");
  assert.equal(safeText("two\nlines\tand \u001b[2J"), "two\nlines\tand \\u{1b}[2J");
  assert.equal(safeValue("two\nlines"), "two\\u{a}lines");
  assert.deepEqual(safeDeep({ a: ["x\u2066y"], b: 1 }), { a: ["x\\u{2066}y"], b: 1 });
  for (const plain of ["Müller & Söhne", "東京", "naïve café", "emoji 🔐"]) assert.equal(safeValue(plain), plain);
});

test("every code point is escaped or kept as the character classes say, printable ASCII included", () => {
  const escapes = (c: string, keep: string) => c !== keep && /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u.test(c);
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    const esc = `\\u{${cp.toString(16)}}`;
    assert.equal(safeValue(`a${c}`), escapes(c, "") ? `a${esc}` : `a${c}`, `U+${cp.toString(16)} by safeValue`);
    assert.equal(safeText(`a${c}`), escapes(c, "") && c !== "\n" && c !== "\t" ? `a${esc}` : `a${c}`, `U+${cp.toString(16)} by safeText`);
  }
});

test("safeJson writes invisible characters as \\u escapes (surrogate pairs beyond the BMP) and keeps the same JSON", () => {
  const value = { name: `a${INVISIBLE.join("")}\u202e\u0085z`, list: ["\u{e0020}"] };
  const text = safeJson(JSON.stringify(value, null, 2));
  assert.deepEqual(JSON.parse(text), value);
  assert.deepEqual(rawLeft(text), []);
  assert.match(text, /\\udb40\\udc20/);
});

test("the HTML report's escaping also neutralises controls, bidi overrides and invisible characters", () => {
  assert.equal(escapeHtml("Acme\u001b[2J\u202e<b>&\u00ad"), "Acme\\u{1b}[2J\\u{202e}&#60;b&#62;&#38;\\u{ad}");
  assert.equal(escapeHtml(undefined), "");
});

/** The MtlsError `fn` throws, with its exit code, code and message. */
function refusal(fn: () => unknown): { exit: number; code: string; message: string } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MtlsError, String(err));
    return { exit: err.exit, code: err.code, message: err.message };
  }
  assert.fail("no error thrown");
}

test("a partner's name and contact refuse control, bidi and invisible characters (exit 3, naming the field and the character)", () => {
  const cases: Array<[string, string]> = [
    ["Acme\u001b]0;owned\u0007", "the control character U+001B"],
    ["Acme\n[GNUPG:] VALIDSIG 00", "the control character U+000A"],
    ["Acme\tPayments", "the control character U+0009"],
    ["Acme\u0085", "the control character U+0085"],
    ["Acme\u007f", "the control character U+007F"],
    ["Acme \u202eyaP", "the bidi control U+202E"],
    ["Ac\u200bme", "the invisible character U+200B"],
    ["Ac\u00adme", "the invisible character U+00AD"],
    ["Acme\u{e0020}", "the invisible character U+E0020"],
    ["Acme\u2028", "the line separator U+2028"],
  ];
  for (const [name, what] of cases) {
    const e = refusal(() => checkPartnerName(name));
    assert.deepEqual([e.exit, e.code], [3, "ERR_NAME"], name);
    assert.match(e.message, /^invalid --name "/);
    assert.ok(e.message.endsWith(`: it contains ${what}`), e.message);
    assert.deepEqual(rawLeft(e.message), [], "the message holds no raw control");
  }
  for (const [bad, what] of [
    ["ops\u001b[8m@acme.example", "the control character U+001B"],
    ["o\u202eps@acme.example", "the bidi control U+202E"],
    ["ops\u200b@acme.example", "the invisible character U+200B"],
    ["ops@acme\u00ad.example", "the invisible character U+00AD"],
  ]) {
    const e = refusal(() => checkPartnerContact(bad as string));
    assert.deepEqual([e.exit, e.code], [3, "ERR_CONTACT"], bad);
    assert.ok(e.message.endsWith(`: it contains ${what}`), e.message);
  }
  assert.match(refusal(() => checkPartnerContact("not an address")).message, /expected an e-mail address/);
  assert.match(refusal(() => checkPartnerName(" ")).message, /1 to 200 characters/);
  assert.equal(checkPartnerName("Müller & Söhne GmbH"), "Müller & Söhne GmbH");
  assert.equal(checkPartnerContact("pki@acme.example"), "pki@acme.example");
});

test("--gateway-url is an absolute http(s) URL without whitespace or control characters (exit 2)", () => {
  for (const [url, message] of [
    ["https://gw.example/\u001b[31m", /the control character U\+001B/],
    ["https://gw.example/\n;rm -rf ~", /the control character U\+000A/],
    ["https://gw.example/ ;rm -rf ~", /the whitespace character space \(U\+0020\)/],
    ["https://gw.example/\u00a0", /the whitespace character U\+00A0/],
    ["https://gw\u202e.example/", /the bidi control U\+202E/],
    ["ftp://gw.example/", /expected an http:\/\/ or https:\/\/ URL/],
    ["gw.example", /expected an http:\/\/ or https:\/\/ URL/],
    ["https://", /not a valid URL/],
  ] as const) {
    const e = refusal(() => checkGatewayUrl(url));
    assert.deepEqual([e.exit, e.code], [2, "ERR_GATEWAY_URL"], url);
    assert.match(e.message, message);
    assert.deepEqual(rawLeft(e.message), []);
  }
  assert.equal(checkGatewayUrl("https://api.example.com:8443/v1?a=1&b='x'"), "https://api.example.com:8443/v1?a=1&b='x'");
});

test("the shell filter makes one POSIX word of any value", () => {
  assert.equal(renderTemplate("curl {{u|shell}}", { u: "https://x/?a=1&b=2;rm -rf ~" }), "curl 'https://x/?a=1&b=2;rm -rf ~'");
  assert.equal(renderTemplate("curl {{u|shell}}", { u: "https://x/'$(id)'" }), "curl 'https://x/'\\''$(id)'\\'''");
});
