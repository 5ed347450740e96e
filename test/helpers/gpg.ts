// GnuPG as the partner uses it: a throwaway GNUPGHOME per test, keys made by `gpg --batch --gen-key`.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { have, run, tempDir } from "./run.js";

export const haveGpg = () => have("gpg");

export interface GpgHome {
  home: string;
  env: NodeJS.ProcessEnv;
  gpg(args: string[], input?: string | Buffer): ReturnType<typeof run>;
}

export async function gpgHome(t: TestContext): Promise<GpgHome> {
  const dir = await tempDir(t, "mtls-gpg-");
  const home = join(dir, "gnupg");
  await mkdir(home, { mode: 0o700 });
  const env = { ...process.env, GNUPGHOME: home };
  return {
    home,
    env,
    gpg: (args, input) => run("gpg", ["--batch", "--no-tty", "--pinentry-mode", "loopback", ...args], { env, ...(input !== undefined ? { input } : {}) }),
  };
}

export type GpgKeyKind = "cv25519" | "rsa4096" | "rsa1024" | "sign-only";

const PARAMS: Record<GpgKeyKind, string> = {
  cv25519: "Key-Type: EDDSA\nKey-Curve: ed25519\nSubkey-Type: ECDH\nSubkey-Curve: cv25519\n",
  rsa4096: "Key-Type: RSA\nKey-Length: 4096\nSubkey-Type: RSA\nSubkey-Length: 4096\n",
  rsa1024: "Key-Type: RSA\nKey-Length: 1024\nSubkey-Type: RSA\nSubkey-Length: 1024\n",
  "sign-only": "Key-Type: EDDSA\nKey-Curve: ed25519\nKey-Usage: sign\n",
};

export interface GpgKey {
  fingerprint: string;
  email: string;
  publicArmored: string;
  secretArmored: string;
  publicFile: string;
  secretFile: string;
}

/** Generates a key in `g`; `fakedTime` (gpg's --faked-system-time) makes keys that are already expired. */
export async function genKey(g: GpgHome, kind: GpgKeyKind, o: { email: string; passphrase?: string; expire?: string; fakedTime?: string }): Promise<GpgKey> {
  // gpg wants Key-Type first; Passphrase belongs inside the block.
  const params = `${o.passphrase ? "" : "%no-protection\n"}${PARAMS[kind]}${o.passphrase ? `Passphrase: ${o.passphrase}\n` : ""}Name-Real: Test ${o.email}\nName-Email: ${o.email}\nExpire-Date: ${o.expire ?? "1y"}\n%commit\n`;
  const file = join(g.home, `${o.email}.params`);
  await writeFile(file, params);
  const gen = await g.gpg([...(o.fakedTime ? ["--faked-system-time", o.fakedTime] : []), "--gen-key", file]);
  if (gen.exitCode !== 0) throw new Error(`gpg --gen-key failed: ${gen.stderr}`);
  const list = await g.gpg(["--with-colons", "--list-keys", o.email]);
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(list.stdout)?.[1] ?? "";
  const pub = await g.gpg(["--armor", "--export", o.email]);
  const sec = await g.gpg(["--armor", ...(o.passphrase ? ["--passphrase", o.passphrase] : []), "--export-secret-keys", o.email]);
  const publicFile = join(g.home, `${o.email}.pub.asc`);
  const secretFile = join(g.home, `${o.email}.sec.asc`);
  await writeFile(publicFile, pub.stdout);
  await writeFile(secretFile, sec.stdout);
  return { fingerprint, email: o.email, publicArmored: pub.stdout, secretArmored: sec.stdout, publicFile, secretFile };
}

/** Revokes a key with the revocation certificate gpg made at generation, then re-exports it. */
export async function revokeKey(g: GpgHome, key: GpgKey): Promise<string> {
  const revDir = join(g.home, "openpgp-revocs.d");
  const rev = (await readdir(revDir)).find((f) => f.startsWith(key.fingerprint)) as string;
  // gpg prefixes the armor line with ':' so the certificate is not imported by accident.
  const text = (await readFile(join(revDir, rev), "utf8")).replace(/^:-----BEGIN/m, "-----BEGIN");
  await g.gpg(["--import"], text);
  const file = join(g.home, `${key.email}.revoked.asc`);
  await writeFile(file, (await g.gpg(["--armor", "--export", key.email])).stdout);
  return file;
}
