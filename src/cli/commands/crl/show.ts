import type { Command } from "commander";
import type { CrlDetails } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../../flags.js";
import { fields, type Styles, table } from "../../output.js";

function render(r: { crls: CrlDetails[] }, s: Styles): string {
  return r.crls
    .map((c) => {
      const head = fields(
        [
          [`${c.issuer} CRL`, s.bold(c.issuerSubject)],
          ["number", c.number],
          ["this update", c.thisUpdate],
          ["next update", c.nextUpdate ? `${c.nextUpdate} (${c.hoursLeft} hours left)` : s.bad("none")],
          ["signature", c.signatureValid ? s.ok("valid") : s.bad("INVALID")],
          ["file", c.path],
          ["entries", String(c.entries.length)],
        ],
        s,
      );
      if (c.entries.length === 0) return head;
      const rows = c.entries.slice(0, 200).map((e) => [e.serial, e.partnerId ?? "", e.revokedAt, e.reason]);
      const more = c.entries.length > 200 ? `\n${s.dim(`… ${c.entries.length - 200} more (use --json)`)}` : "";
      return `${head}\n${table(["SERIAL", "PARTNER", "REVOKED", "REASON"], rows, s)}${more}`;
    })
    .join("\n\n");
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("show")
    .description("show the published CRLs: number, validity, signature and entries")
    .addHelpText("after", examplesHelp(["mtls crl show", "mtls crl show --json | jq '.result.crls[0].nextUpdate'"]))
    .addHelpText("after", exitCodesHelp(["0  shown", "5  no PKI, or no CRL published yet"]))
    .action(async () => {
      ctx.out.result(await runCrlShow(ctx), render);
    });
}

/** `mtls crl show`, in-process. */
export async function runCrlShow(ctx: CliContext): Promise<{ crls: CrlDetails[] }> {
  const core = await import("../../../core/crl/show.js");
  return core.showCrls(await openReadSession(ctx));
}
