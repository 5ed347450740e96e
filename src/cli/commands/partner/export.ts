import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, loadCore, type PassphraseOpts, passphraseSource } from "../../flags.js";
import { renderBundle } from "../../render.js";

interface Opts extends PassphraseOpts {
  serial?: string;
  out: string;
  encrypt: boolean;
  armor?: boolean;
  force?: boolean;
  gatewayUrl?: string;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("export")
    .description("write a delivery bundle: a zip encrypted to the partner's OpenPGP key and signed by the home party")
    .argument("<partner-id>", "the partner")
    .requiredOption("--out <file>", "where to write the bundle (mode 0600)")
    .option("--serial <hex>", "which certificate (default: the partner's newest valid one)")
    .option("--armor", "ASCII-armored OpenPGP output (for e-mail bodies)")
    .option("--no-encrypt", "a plain zip (refused when it would hold a private key)")
    .option("--gateway-url <url>", "the gateway URL written into the bundle's test commands")
    .option("--force", "overwrite --out");
  addPassphraseOptions(cmd)
    .addHelpText("after", examplesHelp(["mtls partner export acme --out acme.zip.pgp", "gpg --decrypt acme.zip.pgp > acme.zip   # on the partner's side"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  written",
        "3  unknown partner or serial, no OpenPGP key on file, wrong passphrase",
        "4  --out exists (use --force)",
        "5  no PKI, unwritable --out",
      ]),
    )
    .action(async (partnerId: string, opts: Opts) => {
      const core = await loadCore();
      const result = await core.exportPartnerBundle({
        pkiDir: ctx.pkiDir,
        partnerId,
        ...(opts.serial ? { serial: opts.serial } : {}),
        out: ctx.resolvePath(opts.out),
        encrypt: opts.encrypt,
        armor: Boolean(opts.armor),
        force: Boolean(opts.force),
        passphrase: passphraseSource(ctx, opts),
        ...(opts.gatewayUrl ? { gatewayUrl: opts.gatewayUrl } : {}),
        now: ctx.now(),
      });
      if (result.signingKeyCreated) ctx.out.info("created the home party's OpenPGP signing key; give partners pki/pgp/home-party.asc (see `mtls pgp show`)");
      if (!result.encrypted) ctx.out.warn("the bundle is a plain zip (--no-encrypt): anyone who gets it can read it, and nothing proves who made it");
      ctx.out.result(result, (r, s) =>
        [
          `certificate ${s.bold(r.serial)}${r.picked ? " (the newest valid one; --serial picks another)" : ""}, valid until ${r.notAfter}`,
          renderBundle(r, s),
        ].join("\n"),
      );
    });
}
