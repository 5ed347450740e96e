import type { Command } from "commander";
import type { ReleaseIdentityResult } from "../../../../core/index.js";
import type { CliContext } from "../../../context.js";
import { examplesHelp, exitCodesHelp } from "../../../flags.js";
import { openSession } from "../../../whole-core.js";

export interface PartnerIdentityReleaseOptions {
  partnerId: string;
  /** The CN or SAN value, as `mtls partner show` lists it. */
  identity: string;
}

/** `mtls partner identity release`, in-process: confirms (or takes --yes from the context), releases. */
export async function runPartnerIdentityRelease(ctx: CliContext, opts: PartnerIdentityReleaseOptions): Promise<ReleaseIdentityResult> {
  const { core, pki } = await openSession(ctx);
  await ctx.prompt.confirmOrYes(
    `Release ${JSON.stringify(opts.identity)} from ${opts.partnerId}? Another partner may then be issued it, and gateway allow-lists listing it would admit that partner.`,
    ctx.globals.yes,
  );
  return core.releaseIdentity(pki, { partnerId: opts.partnerId, identity: opts.identity });
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("release")
    .description("give up one identity (CN or SAN value) of a partner, so another partner may be issued it")
    .argument("<partner-id>", "the partner that holds the identity")
    .argument("<identity>", "the CN or SAN value, as `mtls partner show` lists it")
    .addHelpText("after", examplesHelp(["mtls partner identity release acme acme-client --yes"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  released",
        "2  no --yes and no terminal to confirm",
        "3  the partner holds no such identity",
        "4  a valid certificate still carries it (revoke it first)",
      ]),
    )
    .action(async (partnerId: string, identity: string) => {
      const result = await runPartnerIdentityRelease(ctx, { partnerId, identity });
      ctx.out.result(result, (r) => `released ${r.identity} from ${r.partnerId} at ${r.releasedAt}`);
    });
}
