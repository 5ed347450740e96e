import type { Command } from "commander";
import type { P12FileResult } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp } from "../../flags.js";
import { addP12PasswordOptions, checkP12PasswordDestination, keyPassphrase, type P12PasswordOpts, profileOption, withP12Password } from "../../p12-flags.js";
import { renderP12 } from "../../render.js";
import { loadWholeCore } from "../../whole-core.js";

export interface P12CreateOptions extends P12PasswordOpts {
  cert: string;
  key: string;
  keyPassphraseFile?: string;
  chain?: string;
  /** Default modern, as on the command line. */
  profile?: string;
  name?: string;
  out: string;
  force?: boolean;
}

/**
 * `mtls p12 create`, in-process: writes the PKCS#12 file and returns it with its password (the CLI
 * decides where the password goes: --p12-password-file, stdout or --json).
 */
export async function runP12Create(ctx: CliContext, opts: P12CreateOptions): Promise<P12FileResult> {
  checkP12PasswordDestination(ctx, opts);
  const core = await loadWholeCore();
  const pass = await keyPassphrase(ctx, opts.keyPassphraseFile);
  return core.createP12File({
    cert: await ctx.readInput(opts.cert, "certificate"),
    certSource: `certificate ${opts.cert}`,
    key: await ctx.readInput(opts.key, "key"),
    keySource: `key ${opts.key}`,
    ...(pass !== undefined ? { keyPassphrase: pass } : {}),
    ...(opts.chain ? { chain: await ctx.readInput(opts.chain, "chain"), chainSource: `chain ${opts.chain}` } : {}),
    profile: core.parseP12Profile(opts.profile ?? "modern"),
    ...(opts.name ? { name: opts.name } : {}),
    out: ctx.resolvePath(opts.out),
    ...(opts.p12PasswordFile ? { passwordFile: ctx.resolvePath(opts.p12PasswordFile) } : {}),
    force: Boolean(opts.force),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("create")
    .description("write a PKCS#12 file from a certificate, its private key and chain (no PKI needed)")
    .requiredOption("--cert <file>", "the certificate (PEM or DER); more certificates after it count as chain")
    .requiredOption("--key <file>", "its private key (PEM, clear or encrypted, or PKCS#8 DER)")
    .option("--key-passphrase-file <file>", "the passphrase of an encrypted --key (first line)")
    .option("--chain <file>", "issuing CA certificates (PEM); put in order leaf → root")
    .addOption(
      profileOption("--profile <profile>", "modern (OpenSSL 3, Java, Windows 10+), legacy-des (macOS Keychain, Windows Server 2016)").default("modern"),
    )
    .option("--name <alias>", "friendly name (alias in keytool and Windows; default: the certificate's CN)")
    .requiredOption("--out <file>", "where to write the .p12 (mode 0600)")
    .option("--force", "overwrite --out and --p12-password-file");
  addP12PasswordOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls p12 create --cert acme.pem --key acme.key --chain pki/ca/chain.pem --out acme.p12",
        "mtls p12 create --cert gw.pem --key gw.key --profile legacy-des --out gw.p12 --p12-password-file gw.p12.pass",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  written",
        "2  missing options; --json without a password destination",
        "3  unreadable certificate or key, key not the certificate's, --name with control characters",
        "4  --out exists (use --force)",
      ]),
    )
    .action(async (opts: P12CreateOptions) => {
      const { password, warnings, ...shown } = await runP12Create(ctx, opts);
      for (const w of warnings ?? []) ctx.out.warn(w);
      ctx.out.result(withP12Password(ctx, opts, shown, password), renderP12);
    });
}
