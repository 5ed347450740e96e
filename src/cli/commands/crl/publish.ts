import type { Command } from "commander";
import { Exit } from "../../../core/errors.js";
import type { HookResult, PublishResult } from "../../../core/index.js";
import { parseDuration } from "../../../core/time.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, openWriteSession, type PassphraseOpts } from "../../flags.js";
import { renderPublished } from "../../render.js";

export interface CrlPublishOptions extends PassphraseOpts {
  out?: string;
  force?: boolean;
  validity?: string;
  /** --then: the command to run once the CRLs are published (not named `then`: an object with one is a thenable). */
  hook?: string;
}

interface Opts extends Omit<CrlPublishOptions, "hook"> {
  then?: string;
}

export type CrlPublishResult = PublishResult & { hook?: HookResult };

/**
 * `mtls crl publish`, in-process: fresh CRLs for every CA, then the --then command (its output
 * streams to stderr; its exit code is in the result, and the CLI exits 1 when it failed).
 */
export async function runCrlPublish(ctx: CliContext, opts: CrlPublishOptions): Promise<CrlPublishResult> {
  const pki = await openWriteSession(ctx, opts);
  const [core, hooks] = await Promise.all([import("../../../core/crl/publish.js"), import("../../../core/hooks.js")]);
  const validityDays = opts.validity ? parseDuration(opts.validity, "--validity") / 86_400_000 : undefined;
  // Checked before anything is signed: a hook that cannot run must not follow a publication.
  const hook = opts.hook ? hooks.splitCommand(opts.hook, "--then") : undefined;
  const result = await ctx.out.withProgress("unlocking the CA keys and signing CRLs…", async () => {
    return core.publishCrls(pki, {
      ...(validityDays ? { validityDays } : {}),
      ...(opts.out ? { out: ctx.resolvePath(opts.out), force: Boolean(opts.force) } : {}),
    });
  });
  if (!hook) return result;
  const ran = await hooks.runHook(hook, (chunk) => ctx.io.stderr.write(chunk), ctx.io.env);
  return { ...result, hook: ran };
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("publish")
    .description("sign fresh CRLs for every CA (CRL Number +1) and replace the published files atomically")
    .option("--out <file>", "also write the combined PEM (every CA's CRL) here; a CRL bundle already there is replaced")
    .option("--force", "replace --out even when it is not a CRL bundle")
    .option("--validity <duration>", "nextUpdate - thisUpdate, 1h to 366d, e.g. 7d or 36h (default: the CA's setting); never past the issuing CA's expiry")
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
        "2  an invalid --validity, a --then the shell would have to interpret",
        "3  wrong passphrase",
        "4  --out is a file other than a CRL bundle (use --force)",
        "5  no PKI, damaged store, --out in a missing or unwritable directory, or a directory (nothing is published)",
      ]),
    )
    .action(async ({ then, ...opts }: Opts) => {
      const result = await runCrlPublish(ctx, { ...opts, ...(then !== undefined ? { hook: then } : {}) });
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, renderPublished);
      if (!result.hook) return;
      const command = result.hook.command.join(" ");
      if (result.hook.exitCode !== 0) {
        ctx.out.warn(
          `the CRLs were published, but \`${command}\` ${result.hook.error ?? `exited ${result.hook.exitCode}`}: gateways may still hold the old CRL`,
        );
        ctx.out.setExit(Exit.CHECK_FAILED);
      } else ctx.out.info(`ran ${command} (exit 0)`);
    });
}
