import type { Command } from "commander";
import type { CliContext } from "../../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts } from "../../../flags.js";
import { renderRolloverStep } from "../../../render-rollover.js";
import { openSession, type Session } from "../../../whole-core.js";

interface Opts extends PassphraseOpts {
  force?: boolean;
}

export type RootFinishResult = Awaited<ReturnType<Session["core"]["finishRootRollover"]>>;

/** `mtls ca rollover root finish`, in-process: confirms (or takes --yes from the context), then the old root leaves the trust bundle. */
export async function runRolloverRootFinish(ctx: CliContext, opts: Opts): Promise<RootFinishResult> {
  await ctx.prompt.confirmOrYes("Remove the old root from the trust bundle? Partners still on it will be refused after the gateways reload.", ctx.globals.yes);
  const { core, pki } = await openSession(ctx, opts);
  return core.finishRootRollover(pki, { force: Boolean(opts.force) });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("finish")
    .description(
      "finish a root rollover: the old root leaves the trust bundle, its CAs publish no more CRLs, and the new root's cross certificates for them are revoked",
    )
    .option("--force", "finish although valid certificates still chain only to the old root (they are listed and stop working)");
  addPassphraseOptions(cmd)
    .addHelpText("after", examplesHelp(["mtls ca rollover status && mtls ca rollover root finish --yes", "mtls ca rollover root finish --force --yes --json"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  finished: deploy the new bundle to every gateway and reload",
        "2  no --yes and no terminal to confirm",
        "3  wrong passphrase",
        "4  no root rollover in progress, or valid certificates still on the old root (without --force)",
        "5  no PKI, damaged store, lock held",
        "130  not confirmed",
      ]),
    )
    .action(async (opts: Opts) => {
      const r = await runRolloverRootFinish(ctx, opts);
      for (const w of r.warnings) ctx.out.warn(w);
      for (const c of r.stranded) ctx.out.warn(`cut off: ${c.partnerId} ${c.serial} (${c.issuer}, valid until ${c.notAfter})`);
      for (const c of r.revokedCrosses)
        ctx.out.info(`revoked the cross certificate ${c.serial} (${c.subjectCa} signed by ${c.issuerCa}) on the ${c.issuerCa} CRL`);
      ctx.out.result(r, renderRolloverStep);
      ctx.out.info("next: deploy ca/ca-bundle.pem and crl/crl-bundle.pem to every gateway and reload");
    });
}
