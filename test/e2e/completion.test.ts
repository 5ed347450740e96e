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

  /**
   * Completes the last word of each line (a trailing space completes an empty word), all in one
   * bash: the script is sourced once, then _mtls runs as readline would run it, once per line.
   */
  async function completeAll(lines: string[], cwd = dir): Promise<string[][]> {
    const cases = lines.map((line) => {
      const words = line.split(" ");
      return `COMP_WORDS=(${words.map(q).join(" ")}); COMP_CWORD=${words.length - 1}; COMP_LINE=${q(line)}; COMP_POINT=${line.length}
COMPREPLY=(); _mtls; echo "::case::"; printf '%s\n' "\${COMPREPLY[@]}"`;
    });
    const r = await run("bash", ["--norc", "--noprofile", "-c", `source ${q(join(dir, "mtls.bash"))}\ncomplete -p mtls\n${cases.join("\n")}`], { cwd, env });
    assert.equal(r.exitCode, 0, r.stderr);
    const [spec, ...results] = r.stdout.split("::case::\n");
    assert.equal(spec, "complete -F _mtls mtls\n");
    return results.map((out) => out.split("\n").filter(Boolean).sort());
  }

  const revocable = serials.filter((s) => s !== revoked).sort();
  const expectations: Array<[string, string[] | ((got: string[]) => void)]> = [
    ["mtls pa", ["partner"]],
    ["mtls c", ["ca", "cert", "completion", "crl"]],
    [
      "mtls partner ",
      (got) =>
        ["add", "export", "issue", "list", "offboard", "onboard", "show"].forEach((s) => {
          assert.ok(got.includes(s), s);
        }),
    ],
    ["mtls partner issue --key", ["--key-dir", "--key-type", "--keys-out"]],
    ["mtls --json partner issue --out", ["--out", "--out-key", "--out-leaf"]],
    ["mtls partner issue --key-type rsa", ["rsa-2048", "rsa-3072", "rsa-4096"]],
    ["mtls revoke --reason key", ["keyCompromise"]],
    ["mtls list --", (got) => assert.ok(got.includes("--json"), "global options complete after a command")],
    // Values from the PKI: partner ids, and serials that can still be revoked.
    ["mtls partner show acme", ["acme", "acme-eu"]],
    ["mtls list --partner ", ["acme", "acme-eu", "beta"]],
    ["mtls revoke ", revocable],
    [`mtls partner export acme --serial ${(serials[0] as string).slice(0, 6)}`, [serials[0] as string]],
    // The value of an option is not mistaken for a command word.
    ["mtls --pki pki partner show b", ["beta"]],
    // Files where a file is asked for.
    ["mtls partner issue acme --csr acme-e", ["acme-eu.csr", "acme-eu.key"]],
    ["mtls completion ", ["bash", "fish", "zsh"]],
  ];
  const results = await completeAll(expectations.map(([line]) => line));
  expectations.forEach(([line, want], i) => {
    const got = results[i] ?? [];
    if (typeof want === "function") want(got);
    else assert.deepEqual(got, want, line);
  });
  // No PKI here: ids complete to nothing and no error lands on the command line.
  assert.deepEqual(await completeAll(["mtls partner show "], join(dir, "bin")), [[]]);

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
