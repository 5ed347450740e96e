import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../../flags.js";
import { type Styles, table } from "../../output.js";

function stateText(state: string | undefined, s: Styles): string {
  if (state === "due" || state === "locked-out") return s.bad(state);
  if (state === "rotating") return s.warn(state);
  return state === "ok" ? s.ok(state) : (state ?? "");
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("list")
    .description("partners with their state (ok, due, locked-out, rotating, offboarded), OpenPGP key and certificate counts")
    .addHelpText("after", examplesHelp(["mtls partner list", "mtls partner list --json | jq -r '.result.partners[] | select(.pgp == null) | .id'"]))
    .addHelpText("after", exitCodesHelp(["0  listed", "5  no PKI"]))
    .action(async () => {
      const result = await runPartnerList(ctx);
      ctx.out.result(result, (r, s) => {
        if (r.partners.length === 0) return s.dim("no partners yet");
        const rows = r.partners.map((p) => [
          p.id,
          p.name ?? "",
          p.pgp ? p.pgp.fingerprint.slice(-16) : s.dim("none"),
          `${p.certificates.valid + p.certificates.expiring}/${p.certificates.total}`,
          p.nextExpiry?.slice(0, 10) ?? "",
          stateText(p.state, s),
          p.newestSerial ?? "",
          p.daysLeft === undefined ? "" : String(p.daysLeft),
        ]);
        return table(["PARTNER", "NAME", "PGP KEY", "VALID/ALL", "NEXT EXPIRY", "STATE", "NEWEST SERIAL", "DAYS"], rows, s);
      });
    });
}

/** `mtls partner list`, in-process. */
export async function runPartnerList(ctx: CliContext) {
  const core = await import("../../../core/partners/partners.js");
  return core.listPartners(await openReadSession(ctx));
}
