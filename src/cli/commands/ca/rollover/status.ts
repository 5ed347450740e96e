import type { Command } from "commander";
import type { RolloverStatus } from "../../../../core/index.js";
import type { CliContext } from "../../../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../../../flags.js";
import { renderRolloverStatus } from "../../../render-rollover.js";
import { loadWholeCore } from "../../../whole-core.js";

/** `mtls ca rollover status`, in-process: every CA, and each valid certificate's chain and whether it is due. */
export async function runRolloverStatus(ctx: CliContext): Promise<RolloverStatus> {
  const core = await loadWholeCore();
  return core.rolloverStatus(await openReadSession(ctx));
}

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
      ctx.out.result(await runRolloverStatus(ctx), renderRolloverStatus);
    });
}
