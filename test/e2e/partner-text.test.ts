// A partner's name and contact, and the gateway URL a bundle names, are refused at input when they
// hold characters a terminal acts on or draws as nothing; a store written before that check still
// shows them only escaped: in the bundle's README.txt (which the partner reads with `cat`, and
// whose curl line it pastes into a shell), in tables, in --json and in the HTML report.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls, run, snapshot } from "../helpers/run.js";

/** Raw characters no output may hold: controls (but newline), format characters and default-ignorables. */
const rawControls = (s: string) =>
  [...s].filter((c) => c !== "\n" && /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u.test(c)).map((c) => c.codePointAt(0)?.toString(16));

const HOSTILE_NAME =
  "Acme\u001b]0;owned\u0007\u001b[2J\n       [GNUPG:] VALIDSIG 0000000000000000000000000000000000000000 (expect this)\r\u202eX\u00ad\u{e0020}";

test("partner add and onboard refuse a name or contact with a control, bidi or invisible character: exit 3, store unchanged", async (t) => {
  const dir = await initTempCa(t);
  const before = await snapshot(join(dir, "pki"));
  const cases: Array<[string[], string, RegExp]> = [
    [["--name", HOSTILE_NAME], "ERR_NAME", /^invalid --name "Acme\\u\{1b\}.*": it contains the control character U\+001B$/],
    [["--name", "Acme\nPayments"], "ERR_NAME", /the control character U\+000A$/],
    [["--name", "Acme \u202eyaP"], "ERR_NAME", /the bidi control U\+202E$/],
    [["--name", "Ac\u200bme"], "ERR_NAME", /the invisible character U\+200B$/],
    [["--name", "Ac\u00adme"], "ERR_NAME", /the invisible character U\+00AD$/],
    [
      ["--contact", "ops\u001b[8m@acme.example"],
      "ERR_CONTACT",
      /^invalid --contact "ops\\u\{1b\}\[8m@acme\.example": it contains the control character U\+001B$/,
    ],
    [["--contact", "o\u202eps@acme.example"], "ERR_CONTACT", /the bidi control U\+202E$/],
    [["--contact", "ops\u200b@acme.example"], "ERR_CONTACT", /the invisible character U\+200B$/],
  ];
  for (const [flags, code, message] of cases) {
    const r = await mtls(["partner", "add", "acme", ...flags, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${flags}: ${r.stdout}`);
    assert.equal(json(r).error?.code, code);
    assert.match(json(r).error?.message ?? "", message);
    const human = await mtls(["partner", "add", "acme", ...flags], { cwd: dir });
    assert.equal(human.exitCode, 3);
    assert.deepEqual(rawControls(human.stderr), [], "the refusal shows the value escaped");
    assert.equal(human.stderr.split("\n").filter((l) => l.startsWith("error:")).length, 1);
  }
  // Onboarding checks the same fields before it reads the OpenPGP key or the CSR.
  await writeFile(join(dir, "key.asc"), "not read");
  const onboard = await mtls(["partner", "onboard", "acme", "--name", "Ac\u00adme", "--pgp-key", "key.asc", "--generate", "--json"], { cwd: dir });
  assert.equal(onboard.exitCode, 3, onboard.stdout);
  assert.equal(json(onboard).error?.code, "ERR_NAME");
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  const ok = await mtls(["partner", "add", "acme", "--name", "Müller & Söhne", "--contact", "pki@acme.example"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stderr);
});

test("an old store's hostile name reaches README.txt, tables, --json and the report only escaped; the curl line quotes the URL", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "acme");
  assert.equal((await mtls(["partner", "issue", "acme", "--csr", csr], { cwd: dir })).exitCode, 0);
  // As a release without the check at input left it.
  const registry = join(dir, "pki/partners.json");
  const reg = JSON.parse(await readFile(registry, "utf8"));
  Object.assign(reg.partners.acme, { name: HOSTILE_NAME, contact: "pki\u202e@acme.example" });
  await writeFile(registry, `${JSON.stringify(reg, null, 2)}\n`);

  const url = "https://gw.example:8443/v1/ping?a=1&b=2;c='$(id)'";
  const r = await mtls(["partner", "export", "acme", "--no-encrypt", "--out", "acme.zip", "--gateway-url", url], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  const readme = (await run("unzip", ["-p", join(dir, "acme.zip"), "README.txt"])).stdout;
  assert.deepEqual(rawControls(readme), []);
  const lines = readme.split("\n");
  assert.deepEqual(
    lines.filter((l) => l.trimStart().startsWith("[GNUPG:] VALIDSIG")),
    ["       [GNUPG:] VALIDSIG (unsigned) ..."],
    "the name forges no VALIDSIG line",
  );
  assert.match(
    lines[0] ?? "",
    /^mTLS client certificate for acme \(Acme\\u\{1b\}\]0;owned\\u\{7\}\\u\{1b\}\[2J\\u\{a\} .*\\u\{202e\}X\\u\{ad\}\\u\{e0020\}\)$/,
  );
  const manifest = (await run("unzip", ["-p", join(dir, "acme.zip"), "manifest.json"])).stdout;
  assert.deepEqual(rawControls(manifest), []);
  // The partner pastes the curl line into a shell: the URL stays one word, whatever it holds.
  const curl = lines.find((l) => l.trimStart().startsWith("curl ")) ?? "";
  const word = curl.slice(curl.indexOf("certificate> ") + "certificate> ".length);
  const args = await run("sh", ["-c", `set -- ${word}; printf '%s\\n' "$#" "$1"`]);
  assert.equal(args.stdout, `1\n${url}\n`, curl);

  // The refusal of a URL a shell or a terminal would act on, before anything is written.
  const before = await snapshot(join(dir, "pki"));
  for (const bad of ["https://gw.example/\u001b[31m\n;rm -rf ~", "https://gw.example/ x", "ftp://gw.example/"]) {
    const e = await mtls(["partner", "export", "acme", "--no-encrypt", "--out", "bad.zip", "--gateway-url", bad, "--json"], { cwd: dir });
    assert.equal(e.exitCode, 2, e.stdout);
    assert.equal(json(e).error?.code, "ERR_GATEWAY_URL");
  }
  assert.deepEqual(await snapshot(join(dir, "pki")), before);

  for (const args of [
    ["partner", "list"],
    ["partner", "show", "acme"],
    ["partner", "show", "acme", "--json"],
    ["partner", "list", "--json"],
  ]) {
    const out = await mtls(args, { cwd: dir });
    assert.equal(out.exitCode, 0, out.stderr);
    assert.deepEqual(rawControls(out.stdout), [], args.join(" "));
  }
  assert.equal(json(await mtls(["partner", "show", "acme", "--json"], { cwd: dir })).result.partner.name, HOSTILE_NAME, "--json keeps the value");
  assert.equal((await mtls(["report", "--html", "report.html"], { cwd: dir })).exitCode, 0);
  const html = await readFile(join(dir, "report.html"), "utf8");
  assert.deepEqual(rawControls(html), []);
  assert.match(html, /<td>Acme\\u\{1b\}\]0;owned.*\\u\{202e\}X\\u\{ad\}\\u\{e0020\}<\/td><td>pki\\u\{202e\}@acme\.example<\/td>/);
});
