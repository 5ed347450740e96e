import type { Command } from "commander";
import { Exit } from "../../../core/errors.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, openSession, type PassphraseOpts } from "../../flags.js";
import { renderPublished } from "../../render.js";

interface Opts extends PassphraseOpts {
  out?: string;
  validity?: string;
  then?: string;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("publish")
    .description("sign fresh CRLs for every CA (CRL Number +1) and replace the published files atomically")
    .option("--out <file>", "also write the combined PEM (every CA's CRL) here")
    .option("--validity <duration>", "nextUpdate - thisUpdate, e.g. 7d or 36h (default: the CA's setting)")
    .option("--then <command>", 'run this once the CRLs are published, without a shell (e.g. "nginx -s reload"); its exit code is reported');
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls crl publish",
        'mtls crl publish --out /etc/nginx/mtls/crl.pem --then "nginx -s reload"',
        "0 */6 * * *  mtls crl publish --then 'systemctl reload haproxy'  # crontab",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  published, and --then succeeded (a failed copy to the publish directory is a warning)",
        "1  published, but the --then command failed",
        "2  a --then the shell would have to interpret",
        "3  invalid --validity, wrong passphrase",
        "5  no PKI, damaged store, unwritable --out",
      ]),
    )
    .action(async (opts: Opts) => {
      const { core, pki } = await openSession(ctx, opts);
      const validityDays = opts.validity ? core.parseDuration(opts.validity, "--validity") / 86_400_000 : undefined;
      // Checked before anything is signed: a hook that cannot run must not follow a publication.
      const hook = opts.then ? core.splitCommand(opts.then, "--then") : undefined;
      const result = await ctx.out.withProgress("unlocking the CA keys and signing CRLs…", async () => {
        return core.publishCrls(pki, {
          ...(validityDays ? { validityDays } : {}),
          ...(opts.out ? { out: ctx.resolvePath(opts.out) } : {}),
        });
      });
      for (const w of result.warnings) ctx.out.warn(w);
      if (!hook) return ctx.out.result(result, renderPublished);
      const ran = await core.runHook(hook, (chunk) => ctx.io.stderr.write(chunk));
      ctx.out.result({ ...result, hook: ran }, renderPublished);
      if (ran.exitCode !== 0) {
        ctx.out.warn(`the CRLs were published, but \`${hook.join(" ")}\` ${ran.error ?? `exited ${ran.exitCode}`}: gateways may still hold the old CRL`);
        ctx.out.setExit(Exit.CHECK_FAILED);
      } else ctx.out.info(`ran ${hook.join(" ")} (exit 0)`);
    });
}
