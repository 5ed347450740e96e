import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, loadCore, type PassphraseOpts, passphraseSource } from "../../flags.js";
import { renderPublished } from "../../render.js";

interface Opts extends PassphraseOpts {
  out?: string;
  validity?: string;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("publish")
    .description("sign fresh CRLs for every CA (CRL Number +1) and replace the published files atomically")
    .option("--out <file>", "also write the combined PEM (every CA's CRL) here")
    .option("--validity <duration>", "nextUpdate - thisUpdate, e.g. 7d or 36h (default: the CA's setting)");
  addPassphraseOptions(cmd)
    .addHelpText("after", examplesHelp(["mtls crl publish", "mtls crl publish --out /etc/nginx/mtls/crl.pem && nginx -s reload"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  published (a failed copy to the publish directory is a warning)",
        "3  invalid --validity, wrong passphrase",
        "5  no PKI, damaged store, unwritable --out",
      ]),
    )
    .action(async (opts: Opts) => {
      const core = await loadCore();
      const validityDays = opts.validity ? core.parseDuration(opts.validity, "--validity") / 86_400_000 : undefined;
      ctx.out.progress("unlocking the CA keys and signing CRLs…");
      const result = await core.publishCrls({
        pkiDir: ctx.pkiDir,
        now: ctx.now(),
        passphrase: passphraseSource(ctx, opts),
        ...(validityDays ? { validityDays } : {}),
        ...(opts.out ? { out: ctx.resolvePath(opts.out) } : {}),
      });
      ctx.out.progress("");
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, renderPublished);
    });
}
