// `bundle open` on bundles that carry a good signature by the home party's key but malformed
// content inside: every one is a one-line exit 3 naming the entry, nothing is written, and no
// message names the scratch directory. Then what a correctly made bundle may still warn about.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import * as openpgp from "openpgp";
import { runBundleOpen } from "../../src/cli/commands/bundle/open.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { openHomeKey } from "../helpers/home-key.js";
import { commandContext } from "../helpers/in-process.js";
import { initTempCa, json, mtls } from "../helpers/run.js";
import { craftZip } from "../helpers/zip.js";

interface Entry {
  name: string;
  data: Buffer;
  mode?: number;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const listing = (entries: Entry[]) => entries.map((e) => ({ name: e.name, sha256: sha256(e.data), bytes: e.data.length }));

/** A PKI with partner acme (a GnuPG key), a bundle with a generated key for it, opened once to get its files. */
async function deliveredBundle(t: TestContext) {
  const dir = await initTempCa(t);
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@acme.example" });
  const other = await genKey(g, "cv25519", { email: "pki@other.example" });
  assert.equal((await mtls(["partner", "add", "acme", "--pgp-key", key.publicFile], { cwd: dir })).exitCode, 0);
  const issued = await mtls(["partner", "issue", "acme", "--generate", "--bundle", "b.pgp"], { cwd: dir });
  assert.equal(issued.exitCode, 0, issued.stderr);
  const homePub = join(dir, "pki/pgp/home-party.asc");
  const ok = await mtls(["bundle", "open", "b.pgp", "--key", key.secretFile, "--signer", homePub, "--out", "opened", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.deepEqual(json(ok).warnings, []);
  const names = (json(ok).result.files as Array<{ name: string }>).map((f) => f.name).filter((n) => n !== "manifest.json");
  const files: Entry[] = await Promise.all(names.map(async (name) => ({ name, data: await readFile(join(dir, "opened", name)) })));
  const manifest = JSON.parse(await readFile(join(dir, "opened", "manifest.json"), "utf8")) as Record<string, unknown>;
  const homeKey = await openHomeKey(join(dir, "pki"));
  /** Signed by the home party's real key, encrypted to `to` (acme by default). */
  const seal = async (zip: Buffer, to = key.publicArmored) =>
    openpgp.encrypt({
      message: await openpgp.createMessage({ binary: zip }),
      encryptionKeys: await openpgp.readKey({ armoredKey: to }),
      signingKeys: homeKey,
      format: "binary",
    });
  return { dir, key, other, homePub, files, manifest, seal };
}

test("signed bundles with malformed content: exit 3 naming the entry, no scratch path, nothing written", {
  skip: !haveGpg() && "gpg is not installed",
}, async (t) => {
  const { dir, key, homePub, files, manifest, seal } = await deliveredBundle(t);
  const manifestEntry = (value: unknown): Entry => ({ name: "manifest.json", data: Buffer.from(typeof value === "string" ? value : JSON.stringify(value)) });
  /** The files as given, with a manifest listing them, changed by `patch`. */
  const bundle = (entries: Entry[], patch: (m: Record<string, unknown>) => unknown = (m) => m): Entry[] => [
    ...entries,
    manifestEntry(patch({ ...manifest, files: listing(entries) })),
  ];
  const replace = (name: string, data: string) => files.map((e) => (e.name === name ? { name, data: Buffer.from(data) } : e));
  const ca = files.find((e) => e.name === "ca.pem") as Entry;
  const cases: Array<[string, Entry[], string, RegExp]> = [
    ["manifest is null", [...files, manifestEntry("null")], "ERR_BUNDLE_MANIFEST", /^the bundle's manifest\.json holds null, not an object$/],
    ["manifest is an array", [...files, manifestEntry("[]")], "ERR_BUNDLE_MANIFEST", /holds an array, not an object/],
    ["files: [null]", [manifestEntry({ ...manifest, files: [null] })], "ERR_BUNDLE_MANIFEST", /lists file #1 as null, not an object/],
    ["files is a string", bundle(files, (m) => ({ ...m, files: "ca.pem" })), "ERR_BUNDLE_MANIFEST", /no valid files \(an array; it is a string\)/],
    [
      "a name that is an object",
      bundle(files, (m) => ({ ...m, files: [{ name: { a: 1 }, sha256: "x", bytes: 1 }] })),
      "ERR_BUNDLE_MANIFEST",
      /lists file #1 without a name \(it is an object\)/,
    ],
    [
      "a sha256 that is a number",
      bundle(files, (m) => ({ ...m, files: listing(files).map((f) => (f.name === "ca.pem" ? { ...f, sha256: 1 } : f)) })),
      "ERR_BUNDLE_MANIFEST",
      /no valid SHA-256 for "ca\.pem"/,
    ],
    ["no partnerId", bundle(files, (m) => ({ ...m, partnerId: undefined })), "ERR_BUNDLE_MANIFEST", /no valid partnerId/],
    ["notAfter not a time", bundle(files, (m) => ({ ...m, notAfter: 42 })), "ERR_BUNDLE_MANIFEST", /no valid notAfter \(an ISO-8601 time\)/],
    [
      "the manifest lists a name twice",
      bundle(files, (m) => ({ ...m, files: [...listing(files), ...listing([ca])] })),
      "ERR_BUNDLE_ENTRY",
      /manifest lists names that would overwrite each other: "ca\.pem" appears twice/,
    ],
    [
      "the manifest lists itself",
      bundle(files, (m) => ({ ...m, files: [...listing(files), { name: "manifest.json", sha256: "0".repeat(64), bytes: 0 }] })),
      "ERR_BUNDLE_MANIFEST",
      /lists manifest\.json among its own files/,
    ],
    ["the zip holds ca.pem twice", [ca, ...bundle(files)], "ERR_BUNDLE_ENTRY", /^the bundle's entries would overwrite each other: "ca\.pem" appears twice$/],
    [
      "a file sub and an entry sub/x",
      bundle([...files, { name: "sub", data: Buffer.from("file\n") }, { name: "sub/x", data: Buffer.from("inner\n") }]),
      "ERR_BUNDLE_ENTRY",
      /"sub" is a file, and "sub\/x" needs it as a directory/,
    ],
    [
      "CA.pem beside ca.pem",
      bundle([...files, { name: "CA.pem", data: Buffer.from("other\n") }]),
      "ERR_BUNDLE_ENTRY",
      /"ca\.pem" and "CA\.pem" differ only in case/,
    ],
    [
      "a name with an escape sequence",
      bundle([...files, { name: "x\u001b[2Jevil.txt", data: Buffer.from("x") }]),
      "ERR_BUNDLE_ENTRY",
      /unsafe entry .* \(control or invisible character in the name\)/,
    ],
    [
      "an unreadable private-key.pem",
      bundle(replace("private-key.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")),
      "ERR_BUNDLE_CONTENT",
      /^private-key\.pem in the bundle is not a readable unencrypted private key$/,
    ],
    [
      "an unreadable chain.pem",
      bundle(replace("chain.pem", "garbage\n")),
      "ERR_BUNDLE_CONTENT",
      /^chain\.pem in the bundle is not a PEM file of certificates$/,
    ],
    [
      "a ca.pem block that is no certificate",
      bundle(replace("ca.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
      "ERR_BUNDLE_CONTENT",
      /^ca\.pem in the bundle is not a readable X\.509 certificate$/,
    ],
    [
      "chain.pem that does not begin with the certificate",
      bundle(replace("chain.pem", ca.data.toString())),
      "ERR_BUNDLE_CONTENT",
      /chain\.pem in the bundle does not begin with certificate\.pem/,
    ],
    ["no certificate.pem", bundle(files.filter((e) => e.name !== "certificate.pem")), "ERR_BUNDLE_MANIFEST", /^the bundle has no certificate\.pem$/],
    [
      "a serial the certificate does not have",
      bundle(files, (m) => ({ ...m, serial: "1234" })),
      "ERR_BUNDLE_MANIFEST",
      /manifest's serial does not match certificate\.pem/,
    ],
  ];
  for (const [i, [label, entries, code, message]] of cases.entries()) {
    await t.test(label, async () => {
      await writeFile(join(dir, `hostile-${i}.pgp`), await seal(craftZip(entries)));
      const out = `refused-${i}`;
      const r = await mtls(["bundle", "open", `hostile-${i}.pgp`, "--key", key.secretFile, "--signer", homePub, "--out", out, "--json"], { cwd: dir });
      assert.equal(r.exitCode, 3, r.stdout);
      const error = json(r).error;
      assert.equal(error?.code, code);
      assert.match(error?.message ?? "", message);
      assert.ok(!error?.message.includes(dir) && !error?.message.includes(".open-"), error?.message);
      assert.match(r.stderr, /^error: [^\n]+\n/);
      await assert.rejects(stat(join(dir, out)));
      assert.deepEqual(
        (await readdir(dir)).filter((f) => f.startsWith(`.${out}.`)),
        [],
        "no scratch directory left behind",
      );
    });
  }
});

test("bundle open warns, and still opens, when the certificate is expired or not yet valid, or the bundle was made for another key", {
  skip: !haveGpg() && "gpg is not installed",
}, async (t) => {
  const { dir, key, other, homePub, files, manifest, seal } = await deliveredBundle(t);
  assert.equal(manifest.recipientFingerprint, key.fingerprint, "the manifest names the key the bundle is encrypted to");
  const open = (bundle: string, out: string, as = key, now?: string) =>
    mtls(["bundle", "open", bundle, "--key", as.secretFile, "--signer", homePub, "--out", out, "--json"], {
      cwd: dir,
      ...(now ? { env: { MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: now } } : {}),
    });
  const expired = await open("b.pgp", "later", key, "2200-01-01T00:00:00Z");
  assert.equal(expired.exitCode, 0, expired.stderr);
  assert.match(
    json(expired).warnings.join("\n"),
    /^the certificate in the bundle \(serial [0-9a-f]+\) expired on \d{4}-\d\d-\d\dT.*ask the home party for a new one$/,
  );
  assert.match(expired.stderr, /warning: the certificate in the bundle .* expired on/);
  const early = await open("b.pgp", "earlier", key, "2001-01-01T00:00:00Z");
  assert.equal(early.exitCode, 0, early.stderr);
  assert.match(json(early).warnings.join("\n"), /is not valid before \d{4}-\d\d-\d\dT/);

  // The same signed zip, encrypted to someone else: what anyone who can decrypt it could do.
  const zip = craftZip([...files, { name: "manifest.json", data: await readFile(join(dir, "opened", "manifest.json")) }]);
  await writeFile(join(dir, "forwarded.pgp"), await seal(zip, other.publicArmored));
  const forwarded = await open("forwarded.pgp", "forwarded", other);
  assert.equal(forwarded.exitCode, 0, forwarded.stderr);
  assert.deepEqual(json(forwarded).warnings, [
    `the bundle was made for partner acme's key ${key.fingerprint}, not for your key ${other.fingerprint}: someone re-encrypted it to you; do not use it unless the home party confirms it is yours`,
  ]);
  const human = await mtls(["bundle", "open", "forwarded.pgp", "--key", other.secretFile, "--signer", homePub, "--out", "forwarded-2"], { cwd: dir });
  assert.equal(human.exitCode, 0, human.stderr);
  assert.match(human.stderr, /^warning: the bundle was made for partner acme's key/m);

  const misnamed = craftZip([...files, { name: "manifest.json", data: Buffer.from(JSON.stringify({ ...manifest, signerFingerprint: "0".repeat(40) })) }]);
  await writeFile(join(dir, "misnamed.pgp"), await seal(misnamed));
  const signer = await open("misnamed.pgp", "misnamed");
  assert.equal(signer.exitCode, 0, signer.stderr);
  assert.match(json(signer).warnings.join("\n"), /^the manifest names 0{40} as its signer, but the bundle is signed by [0-9A-F]{40}$/);
});

test("bundle open never uses or removes a directory already at a scratch name beside --out", { skip: !haveGpg() && "gpg is not installed" }, async (t) => {
  const { dir, key, homePub } = await deliveredBundle(t);
  const partnerDir = join(dir, "partner");
  // The name the scratch directory had, for this very process (the command runs in-process here).
  const planted = join(partnerDir, `.mine.open-${process.pid}`);
  await mkdir(planted, { recursive: true });
  await writeFile(join(planted, "keep.txt"), "not mtls's\n");
  const { ctx } = commandContext(partnerDir);
  const opened = await runBundleOpen(ctx, { file: join(dir, "b.pgp"), key: key.secretFile, signer: homePub, out: "mine" });
  assert.equal(opened.outDir, join(partnerDir, "mine"));
  assert.equal(await readFile(join(planted, "keep.txt"), "utf8"), "not mtls's\n");
  assert.deepEqual((await readdir(join(partnerDir, "mine"))).sort(), [
    "README.txt",
    "ca.pem",
    "certificate.pem",
    "chain.pem",
    "manifest.json",
    "private-key.pem",
  ]);
  assert.equal((await stat(join(partnerDir, "mine", "private-key.pem"))).mode & 0o777, 0o600);
  assert.deepEqual((await readdir(partnerDir)).sort(), [`.mine.open-${process.pid}`, "mine"]);
});
