import { type Command, Option } from "commander";
import type { RevokeResult } from "../../core/index.js";
import type { CliContext } from "../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, openWriteSession, type PassphraseOpts, REASONS } from "../flags.js";
import { renderRevoked } from "../render.js";

interface Opts extends PassphraseOpts {
  reason: string;
  publish: boolean;
}

export interface RevokeOptions extends PassphraseOpts {
  serial: string;
  /** Default "unspecified", as on the command line. */
  reason?: string;
  /** Default true, as on the command line. */
  publish?: boolean;
}

/** `mtls revoke`, in-process: confirms (or takes --yes from the context), revokes, returns what the CLI prints. */
export async function runRevoke(ctx: CliContext, opts: RevokeOptions): Promise<RevokeResult> {
  const pki = await openWriteSession(ctx, opts);
  const core = await import("../../core/revoke/revoke.js");
  const reason = core.parseReason(opts.reason ?? "unspecified");
  await ctx.prompt.confirmOrYes(`Revoke certificate ${opts.serial} (${reason})? This cannot be undone.`, ctx.globals.yes);
  return core.revokeCertificate(pki, {
    serial: opts.serial,
    reason,
    publish: opts.publish !== false,
  });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("revoke")
    .description("revoke a partner certificate and publish a fresh CRL")
    .argument("<serial>", "certificate serial number (hex, as `mtls list` shows it)")
    .addOption(new Option("--reason <reason>", "RFC 5280 revocation reason").choices(REASONS).default("unspecified"))
    .option("--no-publish", "record the revocation but do not publish CRLs now");
  addPassphraseOptions(cmd)
    .addHelpText("after", examplesHelp(["mtls revoke 5f0c…e1 --reason keyCompromise --yes", "mtls revoke 5f0c…e1 --no-publish --yes && mtls crl publish"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  revoked (and CRLs published; a failed copy to the publish directory is a warning)",
        "2  no --yes and no terminal to confirm",
        "3  unknown serial or reason, wrong passphrase",
        "4  already revoked (nothing changed)",
      ]),
    )
    .action(async (serial: string, opts: Opts) => {
      const result = await runRevoke(ctx, { ...opts, serial });
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, renderRevoked);
    });
}
