import type { Command } from "commander";
import { usageError } from "../../../core/errors.js";
import type { OpenBundleResult } from "../../../core/index.js";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp, secretSource } from "../../flags.js";
import { fields, table } from "../../output.js";
import { loadWholeCore } from "../../whole-core.js";

interface Opts {
  key: string;
  signer?: string;
  out?: string;
  force?: boolean;
  passphraseFile?: string;
}

export interface BundleOpenOptions extends Opts {
  /** The bundle ("-" is standard input). */
  file: string;
}

/**
 * `mtls bundle open`, in-process: decrypts with the partner's key (its passphrase from the shared
 * sourcing), verifies the signer and every file, unpacks.
 */
export async function runBundleOpen(ctx: CliContext, opts: BundleOpenOptions): Promise<OpenBundleResult> {
  if (!opts.signer)
    throw usageError(
      "ERR_MISSING",
      "missing --signer <file> (the home party's public key)",
      "a bundle is only trusted when its signature is checked against a key you got out of band",
    );
  const core = await loadWholeCore();
  const passphrase = secretSource(ctx, {
    file: opts.passphraseFile,
    envVar: "MTLS_PGP_PASSPHRASE",
    ask: () => ctx.prompt.password("Passphrase of your OpenPGP key:"),
    missing: { message: "your OpenPGP key is encrypted and no passphrase was given", hint: "set MTLS_PGP_PASSPHRASE or pass --passphrase-file <file>" },
  });
  return core.openBundle({
    bundle: await ctx.readInput(opts.file, "bundle", INPUT_LIMITS.bundle),
    keyArmored: (await ctx.readInput(opts.key, "OpenPGP private key", INPUT_LIMITS.pgpKey)).toString("utf8"),
    keyPassphrase: passphrase,
    signerArmored: (await ctx.readInput(opts.signer, "signer key", INPUT_LIMITS.pgpKey)).toString("utf8"),
    outDir: ctx.resolvePath(opts.out ?? "bundle"),
    force: Boolean(opts.force),
    now: ctx.now(),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("open")
    .description("the partner's side: decrypt a bundle, verify the home party's signature and every file, unpack")
    .argument("<file>", "the bundle (.zip.pgp, binary or armored)")
    .requiredOption("--key <file>", "your OpenPGP private key (armored; passphrase from MTLS_PGP_PASSPHRASE, --passphrase-file or a prompt)")
    .option("--signer <file>", "the home party's public key you received out of band (required)")
    .option("--out <dir>", "where to unpack (default: ./bundle)")
    .option("--passphrase-file <file>", "read your OpenPGP key's passphrase from the first line of <file>")
    .option("--force", "replace a non-empty --out directory")
    .addHelpText("after", examplesHelp(["MTLS_PGP_PASSPHRASE=... mtls bundle open acme.zip.pgp --key my-key.asc --signer home-party.asc --out ./mtls"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  verified and unpacked",
        "2  --signer missing",
        "3  wrong key, tampered or unsigned bundle, bad signature, malformed or mismatched manifest, unreadable certificate or key, unsafe or clashing entry, over 64 MiB once decompressed",
        "4  --out exists and is not empty (use --force), or is not a directory",
      ]),
    )
    .action(async (file: string, opts: Opts) => {
      const result = await runBundleOpen(ctx, { ...opts, file });
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, (r, s) => {
        const head = fields(
          [
            ["signature", s.ok(`good, by ${r.signer.fingerprint} (${r.signer.userIds.join("; ")})`)],
            ["certificate", `${r.manifest.serial} for ${r.manifest.partnerId}, valid until ${r.manifest.notAfter}, renew by ${r.manifest.renewBy}`],
            ["unpacked to", r.outDir],
          ],
          s,
        );
        return `${head}\n${table(
          ["FILE", "MODE", "SHA-256"],
          r.files.map((f) => [f.name, f.mode, f.sha256]),
          s,
        )}`;
      });
    });
}
