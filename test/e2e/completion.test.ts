// #22: `mtls completion bash` is sourced into a real bash and its completion function is called
// the way readline calls it; the answers must follow the command tree and the PKI's contents.
import assert from "node:assert/strict";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { BIN, have, initTempCa, json, mtls, PASSPHRASE, run } from "../helpers/run.js";

const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

/** A directory with an `mtls` on it, as an installed package would put on PATH. */
async function binDir(dir: string): Promise<string> {
  const bin = join(dir, "bin");
  await mkdir(bin);
  await writeFile(join(bin, "mtls"), `#!/bin/sh\nexec ${q(process.execPath)} ${q(BIN)} "$@"\n`);
  await chmod(join(bin, "mtls"), 0o755);
  return bin;
}

test("bash completion: commands, options, choices, files, partner ids and serials from the PKI", async (t) => {
  const dir = await initTempCa(t);
  const bin = await binDir(dir);
  for (const id of ["acme", "acme-eu", "beta"]) {
    const { csr } = await makeCsr(dir, id);
    assert.equal((await mtls(["partner", "issue", id, "--csr", csr], { cwd: dir })).exitCode, 0);
  }
  const serials: string[] = json(await mtls(["list", "--json"], { cwd: dir })).result.certificates.map((c: { serial: string }) => c.serial);
  const revoked = serials[2] as string;
  assert.equal((await mtls(["revoke", revoked, "--yes"], { cwd: dir })).exitCode, 0);

  const script = await mtls(["completion", "bash"], { cwd: dir });
  assert.equal(script.exitCode, 0, script.stderr);
  await writeFile(join(dir, "mtls.bash"), script.stdout);
  const env = { PATH: `${bin}:${process.env.PATH}`, MTLS_CA_PASSPHRASE: PASSPHRASE, HOME: dir };

  /** Completes the last word of `line` (a trailing space completes an empty word). */
  async function complete(line: string, cwd = dir): Promise<string[]> {
    const words = line.split(" ");
    const body = `source ${q(join(dir, "mtls.bash"))}
complete -p mtls
COMP_WORDS=(${words.map(q).join(" ")}); COMP_CWORD=${words.length - 1}; COMP_LINE=${q(line)}; COMP_POINT=${line.length}
_mtls
printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = await run("bash", ["--norc", "--noprofile", "-c", body], { cwd, env });
    assert.equal(r.exitCode, 0, r.stderr);
    const [spec, ...out] = r.stdout.split("\n");
    assert.equal(spec, "complete -F _mtls mtls");
    return out.filter(Boolean).sort();
  }

  assert.deepEqual(await complete("mtls pa"), ["partner"]);
  assert.deepEqual(await complete("mtls c"), ["ca", "completion", "crl"]);
  const partnerSubs = await complete("mtls partner ");
  for (const s of ["add", "export", "issue", "list", "offboard", "onboard", "show"]) assert.ok(partnerSubs.includes(s), s);
  assert.deepEqual(await complete("mtls partner issue --key"), ["--key-dir", "--key-type"]);
  assert.deepEqual(await complete("mtls --json partner issue --out"), ["--out", "--out-key", "--out-leaf"]);
  assert.deepEqual(await complete("mtls partner issue --key-type rsa"), ["rsa-2048", "rsa-3072", "rsa-4096"]);
  assert.deepEqual(await complete("mtls revoke --reason key"), ["keyCompromise"]);
  assert.ok((await complete("mtls list --")).includes("--json"), "global options complete after a command");
  // Values from the PKI: partner ids, and serials that can still be revoked.
  assert.deepEqual(await complete("mtls partner show acme"), ["acme", "acme-eu"]);
  assert.deepEqual(await complete("mtls list --partner "), ["acme", "acme-eu", "beta"]);
  assert.deepEqual(await complete("mtls revoke "), serials.filter((s) => s !== revoked).sort());
  assert.deepEqual(await complete(`mtls partner export acme --serial ${(serials[0] as string).slice(0, 6)}`), [serials[0]]);
  // The value of an option is not mistaken for a command word.
  assert.deepEqual(await complete("mtls --pki pki partner show b"), ["beta"]);
  // Files where a file is asked for.
  assert.deepEqual(await complete("mtls partner issue acme --csr acme-e"), ["acme-eu.csr", "acme-eu.key"]);
  assert.deepEqual(await complete("mtls completion "), ["bash", "fish", "zsh"]);
  // No PKI here: ids complete to nothing and no error lands on the command line.
  const elsewhere = join(dir, "bin");
  assert.deepEqual(await complete("mtls partner show ", elsewhere), []);

  const bad = await mtls(["completion", "tcsh", "--json"], { cwd: dir });
  assert.equal(bad.exitCode, 2);
  assert.match(json(bad).error?.message ?? "", /unknown shell "tcsh"/);
});

test("zsh and fish scripts parse in their shells and complete from the same tree", async (t) => {
  const dir = await initTempCa(t);
  for (const shell of ["zsh", "fish"]) {
    const r = await mtls(["completion", shell], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /partner/);
    assert.match(r.stdout, /--out-leaf|-l out-leaf/);
    await writeFile(join(dir, `mtls.${shell}`), r.stdout);
  }
  if (have("zsh")) {
    const z = await run("zsh", ["-f", "-c", `source ${q(join(dir, "mtls.zsh"))} && echo \${_comps[mtls]}`], { cwd: dir });
    assert.equal(z.exitCode, 0, z.stderr);
    assert.match(z.stdout, /_bash_complete|_mtls/);
  } else t.diagnostic("zsh is not installed: its script was only generated");
  if (have("fish")) {
    const { csr } = await makeCsr(dir, "fishy");
    assert.equal((await mtls(["partner", "issue", "fishy", "--csr", csr], { cwd: dir })).exitCode, 0);
    const path = `${await binDir(dir)}:${process.env.PATH}`;
    const f = await run(
      "fish",
      [
        "--no-config",
        "-c",
        `source ${q(join(dir, "mtls.fish"))}; complete -C 'mtls partner is'; complete -C 'mtls partner issue --key-type rsa-3'; complete -C 'mtls partner show fi'`,
      ],
      { cwd: dir, env: { PATH: path, HOME: dir } },
    );
    assert.equal(f.exitCode, 0, f.stderr);
    assert.match(f.stdout, /^issue\t/m);
    assert.match(f.stdout, /^rsa-3072\t/m);
    assert.match(f.stdout, /^fishy$/m);
  } else t.diagnostic("fish is not installed: its script was only generated");
});
