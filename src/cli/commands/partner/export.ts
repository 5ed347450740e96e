import { type Command, Option } from "commander";
import type { ExportedBundle } from "../../../core/bundle/export.js";
import { usageError } from "../../../core/errors.js";
import type { P12FileResult } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, openWriteSession, type PassphraseOpts } from "../../flags.js";
import {
  addP12PasswordOptions,
  checkP12PasswordDestination,
  keyPassphrase,
  type P12PasswordOpts,
  profileOption,
  refuseUnusedP12Options,
  withP12Password,
} from "../../p12-flags.js";
import { renderBundle, renderP12 } from "../../render.js";

interface Opts extends PassphraseOpts, P12PasswordOpts {
  format: string;
  key?: string;
  keyPassphraseFile?: string;
  p12?: string;
  serial?: string;
  out: string;
  encrypt: boolean;
  armor?: boolean;
  force?: boolean;
  gatewayUrl?: string;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("export")
    .description("write a delivery bundle: a zip encrypted to the partner's OpenPGP key and signed by the home party")
    .argument("<partner-id>", "the partner")
    .requiredOption("--out <file>", "where to write the bundle (mode 0600)")
    .option("--serial <hex>", "which certificate (default: the partner's newest valid one)")
    .option("--armor", "ASCII-armored OpenPGP output (for e-mail bodies)")
    .option("--no-encrypt", "a plain zip (refused when it would hold a private key)")
    .option("--gateway-url <url>", "the gateway URL written into the bundle's test commands (http:// or https://)")
    .option("--force", "overwrite --out")
    .addOption(
      new Option("--format <format>", "bundle (OpenPGP delivery bundle) or p12 (a PKCS#12 file with --key)").choices(["bundle", "p12"]).default("bundle"),
    )
    .option("--key <file>", "with --format p12: the partner's private key (PEM or DER; mtls never keeps partner keys)")
    .option("--key-passphrase-file <file>", "with --format p12: the passphrase of an encrypted --key (first line)")
    .addOption(profileOption("--p12 <profile>", "with --format p12: modern (default), or legacy-des for macOS Keychain and Windows Server 2016"));
  addP12PasswordOptions(cmd);
  addPassphraseOptions(cmd)
    .addHelpText("after", examplesHelp(["mtls partner export acme --out acme.zip.pgp", "gpg --decrypt acme.zip.pgp > acme.zip   # on the partner's side"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  written",
        "2  --gateway-url not an http(s) URL, or with spaces or control characters",
        "3  unknown partner or serial, no OpenPGP key on file, wrong passphrase",
        "4  --out exists (use --force)",
        "5  no PKI, unwritable --out",
      ]),
    )
    .action(async (partnerId: string, opts: Opts) => {
      if (opts.format === "p12") {
        const { password, ...shown } = await runPartnerExportP12(ctx, { ...opts, partnerId });
        return ctx.out.result(withP12Password(ctx, opts, shown, password), renderP12);
      }
      const result = await runPartnerExport(ctx, { ...opts, partnerId });
      if (result.signingKeyCreated) ctx.out.info("created the home party's OpenPGP signing key; give partners pki/pgp/home-party.asc (see `mtls pgp show`)");
      if (!result.encrypted) ctx.out.warn("the bundle is a plain zip (--no-encrypt): anyone who gets it can read it, and nothing proves who made it");
      ctx.out.result(result, (r, s) =>
        [
          `certificate ${s.bold(r.serial)}${r.picked ? " (the newest valid one; --serial picks another)" : ""}, valid until ${r.notAfter}`,
          renderBundle(r, s),
        ].join("\n"),
      );
    });
}

export interface PartnerExportOptions extends Omit<Opts, "format" | "encrypt"> {
  partnerId: string;
  /** Default true, as on the command line (--no-encrypt). */
  encrypt?: boolean;
}

/** `mtls partner export` (a delivery bundle), in-process: the bundle written, encrypted and signed unless told otherwise. */
export async function runPartnerExport(ctx: CliContext, opts: PartnerExportOptions): Promise<ExportedBundle> {
  const pki = await openWriteSession(ctx, opts);
  const core = await import("../../../core/bundle/export.js");
  refuseUnusedP12Options(opts, false, "--format p12");
  if (opts.key || opts.keyPassphraseFile || opts.p12)
    throw usageError("ERR_USAGE", "--key, --key-passphrase-file and --p12 apply only to --format p12", "add --format p12");
  return core.exportPartnerBundle(pki, {
    partnerId: opts.partnerId,
    ...(opts.serial ? { serial: opts.serial } : {}),
    out: ctx.resolvePath(opts.out),
    encrypt: opts.encrypt !== false,
    armor: Boolean(opts.armor),
    force: Boolean(opts.force),
    ...(opts.gatewayUrl ? { gatewayUrl: opts.gatewayUrl } : {}),
  });
}

/**
 * `mtls partner export --format p12`, in-process: the partner's certificate and the key it holds
 * as a PKCS#12 file, returned with its password (the CLI decides where the password goes).
 */
export async function runPartnerExportP12(ctx: CliContext, opts: PartnerExportOptions): Promise<P12FileResult> {
  const pki = await openWriteSession(ctx, opts);
  const [core, p12] = await Promise.all([import("../../../core/p12/export.js"), import("../../../core/p12/p12.js")]);
  if (!opts.key)
    throw usageError(
      "ERR_USAGE",
      "--format p12 needs the partner's private key",
      "pass --key <file>; for a generated key use `partner issue --generate --p12 <profile>`",
    );
  if (opts.armor || opts.encrypt === false || opts.gatewayUrl)
    throw usageError("ERR_USAGE", "--armor, --no-encrypt and --gateway-url apply to bundles, not to --format p12");
  checkP12PasswordDestination(ctx, opts);
  const pass = await keyPassphrase(ctx, opts.keyPassphraseFile);
  return core.exportPartnerP12(pki, {
    partnerId: opts.partnerId,
    ...(opts.serial ? { serial: opts.serial } : {}),
    key: await ctx.readInput(opts.key, "key"),
    keySource: `key ${opts.key}`,
    ...(pass !== undefined ? { keyPassphrase: pass } : {}),
    profile: p12.parseP12Profile(opts.p12 ?? "modern"),
    out: ctx.resolvePath(opts.out),
    ...(opts.p12PasswordFile ? { passwordFile: ctx.resolvePath(opts.p12PasswordFile) } : {}),
    force: Boolean(opts.force),
  });
}
