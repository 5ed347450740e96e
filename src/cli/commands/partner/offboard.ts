import { type Command, Option } from "commander";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, openSession, type PassphraseOpts, REASONS } from "../../flags.js";
import { renderRevoked } from "../../render.js";

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
      const { core, pki } = await openSession(ctx, opts);
      const reason = core.parseReason(opts.reason);
      await ctx.prompt.confirmOrYes(`Revoke every valid certificate of ${partnerId} (${reason})? This cannot be undone.`, ctx.globals.yes);
      const result = await core.offboardPartner(pki, {
        partnerId,
        reason,
        publish: opts.publish,
      });
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, renderRevoked);
    });
}
