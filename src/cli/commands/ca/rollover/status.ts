import type { Command } from "commander";
import type { CliContext } from "../../../context.js";
import { examplesHelp, exitCodesHelp, loadCore } from "../../../flags.js";
import { renderRolloverStatus } from "../../../render-rollover.js";

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("status")
    .description("where a CA rollover stands: every CA, and each valid certificate's chain and whether it is due for rotation")
    .addHelpText(
      "after",
      examplesHelp(["mtls ca rollover status", "mtls ca rollover status --json | jq -r '.result.certificates[] | select(.due) | .partnerId' | sort -u"]),
    )
    .addHelpText("after", exitCodesHelp(["0  shown", "5  no PKI, damaged store"]))
    .action(async () => {
      const core = await loadCore();
      ctx.out.result(await core.rolloverStatus({ pkiDir: ctx.pkiDir, now: ctx.now() }), renderRolloverStatus);
    });
}
