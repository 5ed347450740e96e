import { type Command, Option } from "commander";
import type { RevokeResult } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts, REASONS } from "../../flags.js";
import { renderRevoked } from "../../render.js";
import { openSession } from "../../whole-core.js";

interface Opts extends PassphraseOpts {
  reason: string;
  publish: boolean;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("offboard")
    .description("revoke every valid certificate of a partner and publish one CRL update")
    .argument("<partner-id>", "the partner to offboard")
    .addOption(new Option("--reason <reason>", "RFC 5280 revocation reason").choices(REASONS).default("cessationOfOperation"))
    .option("--no-publish", "record the revocations but do not publish CRLs now");
  addPassphraseOptions(cmd)
    .addHelpText("after", examplesHelp(["mtls partner offboard acme --yes", "mtls partner offboard acme --reason affiliationChanged --yes --json"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  offboarded",
        "2  no --yes and no terminal to confirm",
        "3  unknown partner, invalid reason, wrong passphrase",
        "4  already offboarded, nothing left to revoke (nothing changes)",
      ]),
    )
    .action(async (partnerId: string, opts: Opts) => {
      const result = await runOffboard(ctx, { ...opts, partnerId });
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, renderRevoked);
    });
}

export interface OffboardOptions extends PassphraseOpts {
  partnerId: string;
  /** Default "cessationOfOperation", as on the command line. */
  reason?: string;
  /** Default true, as on the command line. */
  publish?: boolean;
}

/** `mtls partner offboard`, in-process: confirms (or takes --yes from the context), revokes every valid certificate. */
export async function runOffboard(ctx: CliContext, opts: OffboardOptions): Promise<RevokeResult> {
  const { core, pki } = await openSession(ctx, opts);
  const reason = core.parseReason(opts.reason ?? "cessationOfOperation");
  await ctx.prompt.confirmOrYes(`Revoke every valid certificate of ${opts.partnerId} (${reason})? This cannot be undone.`, ctx.globals.yes);
  return core.offboardPartner(pki, {
    partnerId: opts.partnerId,
    reason,
    publish: opts.publish !== false,
  });
}
