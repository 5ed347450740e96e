// #13 reproductions 8 and 11: inputs are bounded before they are read, and passphrase files are
// bytes, not text to be repaired.
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { BIN, baseEnv, initTempCa, json, mtls, openssl, run, snapshot, tempDir } from "../helpers/run.js";

test("#13: /dev/zero and oversized input is refused (exit 3) at its limit, wherever a file is read", async (t) => {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  await writeFile(join(dir, "zero.jsonl"), `${JSON.stringify({ partner: "z", csr: "/dev/zero" })}\n`);
  const before = await snapshot(pki);
  const cases: Array<[string, string[], RegExp]> = [
    ["CSR /dev/zero", ["partner", "issue", "z", "--csr", "/dev/zero"], /CSR \/dev\/zero is larger than 65536 bytes/],
    ["batch file /dev/zero", ["partner", "issue", "--batch", "/dev/zero"], /batch file \/dev\/zero is larger than/],
    ["a batch line's CSR", ["partner", "issue", "--batch", "zero.jsonl", "--all-or-nothing"], /line 1 CSR \/dev\/zero is larger than 65536 bytes/],
    ["OpenPGP key", ["partner", "add", "z", "--pgp-key", "/dev/zero"], /OpenPGP key \/dev\/zero is larger than/],
    ["passphrase file", ["crl", "publish", "--passphrase-file", "/dev/zero"], /passphrase file \/dev\/zero is larger than 4096 bytes/],
    ["pgp init --import", ["pgp", "init", "--import", "/dev/zero"], /OpenPGP key \/dev\/zero is larger than/],
    ["bundle", ["bundle", "open", "/dev/zero", "--key", "/dev/zero", "--signer", "/dev/zero"], /bundle \/dev\/zero is larger than 67108864 bytes/],
    ["probe --cert", ["probe", "https://127.0.0.1:9/", "--cert", "/dev/zero", "--key", "/dev/zero"], /--cert \/dev\/zero is larger than/],
  ];
  for (const [what, args, message] of cases) {
    const r = await mtls([...args, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 3, `${what}: ${r.stdout}${r.stderr}`);
    assert.equal(json(r).error?.code, what === "a batch line's CSR" ? "ERR_BATCH" : "ERR_INPUT_TOO_LARGE", what);
    assert.match(json(r).error?.message ?? "", message, what);
  }
  // Standard input: 1 MiB of a stream that would go on, cut off at the CSR limit.
  const stdin = await mtls(["partner", "issue", "z", "--csr", "-", "--json"], { cwd: dir, input: Buffer.alloc(1024 * 1024, 0x41) });
  assert.equal(stdin.exitCode, 3, stdin.stdout);
  assert.match(json(stdin).error?.message ?? "", /CSR on standard input is larger than 65536 bytes/);
  assert.deepEqual(await snapshot(pki), before);
});

test("#13: a passphrase file is its first line's bytes: invalid UTF-8 is refused; valid UTF-8 opens with openssl pkey", async (t) => {
  const dir = await tempDir(t);
  const bad = join(dir, "bad.pass");
  const bad2 = join(dir, "bad2.pass");
  // Two files that differ only in their invalid bytes: each used to become the same U+FFFD text.
  await writeFile(bad, Buffer.from([0x61, 0x62, 0xff, 0xfe, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x0a]));
  await writeFile(bad2, Buffer.from([0x61, 0x62, 0xc0, 0x80, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x0a]));
  const good = join(dir, "good.pass");
  await writeFile(good, "pässwörd 🔑 mit Umlauten\nsecond line ignored\n");
  const crlf = join(dir, "crlf.pass");
  await writeFile(crlf, "pässwörd 🔑 mit Umlauten\r\n");
  for (const f of [bad, bad2, good, crlf]) await chmod(f, 0o600);
  const env = baseEnv();
  const refused = await mtls(["--pki", "bad", "ca", "init", "--name", "T", "--passphrase-file", bad, "--json"], { cwd: dir, env });
  assert.equal(refused.exitCode, 3, refused.stdout);
  assert.equal(json(refused).error?.code, "ERR_PASSPHRASE_ENCODING");
  assert.match(json(refused).error?.message ?? "", /not valid UTF-8/);

  // OpenSSL keeps the CR of a CRLF line; mtls refuses the file rather than disagree with it.
  const crlfInit = await mtls(["--pki", "crlf", "ca", "init", "--name", "T", "--passphrase-file", crlf, "--json"], { cwd: dir, env });
  assert.equal(crlfInit.exitCode, 3, crlfInit.stdout);
  assert.match(json(crlfInit).error?.message ?? "", /CR \(a Windows line ending\)/);

  const init = await mtls(["ca", "init", "--name", "T", "--passphrase-file", good, "--json"], { cwd: dir, env });
  assert.equal(init.exitCode, 0, init.stdout);
  // OpenSSL reads the same file, takes the same bytes, and opens the key.
  const pkey = await openssl(["pkey", "-in", join(dir, "pki/private/intermediate.key"), "-passin", `file:${good}`, "-noout"]);
  assert.equal(pkey.exitCode, 0, pkey.stderr);
  // An existing CA is never unlocked by a file of invalid bytes either.
  const { csr } = await makeCsr(dir, "p1");
  const before = await snapshot(join(dir, "pki"));
  for (const f of [bad, bad2]) {
    const r = await mtls(["partner", "issue", "p1", "--csr", csr, "--passphrase-file", f, "--json"], { cwd: dir, env });
    assert.equal(r.exitCode, 3, r.stdout);
    assert.equal(json(r).error?.code, "ERR_PASSPHRASE_ENCODING");
  }
  // Every passphrase or password file is read the same way (here PKCS#12 passwords for inspect).
  const inspect = await mtls(["inspect", join(dir, "pki/ca/root.pem"), "--password-file", bad, "--json"], { cwd: dir, env });
  assert.equal(inspect.exitCode, 3, inspect.stdout);
  assert.equal(json(inspect).error?.code, "ERR_PASSPHRASE_ENCODING");
  // The environment variable: Node has already replaced the bytes, so U+FFFD is refused there.
  const viaEnv = await run(
    "sh",
    ["-c", `MTLS_CA_PASSPHRASE="$(printf 'ab\\377\\376cdefghij')" exec "$0" "$@"`, process.execPath, BIN, "crl", "publish", "--json"],
    {
      cwd: dir,
      env,
    },
  );
  assert.equal(viaEnv.exitCode, 3, viaEnv.stdout + viaEnv.stderr);
  assert.match(viaEnv.stdout, /MTLS_CA_PASSPHRASE is not valid UTF-8/);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
});
