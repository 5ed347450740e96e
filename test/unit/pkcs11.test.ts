// #20: RFC 7512 URIs, PKCS#11 error mapping with SoftHSM2's own errors, and one login per
// command: a batch of certificates signs in one token session.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import test, { after, type TestContext } from "node:test";
import { initCa } from "../../src/core/ca/init.js";
import { MtlsError } from "../../src/core/errors.js";
import { issueBatch } from "../../src/core/issue/batch.js";
import { tokenAccess } from "../../src/core/keystore/access.js";
import { tokenError } from "../../src/core/keystore/pkcs11.js";
import { formatPkcs11Uri, parsePkcs11Uri } from "../../src/core/keystore/pkcs11-uri.js";
import { openPki } from "../../src/core/session.js";
import { PASSPHRASE, ROOT, tempDir } from "../helpers/run.js";
import { SOFTHSM_MODULE, softHsm, softhsmMissing, TOKEN_PIN } from "../helpers/softhsm.js";

const MODULE = "/usr/lib/softhsm/libsofthsm2.so";

test("RFC 7512 URIs: parsed, percent-decoded, formatted back; PINs, module-name and relative modules refused", () => {
  const u = parsePkcs11Uri(
    `pkcs11:token=Acme%20CA;manufacturer=SoftHSM%20project;object=ca%2Fkey;id=%01%ff;library-description=x?module-path=${MODULE}`,
    "--key-store",
  );
  assert.equal(u.token, "Acme CA");
  assert.equal(u.manufacturer, "SoftHSM project");
  assert.equal(u.object, "ca/key");
  assert.deepEqual([...(u.id ?? [])], [1, 255]);
  assert.equal(u.modulePath, MODULE);
  const text = formatPkcs11Uri(u);
  assert.equal(text, `pkcs11:token=Acme%20CA;manufacturer=SoftHSM%20project;object=ca%2fkey;id=%01%ff?module-path=${MODULE}`);
  assert.deepEqual(parsePkcs11Uri(text, "x"), u, "round trip");

  const refused: Array<[string, string]> = [
    [`pkcs11:token=a?module-path=${MODULE}&pin-value=1234`, "ERR_PKCS11_PIN_IN_URI"],
    [`pkcs11:token=a?module-path=${MODULE}&pin-source=file:/tmp/pin`, "ERR_PKCS11_PIN_IN_URI"],
    ["pkcs11:token=a?module-name=softhsm2", "ERR_PKCS11_URI"],
    ["pkcs11:token=a?module-path=libsofthsm2.so", "ERR_PKCS11_URI"],
    ["pkcs11:token=a", "ERR_PKCS11_URI"],
    [`pkcs11:object=k?module-path=${MODULE}`, "ERR_PKCS11_URI"],
    [`pkcs11:token=a;color=red?module-path=${MODULE}`, "ERR_PKCS11_URI"],
    [`pkcs11:token=a b?module-path=${MODULE}`, "ERR_PKCS11_URI"],
    [`pkcs11:token=%1b[31m?module-path=${MODULE}`, "ERR_PKCS11_URI"],
    [`pkcs11:token=a;token=b?module-path=${MODULE}`, "ERR_PKCS11_URI"],
    [`pkcs11:token=a;type=cert?module-path=${MODULE}`, "ERR_PKCS11_URI"],
    ["file:///etc/passwd", "ERR_PKCS11_URI"],
  ];
  for (const [uri, code] of refused) {
    assert.throws(
      () => parsePkcs11Uri(uri, "--key-store"),
      (e: unknown) => e instanceof MtlsError && e.code === code && e.exit === 2 && !e.message.includes("1234"),
      uri,
    );
  }
});

const missing = softhsmMissing();

test("PKCS#11 failures from SoftHSM2 itself map to exit 5 with a hint: wrong PIN, mechanism unsupported", { skip: missing }, async (t) => {
  const hsm = await softHsm(t);
  await hsm.addToken("errors");
  process.env.SOFTHSM2_CONF = hsm.conf;
  // graphene-pk11 directly, to provoke the token's own return values.
  const g = createRequire(join(ROOT, "package.json"))("graphene-pk11");
  const m = g.Module.load(SOFTHSM_MODULE);
  m.initialize();
  t.after(() => m.finalize());
  const uri = parsePkcs11Uri(hsm.uri("errors"), "x");
  const s = m
    .getSlots(true)
    .items(0)
    .open(g.SessionFlag.SERIAL_SESSION | g.SessionFlag.RW_SESSION);
  let wrong: unknown;
  try {
    s.login("not-the-pin");
  } catch (e) {
    wrong = e;
  }
  const pinErr = tokenError(wrong, uri, "logging in");
  assert.equal(pinErr.code, "ERR_PKCS11_PIN_WRONG");
  assert.equal(pinErr.exit, 5);
  assert.ok(!pinErr.message.includes("not-the-pin"));
  s.login(TOKEN_PIN);
  const keys = s.generateKeyPair(
    g.KeyGenMechanism.EC,
    { keyType: g.KeyType.EC, token: false, verify: true, paramsEC: Buffer.from("06082a8648ce3d030107", "hex") },
    { keyType: g.KeyType.EC, token: false, sign: true },
  );
  let mech: unknown;
  try {
    // SoftHSM2 2.6 has no CKM_ECDSA_SHA256: the reason mtls hashes first and uses CKM_ECDSA.
    s.createSign("ECDSA_SHA256", keys.privateKey).once(Buffer.from("tbs"));
  } catch (e) {
    mech = e;
  }
  const mechErr = tokenError(mech, uri, "signing");
  assert.equal(mechErr.code, "ERR_PKCS11_MECHANISM");
  assert.equal(mechErr.exit, 5);
  assert.match(mechErr.hint ?? "", /CKM_ECDSA/);
  s.logout();
  s.close();
});

test("a batch of 30 certificates logs into the token once and keeps that session", { skip: missing }, async (t) => {
  const scope: Array<() => Promise<void>> = [];
  after(async () => {
    for (const fn of scope) await fn();
  });
  const hsm = await softHsm({ after: (fn: () => Promise<void>) => scope.push(fn) } as unknown as TestContext);
  await hsm.addToken("batch");
  process.env.SOFTHSM2_CONF = hsm.conf;
  const dir = await tempDir(t, "mtls-p11-batch-");
  const now = new Date();
  const initAccess = tokenAccess(async () => TOKEN_PIN);
  const pkiDir = join(dir, "pki");
  await initCa(await openPki(pkiDir, { now, actor: "test" }), {
    name: "Batch",
    keyType: "ec-p256",
    rootDays: 3650,
    intermediateDays: 1825,
    intermediate: true,
    passphrase: PASSPHRASE,
    defaultDays: 90,
    maxDays: 398,
    warnDays: 30,
    crlDays: 7,
    keyStore: hsm.uri("batch"),
    tokens: initAccess,
  });
  initAccess.close();

  let logins = 0;
  const access = tokenAccess(async () => {
    logins++;
    return TOKEN_PIN;
  });
  const text = `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ partner: `d-${i}`, generate: true, outKey: `d-${i}.key` })).join("\n")}\n`;
  await writeFile(join(dir, "batch.jsonl"), text);
  const passphrase = Object.assign(async () => PASSPHRASE, { tokens: access });
  const r = await issueBatch(await openPki(pkiDir, { now, actor: "test", passphrase }), { text, baseDir: dir, allOrNothing: true });
  access.close();
  assert.equal(r.issued, 30);
  assert.equal(logins, 1, "one login (one session) for the whole batch");
});
