import type { Command } from "commander";
import type { CliContext } from "../../../context.js";
import { examplesHelp, exitCodesHelp, openSession } from "../../../flags.js";

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
      const { core, pki } = await openSession(ctx);
      await ctx.prompt.confirmOrYes(
        `Release ${JSON.stringify(identity)} from ${partnerId}? Another partner may then be issued it, and gateway allow-lists listing it would admit that partner.`,
        ctx.globals.yes,
      );
      const result = await core.releaseIdentity(pki, { partnerId, identity });
      ctx.out.result(result, (r) => `released ${r.identity} from ${r.partnerId} at ${r.releasedAt}`);
    });
}
