// SoftHSM2 tokens for tests: each test file gets its own SOFTHSM2_CONF in a temp directory, so
// tokens never leak between files (or into the machine's /etc/softhsm configuration).
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { have, ROOT, run, tempDir } from "./run.js";

export const SOFTHSM_MODULE =
  ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"].find((p) => existsSync(p)) ?? "/usr/lib/softhsm/libsofthsm2.so";
export const TOKEN_PIN = "4711-test-pin";
const SO_PIN = "so-pin-0815";

/** Why token tests cannot run here, or undefined when they can. */
export function softhsmMissing(): string | undefined {
  if (!have("softhsm2-util")) return "softhsm2-util is not installed (Debian: softhsm2)";
  if (!existsSync(SOFTHSM_MODULE)) return `the SoftHSM2 module is not at ${SOFTHSM_MODULE}`;
  try {
    // Loaded, not just resolved: its native addon must have been built for this Node's ABI
    // (CI's second runtime runs the suite with the addon built for the first).
    createRequire(join(ROOT, "package.json"))("graphene-pk11");
  } catch (err) {
    return `the optional graphene-pk11 package does not load here (${String((err as Error).message)
      .split("\n")[0]
      ?.slice(0, 120)}); npm install builds it with python3, make and g++`;
  }
  return undefined;
}

export interface SoftHsm {
  /** The SOFTHSM2_CONF file; pass `env` to every process that should see these tokens. */
  conf: string;
  tokenDir: string;
  env: Record<string, string>;
  /** A key store URI for `--key-store`, for the token with this label. */
  uri(label: string): string;
  /** Creates (initialises) a token with the test PIN. */
  addToken(label: string): Promise<void>;
}

/** A fresh SoftHSM2 configuration with no tokens yet (one per test file). */
export async function softHsm(t: TestContext): Promise<SoftHsm> {
  const dir = await tempDir(t, "mtls-softhsm-");
  const tokenDir = join(dir, "tokens");
  await mkdir(tokenDir, { mode: 0o700 });
  const conf = join(dir, "softhsm2.conf");
  await writeFile(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const env = { SOFTHSM2_CONF: conf };
  return {
    conf,
    tokenDir,
    env,
    uri: (label) => `pkcs11:token=${encodeURIComponent(label)}?module-path=${SOFTHSM_MODULE}`,
    async addToken(label) {
      const r = await run("softhsm2-util", ["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", TOKEN_PIN], {
        env: { ...process.env, ...env },
      });
      if (r.exitCode !== 0) throw new Error(`softhsm2-util --init-token failed: ${r.stderr}${r.stdout}`);
    },
  };
}

/** `pkcs11-tool --list-objects` of one token, logged in (private objects are listed only then). */
export function listObjects(hsm: SoftHsm, label: string) {
  return run("pkcs11-tool", ["--module", SOFTHSM_MODULE, "--token-label", label, "--login", "--pin", TOKEN_PIN, "--list-objects"], {
    env: { ...process.env, ...hsm.env },
  });
}
