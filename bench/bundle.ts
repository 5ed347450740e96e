import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENV, mtlsSync, opensslCsr, ROOT, tempDir } from "./fixtures.js";
import { type Row, timeCommand } from "./lib.js";

function gpg(home: string, args: string[], input?: string): string {
  const r = spawnSync("gpg", ["--batch", "--no-tty", ...args], { env: { ...process.env, GNUPGHOME: home }, input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`gpg ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** Stops the agent gpg started for `home`, which would outlive the bench. */
function stopAgent(home: string): void {
  spawnSync("gpgconf", ["--homedir", home, "--kill", "gpg-agent"], { stdio: "ignore" });
}

/** A PKI whose partner "acme" has a gpg-made OpenPGP key and a certificate: what export needs. */
export function bundleFixture(): { dir: string; home: string; out: string } {
  const dir = tempDir("bundle");
  const home = join(dir, "gnupg");
  mkdirSync(home, { mode: 0o700 });
  gpg(
    home,
    ["--gen-key"],
    "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\nName-Real: Partner\nName-Email: partner@bench.example\nExpire-Date: 1y\n%commit\n",
  );
  gpg(home, ["--gen-key"], "%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nName-Real: Home\nName-Email: home@bench.example\nExpire-Date: 1y\n%commit\n");
  writeFileSync(join(dir, "partner.asc"), gpg(home, ["--armor", "--export", "partner@bench.example"]));
  stopAgent(home);
  mtlsSync(["ca", "init", "--pki", "pki", "-q"], dir);
  mtlsSync(["--pki", "pki", "partner", "add", "acme", "--pgp-key", "partner.asc", "-q"], dir);
  opensslCsr(dir, "p");
  mtlsSync(["--pki", "pki", "partner", "issue", "acme", "--csr", "p.csr", "-q"], dir);
  mtlsSync(["--pki", "pki", "pgp", "init", "-q"], dir);
  return { dir, home, out: join(dir, "acme.zip.pgp") };
}

/** One delivery bundle: `mtls partner export` vs `zip` + `gpg --encrypt --sign` of the same files. */
export function benchBundle(runs = 7): Row[] {
  const { dir, home, out } = bundleFixture();
  const mtls = timeCommand(process.execPath, [join(ROOT, "bin/mtls.js"), "--pki", "pki", "partner", "export", "acme", "--out", out, "-q"], {
    cwd: dir,
    env: ENV,
    runs,
    before: () => rmSync(out, { force: true }),
  });
  const bytes = readFileSync(out).length;
  // The peer: the same five files zipped and sealed by hand.
  const files = join(dir, "files");
  mkdirSync(files);
  const serial = JSON.parse(mtlsSync(["--pki", "pki", "list", "--json"], dir)).result.certificates[0].serial;
  for (const [name, src] of [
    ["certificate.pem", `pki/certs/${serial}.pem`],
    ["chain.pem", `pki/certs/${serial}.chain.pem`],
    ["ca.pem", "pki/ca/root.pem"],
  ]) {
    writeFileSync(join(files, name as string), readFileSync(join(dir, src as string)));
  }
  writeFileSync(join(files, "README.txt"), "instructions\n");
  writeFileSync(join(files, "manifest.json"), "{}\n");
  const script = `cd ${files} && rm -f ../b.zip ../b.pgp && zip -q -X ../b.zip * && GNUPGHOME=${home} gpg --batch --yes --trust-model always -r partner@bench.example -u home@bench.example --encrypt --sign -o ../b.pgp ../b.zip`;
  const peer = timeCommand("sh", ["-c", script], { runs });
  stopAgent(home);
  return [
    {
      task: `export one delivery bundle (${bytes} bytes; OpenPGP key unlock + sign + encrypt; includes process start)`,
      mtls,
      peer: { name: "zip + gpg --encrypt --sign", t: peer },
    },
  ];
}
