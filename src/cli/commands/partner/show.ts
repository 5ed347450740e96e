import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../../flags.js";
import { fields, table } from "../../output.js";
import { gnupgAlgorithmName } from "../../pgp-names.js";

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("show")
    .description("one partner: contact, OpenPGP key, the identities it owns and every certificate")
    .argument("<partner-id>", "the partner")
    .addHelpText("after", examplesHelp(["mtls partner show acme"]))
    .addHelpText("after", exitCodesHelp(["0  shown", "3  unknown partner", "5  no PKI"]))
    .action(async (partnerId: string) => {
      const result = await runPartnerShow(ctx, { partnerId });
      ctx.out.result(result, (r, s) => {
        const head = fields(
          [
            ["partner", s.bold(r.partner.id)],
            ["name", r.partner.name],
            ["contact", r.partner.contact],
            [
              "OpenPGP key",
              r.partner.pgp
                ? `${r.partner.pgp.fingerprint} (${gnupgAlgorithmName(r.partner.pgp.algorithm)}/${gnupgAlgorithmName(r.partner.pgp.encryptionAlgorithm)})`
                : s.dim("none: `mtls partner add --pgp-key` to enable encrypted delivery"),
            ],
            ["offboarded", r.partner.offboardedAt],
          ],
          s,
        );
        const ids = r.identities.length
          ? `\n\n${table(
              ["IDENTITY", "TYPE", "STATUS"],
              r.identities.map((i) => [i.value, i.type, i.status]),
              s,
            )}`
          : "";
        if (r.certificates.length === 0) return `${head}${ids}\n${s.dim("no certificates")}`;
        const rows = r.certificates.map((c) => [c.serial, c.subject, c.notAfter.slice(0, 10), String(c.daysLeft), s.status(c.status)]);
        return `${head}${ids}\n\n${table(["SERIAL", "SUBJECT", "NOT AFTER", "DAYS", "STATUS"], rows, s)}`;
      });
    });
}

/** `mtls partner show`, in-process. */
export async function runPartnerShow(ctx: CliContext, opts: { partnerId: string }) {
  const core = await import("../../../core/partners/partners.js");
  return core.showPartner(await openReadSession(ctx), { partnerId: opts.partnerId });
}
