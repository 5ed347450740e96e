import type { Command } from "commander";
import type { RolloverResult } from "../../../../core/index.js";
import type { CliContext } from "../../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts, parseDays } from "../../../flags.js";
import { renderRolloverStep } from "../../../render-rollover.js";
import { openSession } from "../../../whole-core.js";

interface Opts extends PassphraseOpts {
  rootDays: number;
  intermediateDays: number;
  keyStore?: string;
  rootKeyStore?: string;
}

export interface RolloverRootStartOptions extends PassphraseOpts {
  /** Defaults 3650 and 1825, as on the command line. */
  rootDays?: number;
  intermediateDays?: number;
  /** The token for the new intermediate's key; default: where the issuing intermediate's key is. */
  keyStore?: string;
  /** The token for the new root's key (an offline root); default: where the old root's key is. */
  rootKeyStore?: string;
}

/** `mtls ca rollover root start`, in-process: the new hierarchy, cross-signed both ways, and the dual trust bundle. */
export async function runRolloverRootStart(ctx: CliContext, opts: RolloverRootStartOptions): Promise<RolloverResult> {
  const { core, pki } = await openSession(ctx, opts);
  ctx.out.progress("unlocking the CA keys, making the new hierarchy, cross-signing…");
  const r = await core.startRootRollover(pki, {
    rootDays: opts.rootDays ?? 3650,
    intermediateDays: opts.intermediateDays ?? 1825,
    ...(opts.keyStore !== undefined ? { keyStore: opts.keyStore } : {}),
    ...(opts.rootKeyStore !== undefined ? { rootKeyStore: opts.rootKeyStore } : {}),
  });
  ctx.out.progress("");
  return r;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("start")
    .description("start a root rollover: new root and intermediate, cross certificates both ways, a trust bundle with both roots")
    .option("--root-days <n>", "validity of the new root in days", parseDays, 3650)
    .option("--intermediate-days <n>", "validity of the new intermediate in days", parseDays, 1825)
    .option(
      "--key-store <uri>",
      "generate the new intermediate's key in this PKCS#11 token (default: where the issuing intermediate's key is: its token, or a file)",
    )
    .option("--root-key-store <uri>", "generate the new root's key in this token (default: where the old root's key is, so an offline root stays offline)");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls ca rollover root start",
        "mtls gateway config nginx --out /etc/nginx/mtls/ && nginx -s reload   # deploy the dual bundle",
        "MTLS_PKCS11_PIN=... mtls ca rollover root start --key-store 'pkcs11:token=acme-ca-2?module-path=/usr/lib/softhsm/libsofthsm2.so'",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  started: deploy ca/ca-bundle.pem and crl/crl-bundle.pem to every gateway",
        "2  bad --key-store/--root-key-store or --root-days/--intermediate-days, an RSA CA with a token, no PIN",
        "3  a single-tier CA, wrong passphrase",
        "4  a root rollover is already in progress",
        "5  no PKI, damaged store, lock held; PKCS#11: module missing, token absent, wrong PIN",
      ]),
    )
    .action(async (opts: Opts) => {
      const r = await runRolloverRootStart(ctx, opts);
      for (const w of r.warnings) ctx.out.warn(w);
      ctx.out.result(r, renderRolloverStep);
      ctx.out.info("next: give every gateway the dual bundle (`mtls gateway config …`, reload), then rotate partners; `mtls ca rollover status` tracks them");
    });
}
