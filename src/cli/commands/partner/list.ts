import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp, loadCore } from "../../flags.js";
import { table } from "../../output.js";

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("list")
    .description("partners with their OpenPGP key and certificate counts")
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
          p.offboardedAt ? s.bad("offboarded") : "",
        ]);
        return table(["PARTNER", "NAME", "PGP KEY", "VALID/ALL", "NEXT EXPIRY", ""], rows, s);
      });
    });
}

/** `mtls partner list`, in-process. */
export async function runPartnerList(ctx: CliContext) {
  const core = await loadCore();
  return core.listPartners({ pkiDir: ctx.pkiDir, now: ctx.now() });
}
