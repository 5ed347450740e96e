import type { Command } from "commander";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp } from "../../flags.js";
import { fields } from "../../output.js";
import { gnupgAlgorithmName } from "../../pgp-names.js";
import { openSession } from "../../whole-core.js";

interface Opts {
  pgpKey?: string;
  name?: string;
  contact?: string;
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("add")
    .description("register a partner (or update it) with its OpenPGP public key for encrypted delivery")
    .argument("<partner-id>", "partner id: lowercase letters, digits, . _ -")
    .option("--pgp-key <file>", "the partner's OpenPGP public key (armored or binary): checked, then stored")
    .option("--name <org>", "the partner's organisation name")
    .option("--contact <email>", "who receives deliveries")
    .addHelpText("after", examplesHelp(["mtls partner add acme --pgp-key acme.asc --name 'Acme Payments' --contact pki@acme.example"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  registered or updated",
        "3  invalid id or e-mail, a control, bidi or invisible character in --name or --contact, or a key that cannot encrypt, is expired, revoked, weak or private",
        "5  no PKI, unreadable file",
      ]),
    )
    .action(async (partnerId: string, opts: Opts) => {
      const result = await runPartnerAdd(ctx, { ...opts, partnerId });
      ctx.out.result(result, (r, s) =>
        fields(
          [
            ["partner", `${r.partner.id}${r.created ? s.dim(" (new)") : s.dim(" (updated)")}`],
            ["name", r.partner.name],
            ["contact", r.partner.contact],
            ["OpenPGP key", r.partner.pgp ? s.bold(r.partner.pgp.fingerprint) : s.dim("none")],
            [
              "key",
              r.partner.pgp
                ? `${gnupgAlgorithmName(r.partner.pgp.algorithm)}/${gnupgAlgorithmName(r.partner.pgp.encryptionAlgorithm)}${r.partner.pgp.expires ? `, expires ${r.partner.pgp.expires}` : ""}`
                : undefined,
            ],
            ["user IDs", r.partner.pgp?.userIds.join("; ")],
          ],
          s,
        ),
      );
      if (result.partner.pgp) ctx.out.info("compare this fingerprint with the partner by phone or another channel before sending anything");
    });
}

/** `mtls partner add`, in-process: registers or updates the partner (its OpenPGP key read from the named file). */
export async function runPartnerAdd(ctx: CliContext, opts: Opts & { partnerId: string }) {
  const { core, pki } = await openSession(ctx);
  return core.addPartner(pki, {
    partnerId: opts.partnerId,
    ...(opts.pgpKey ? { pgpKey: await ctx.readInput(opts.pgpKey, "OpenPGP key", INPUT_LIMITS.pgpKey), pgpSource: opts.pgpKey } : {}),
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.contact !== undefined ? { contact: opts.contact } : {}),
  });
}
