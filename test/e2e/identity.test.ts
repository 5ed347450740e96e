// #12: an identity (CN or SAN value) belongs to one partner; subjects keep to the policy; refusals
// leave the PKI byte-identical; doctor reports what older stores hold; terminals get no raw controls.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { appendFile, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { baseEnv, initTempCa, json, mtls, openssl, PASSPHRASE, type RunResult, snapshot } from "../helpers/run.js";

/** A PKI where partner-a owns CN a-client and one SAN of every type. */
async function pkiWithA(t: TestContext) {
  const dir = await initTempCa(t);
  const a = await makeCsr(dir, "a", {
    subj: "/O=Producer Organization/OU=Integration Team/CN=a-client",
    addext: ["subjectAltName=DNS:api.a.example,URI:spiffe://a.example/client,email:ops@a.example,IP:192.0.2.10"],
  });
  const r = await mtls(["partner", "issue", "partner-a", "--csr", a.csr, "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  return { dir, serial: json(r).result.serial as string };
}

/** Runs `args`, asserts the exit code and error code, and that the PKI did not change by a byte. */
async function refused(dir: string, args: string[], exit: number, code: string, message: RegExp): Promise<RunResult> {
  const before = await snapshot(join(dir, "pki"));
  const r = await mtls([...args, "--json"], { cwd: dir });
  assert.equal(r.exitCode, exit, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
  const doc = json(r);
  assert.equal(doc.error?.code, code, doc.error?.message);
  assert.match(doc.error?.message ?? "", message);
  assert.deepEqual(await snapshot(join(dir, "pki")), before, `${args.join(" ")} changed the PKI`);
  return r;
}

test("#12 another partner's CN or SAN is refused with exit 4 on every issuing path; the PKI stays byte-identical", async (t) => {
  const { dir } = await pkiWithA(t);
  const owned = /belongs to partner partner-a/;
  // CSR carrying A's CN, in another case and with spaces around it is the same identity.
  for (const [name, subj] of [
    ["same", "/CN=a-client"],
    ["case", "/O=Evil/CN=A-Client"],
  ]) {
    const e = await makeCsr(dir, `e-${name}`, { subj });
    await refused(dir, ["partner", "issue", "partner-e", "--csr", e.csr], 4, "ERR_IDENTITY_OWNED", owned);
  }
  // Each SAN type, from the CSR and from --san, in another case.
  const sans = ["DNS:API.A.example", "URI:spiffe://a.example/client", "email:OPS@a.example", "IP:192.0.2.10"];
  for (const [i, san] of sans.entries()) {
    const e = await makeCsr(dir, `e-san${i}`, { subj: `/CN=e-client-${i}`, addext: [`subjectAltName=${san}`] });
    await refused(dir, ["partner", "issue", "partner-e", "--csr", e.csr], 4, "ERR_IDENTITY_OWNED", owned);
  }
  for (const san of ["dns:api.a.EXAMPLE", "uri:SPIFFE://a.example/client", "email:ops@a.example", "ip:192.0.2.10"])
    await refused(dir, ["partner", "issue", "partner-e", "--generate", "--out-key", "e.key", "--san", san], 4, "ERR_IDENTITY_OWNED", owned);
  // Spellings another reader takes for A's names: never issued. The SAN policy refuses these (2 as
  // --san values, 3 in a CSR); a spelling it allows, a CN with the root's dot, is refused as A's (4).
  for (const san of [
    "dns:api.a.example.",
    "uri:spiffe://a.example/./client",
    "uri:spiffe://a.example/%63lient",
    "uri:spiffe://a.example:/client",
    "ip:::ffff:192.0.2.10",
  ])
    await refused(dir, ["partner", "issue", "partner-e", "--generate", "--out-key", "e.key", "--san", san], 2, "ERR_SAN", /invalid SAN/);
  const dotted = await makeCsr(dir, "e-dot", { subj: "/CN=a-client." });
  await refused(dir, ["partner", "issue", "partner-e", "--csr", dotted.csr], 4, "ERR_IDENTITY_OWNED", owned);
  const mapped = await makeCsr(dir, "e-mapped", { subj: "/CN=e-mapped", addext: ["subjectAltName=IP:::ffff:192.0.2.10,DNS:api.a.example."] });
  await refused(dir, ["partner", "issue", "partner-e", "--csr", mapped.csr], 3, "ERR_SAN", /IPv4-mapped|ends with a dot/);
  // --generate with --cn, and --csr with --cn replacing a harmless subject.
  await refused(dir, ["partner", "issue", "partner-e", "--generate", "--out-key", "e.key", "--cn", "A-CLIENT"], 4, "ERR_IDENTITY_OWNED", owned);
  const harmless = await makeCsr(dir, "harmless", { subj: "/CN=e-own" });
  await refused(dir, ["partner", "issue", "partner-e", "--csr", harmless.csr, "--cn", "a-client"], 4, "ERR_IDENTITY_OWNED", owned);
  // A generated key's default CN is the partner id: partner "a-client" cannot take A's CN that way.
  await refused(dir, ["partner", "issue", "a-client", "--generate", "--out-key", "e.key"], 4, "ERR_IDENTITY_OWNED", owned);

  // Batch: with --all-or-nothing nothing is issued (exit 4); without, the line fails alone.
  const batch = join(dir, "batch.jsonl");
  await writeFile(
    batch,
    `${JSON.stringify({ partner: "partner-f", csr: "harmless.csr" })}\n${JSON.stringify({ partner: "partner-e", generate: true, sans: ["dns:api.a.example"], outKey: "b.key" })}\n`,
  );
  const all = await refused(dir, ["partner", "issue", "--batch", batch, "--all-or-nothing"], 4, "ERR_IDENTITY_OWNED", /line 2: .*partner-a/);
  assert.match(all.stderr, /line 2/);
  // #21: a generated key is written before the lock is taken; a line that is not issued leaves none.
  await assert.rejects(stat(join(dir, "b.key")), { code: "ENOENT" });
  const partial = await mtls(["partner", "issue", "--batch", batch, "--json"], { cwd: dir });
  assert.equal(partial.exitCode, 1);
  const results = json(partial).result.results as Array<{ line: number; ok: boolean; error?: { code: string } }>;
  assert.deepEqual(
    results.map((x) => [x.line, x.ok, x.error?.code]),
    [
      [1, true, undefined],
      [2, false, "ERR_IDENTITY_OWNED"],
    ],
  );
  await assert.rejects(stat(join(dir, "b.key")), { code: "ENOENT" });
  // Two lines of one batch for different partners cannot both take one new identity.
  await writeFile(
    batch,
    `${JSON.stringify({ partner: "partner-g", generate: true, cn: "shared", outKey: "g.key" })}\n${JSON.stringify({ partner: "partner-h", generate: true, cn: "SHARED", outKey: "h.key" })}\n`,
  );
  await refused(dir, ["partner", "issue", "--batch", batch, "--all-or-nothing"], 4, "ERR_IDENTITY_OWNED", /line 2: .*partner-g/);

  // Onboarding: refused before the partner is registered (CSR and generated key).
  if (haveGpg()) {
    const key = await genKey(await gpgHome(t), "cv25519", { email: "pki@o.example" });
    const e = await makeCsr(dir, "onb", { subj: "/CN=a-client" });
    await refused(dir, ["partner", "onboard", "partner-o", "--pgp-key", key.publicFile, "--csr", e.csr, "--yes"], 4, "ERR_IDENTITY_OWNED", owned);
    await refused(
      dir,
      ["partner", "onboard", "partner-o", "--pgp-key", key.publicFile, "--generate", "--san", "uri:SPIFFE://a.example/client", "--yes"],
      4,
      "ERR_IDENTITY_OWNED",
      owned,
    );
  } else t.diagnostic("gpg is not installed: onboarding collisions not exercised");

  // The same partner reusing its own identities is normal.
  const again = await makeCsr(dir, "a2", { subj: "/CN=A-client", addext: ["subjectAltName=DNS:api.a.example"] });
  assert.equal((await mtls(["partner", "issue", "partner-a", "--csr", again.csr], { cwd: dir })).exitCode, 0);
});

test("#12 offboarded identities stay reserved until released (audited); partner show lists them", async (t) => {
  const { dir } = await pkiWithA(t);
  const show = json(await mtls(["partner", "show", "partner-a", "--json"], { cwd: dir })).result;
  assert.deepEqual(show.identities.map((i: { type: string; value: string; status: string }) => `${i.type}:${i.value}:${i.status}`).sort(), [
    "cn:a-client:in-use",
    "dns:api.a.example:in-use",
    "email:ops@a.example:in-use",
    "ip:192.0.2.10:in-use",
    "uri:spiffe://a.example/client:in-use",
  ]);
  const human = await mtls(["partner", "show", "partner-a"], { cwd: dir });
  assert.match(human.stdout, /IDENTITY\s+TYPE\s+STATUS\n.*a-client\s+cn\s+in-use/);

  // Releasing an identity a valid certificate carries is refused.
  await refused(dir, ["partner", "identity", "release", "partner-a", "a-client", "--yes"], 4, "ERR_IDENTITY_IN_USE", /valid certificate/);
  assert.equal((await mtls(["partner", "offboard", "partner-a", "--yes"], { cwd: dir })).exitCode, 0);
  const e = await makeCsr(dir, "e", { subj: "/CN=a-client" });
  await refused(dir, ["partner", "issue", "partner-e", "--csr", e.csr], 4, "ERR_IDENTITY_OWNED", /partner-a/);
  const reserved = json(await mtls(["partner", "show", "partner-a", "--json"], { cwd: dir })).result.identities;
  assert.ok(reserved.every((i: { status: string }) => i.status === "reserved"));

  await refused(dir, ["partner", "identity", "release", "partner-a", "nobody", "--yes"], 3, "ERR_IDENTITY_NOT_OWNED", /no identity/);
  const noYes = await mtls(["partner", "identity", "release", "partner-a", "a-client"], { cwd: dir });
  assert.equal(noYes.exitCode, 2, noYes.stderr);
  const rel = await mtls(["partner", "identity", "release", "partner-a", "A-Client", "--yes", "--json"], { cwd: dir });
  assert.equal(rel.exitCode, 0, rel.stderr);
  assert.equal(json(rel).result.identity, "a-client");
  // The release names the certificates it covers (a later one of partner-a's, even in the same second, reserves it again).
  const registry = JSON.parse(await readFile(join(dir, "pki", "partners.json"), "utf8"));
  assert.deepEqual(
    registry.partners["partner-a"].releasedIdentities.map((x: { identity: string; serials: string[] }) => [x.identity, x.serials]),
    [["a-client", json(rel).result.serials]],
  );
  const audit = json(await mtls(["audit", "--action", "identity", "--json"], { cwd: dir })).result;
  assert.match(JSON.stringify(audit), /identity\.release.*a-client/);
  // Now partner-e may have it, but still not A's other identities.
  assert.equal((await mtls(["partner", "issue", "partner-e", "--csr", e.csr], { cwd: dir })).exitCode, 0);
  await refused(dir, ["partner", "issue", "partner-e", "--generate", "--out-key", "k.key", "--san", "dns:api.a.example"], 4, "ERR_IDENTITY_OWNED", /partner-a/);

  // Operator values reach the gateway templates too: anything that could change a config's structure is refused.
  for (const bad of [
    ["--hostname", "api.example; return 200"],
    ["--server-cert", "/etc/tls/my cert.pem"],
    ["--server-key", '/etc/tls/k"ey'],
    ["--upstream", "http://127.0.0.1:8080/;allow all"],
    ["--listen", "evil}:443"],
  ]) {
    const r = await mtls(["gateway", "config", "nginx", "--partner", "partner-e", ...bad, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 2, `${bad.join(" ")}: ${r.stdout}`);
  }
});

test("#12 subject policy: each forbidden character and structure exits 3 naming the attribute; the seed example passes", async (t) => {
  const dir = await initTempCa(t);
  const seed = await makeCsr(dir, "seed", { subj: "/O=Producer Organization/OU=Integration Team/CN=producer-api-client" });
  assert.equal((await mtls(["partner", "issue", "seed", "--csr", seed.csr], { cwd: dir })).exitCode, 0);
  for (const ch of ['"', "\\", ",", "+", "=", "<", ">", "#", ";"]) {
    const cn = `x${ch}y`;
    await refused(dir, ["partner", "issue", "p", "--generate", "--out-key", "p.key", "--cn", cn], 3, "ERR_CN", /attribute CN contains the forbidden character/);
    const esc = ch === "\\" || ch === "," || ch === "+" || ch === "=" || ch === "/" ? `\\${ch}` : ch;
    const c = await makeCsr(dir, `bad${ch.charCodeAt(0)}`, { subj: `/O=Org${esc}x/CN=ok` });
    await refused(
      dir,
      ["partner", "issue", "p", "--csr", c.csr],
      3,
      "ERR_SUBJECT_POLICY",
      new RegExp(`attribute O contains the forbidden character "${ch.replace(/[\\+]/g, "\\$&")}"`),
    );
  }
  for (const cn of [
    "a\u001b[2Jb", // ESC
    "a\u0007b", // BEL
    "a\nb",
    "a\u202eb", // right-to-left override
    "a\u007fb", // DEL
    "caf\u00e9", // non-ASCII
  ])
    await refused(dir, ["partner", "issue", "p", "--generate", "--out-key", "p.key", "--cn", cn], 3, "ERR_CN", /forbidden character U\+/);
  await refused(dir, ["partner", "issue", "p", "--generate", "--out-key", "p.key", "--cn", "x".repeat(65)], 3, "ERR_CN", /longer than 64/);
  const structures: Array<[string, string, RegExp, boolean?]> = [
    ["two CNs", "/CN=a/CN=b", /more than one CN/],
    ["multi-valued RDN", "/O=x+CN=a", /multi-valued RDN/, true],
    ["emailAddress", "/CN=a/emailAddress=a@b.example", /attribute emailAddress, which is not issued/],
    ["bad country", "/C=1X/CN=a", /two-letter country code/],
    ["leading space", "/CN= a", /starts or ends with a space/],
    ["30 KB subject", Array.from({ length: 40 }, (_, i) => `/OU=unit-${i}`).join("") + "/CN=a", /at most 16/],
  ];
  for (const [_name, subj, message, multivalue] of structures) {
    await makeCsr(dir, "s", { subj, extra: multivalue ? ["-multivalue-rdn"] : [] });
    await refused(dir, ["partner", "issue", "p", "--csr", "s.csr"], 3, "ERR_SUBJECT_POLICY", message);
  }
  for (const san of ["uri:spiffe://x/a\u001bb", "email:a b@x.example", 'email:"a,b"@x.example', "dns:a_b.example", "uri:no-scheme"])
    await refused(dir, ["partner", "issue", "p", "--generate", "--out-key", "p.key", "--san", san], 2, "ERR_SAN", /invalid SAN/);
});

test("#12 doctor reports identity collisions and policy violations of an older store, naming both partners, and changes nothing", async (t) => {
  const { dir, serial } = await pkiWithA(t);
  const b = await makeCsr(dir, "b", { subj: "/CN=b-client" });
  assert.equal((await mtls(["partner", "issue", "partner-b", "--csr", b.csr], { cwd: dir })).exitCode, 0);
  // A store from before #12: partner-b holds a second certificate for A's CN, and one whose CN
  // carries an escape sequence. Both minted by the CA with openssl and recorded in the index.
  const index = join(dir, "pki/index.jsonl");
  const aRecord = JSON.parse((await readFile(index, "utf8")).split("\n").find((l) => l.includes(serial)) as string);
  const caKey = join(dir, "ca-clear.key");
  await openssl(["pkey", "-in", join(dir, "pki/private/intermediate.key"), "-passin", "env:PW", "-out", caKey], { env: baseEnv({ PW: PASSPHRASE }) });
  await writeFile(join(dir, "leaf.ext"), "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
  const plant = async (subj: string) => {
    const s = `1${randomBytes(15).toString("hex")}`;
    await makeCsr(dir, "x", { subj, extra: ["-utf8"] });
    const pem = join(dir, `pki/certs/${s}.pem`);
    const x = await openssl([
      "x509",
      "-req",
      "-in",
      join(dir, "x.csr"),
      "-CA",
      join(dir, "pki/ca/intermediate.pem"),
      "-CAkey",
      caKey,
      "-set_serial",
      `0x${s}`,
      "-days",
      "30",
      "-extfile",
      join(dir, "leaf.ext"),
      "-extensions",
      "leaf",
      "-out",
      pem,
    ]);
    assert.equal(x.exitCode, 0, x.stderr);
    await writeFile(join(dir, `pki/certs/${s}.chain.pem`), (await readFile(pem, "utf8")) + (await readFile(join(dir, "pki/ca/intermediate.pem"), "utf8")));
    const facts = await openssl(["x509", "-in", pem, "-noout", "-fingerprint", "-sha256", "-startdate", "-enddate"]);
    const field = (name: string) => facts.stdout.match(new RegExp(`^${name}=(.*)$`, "m"))?.[1]?.trim() as string;
    const fingerprint = `sha256:${field("sha256 Fingerprint").replace(/:/g, "").toLowerCase()}`;
    const date = (name: string) => new Date(field(name)).toISOString().replace(/\.\d{3}Z$/, "Z");
    const { commonNames: _c, ...rest } = aRecord;
    const dates = { notBefore: date("notBefore"), notAfter: date("notAfter") };
    await appendFile(
      index,
      `${JSON.stringify({ ...rest, ...dates, serial: s, partnerId: "partner-b", subject: subj.slice(1), sans: [], fingerprint, certPath: `certs/${s}.pem` })}\n`,
    );
    return s;
  };
  const collide = await plant("/CN=A-CLIENT");
  const hostile = await plant("/CN=evil\u001b[2J\u202eclient");
  const before = await snapshot(join(dir, "pki"));
  const r = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 1, r.stdout);
  const problems = (json(r).result.problems as Array<{ check: string; message: string }>).filter((p) => p.check === "identities");
  assert.ok(
    problems.some((p) => /partner-a \(.*\) and partner-b \(.*\)/.test(p.message) && p.message.includes(collide)),
    JSON.stringify(problems),
  );
  assert.ok(
    problems.some((p) => p.message.includes(hostile) && /forbidden character U\+001B/.test(p.message)),
    JSON.stringify(problems),
  );
  assert.equal(json(r).result.problems.length, problems.length, "only the identity check complains");
  const fix = await mtls(["doctor", "--fix", "--json"], { cwd: dir });
  assert.equal(fix.exitCode, 1);
  assert.deepEqual(await snapshot(join(dir, "pki")), before, "doctor --fix changed nothing for identities");

  // Human output of the older store: no raw ESC or U+202E on the terminal, in list and show.
  for (const args of [["list"], ["partner", "show", "partner-b"], ["doctor"]]) {
    const h = await mtls(args, { cwd: dir });
    assert.doesNotMatch(h.stdout + h.stderr, /[\u001b\u202e]/, `${args.join(" ")} printed a raw control`);
    if (args[0] !== "doctor") assert.match(h.stdout, /evil\\u\{1b\}\[2J\\u\{202e\}client/);
  }
  const j = await mtls(["list", "--json"], { cwd: dir });
  assert.doesNotMatch(j.stdout, /[\u001b\u202e]/);
  assert.ok(JSON.stringify(json(j).result).includes("\u202e"), "--json keeps the value, escaped");
  // gateway config refuses to allow-list it rather than render it.
  const gw = await mtls(["gateway", "config", "nginx", "--partner", "partner-b", "--json"], { cwd: dir });
  assert.equal(gw.exitCode, 3);
  assert.equal(json(gw).error?.code, "ERR_IDENTITY_POLICY");
});
