import type { Command } from "commander";
import type { RolloverResult } from "../../../../core/index.js";
import type { CliContext } from "../../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts, parseDays } from "../../../flags.js";
import { renderRolloverStep } from "../../../render-rollover.js";
import { openSession } from "../../../whole-core.js";

interface Opts extends PassphraseOpts {
  days: number;
  keyStore?: string;
}

export interface RolloverIntermediateOptions extends PassphraseOpts {
  /** Validity of the new intermediate; default 1825, as on the command line. */
  days?: number;
  /** The token for the new key; default: where the issuing CA's key is (its token, or a file). */
  keyStore?: string;
}

/** `mtls ca rollover intermediate`, in-process: a new issuing intermediate under the same root. */
export async function runRolloverIntermediate(ctx: CliContext, opts: RolloverIntermediateOptions): Promise<RolloverResult> {
  const { core, pki } = await openSession(ctx, opts);
  ctx.out.progress("unlocking the CA keys, signing the new intermediate and the CRLs…");
  const r = await core.rolloverIntermediate(pki, { days: opts.days ?? 1825, ...(opts.keyStore !== undefined ? { keyStore: opts.keyStore } : {}) });
  ctx.out.progress("");
  return r;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("intermediate")
    .description("renew the issuing intermediate: a new key and CA under the same root; new certificates come from it, the old one keeps its CRL")
    .option("--days <n>", "validity of the new intermediate in days (it may not outlive the root)", parseDays, 1825)
    .option(
      "--key-store <uri>",
      "generate the new key in this PKCS#11 token (default: where the issuing CA's key is: its token, or a file); PIN from MTLS_PKCS11_PIN or --pin-file",
    );
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls ca rollover intermediate",
        "mtls ca rollover intermediate --days 730 --json",
        "MTLS_PKCS11_PIN=... mtls ca rollover intermediate --key-store 'pkcs11:token=acme-ca?module-path=/usr/lib/softhsm/libsofthsm2.so'",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  the new intermediate issues from now on; gateways keep their CA bundle (same root) and must reload the CRL bundle",
        "2  bad --key-store, an RSA CA with a token, no PIN",
        "3  --days outlives the root, a single-tier CA, wrong passphrase",
        "4  a root rollover is in progress",
        "5  no PKI, damaged store, lock held; PKCS#11: module missing, token absent, wrong PIN",
      ]),
    )
    .action(async (opts: Opts) => {
      const r = await runRolloverIntermediate(ctx, opts);
      for (const w of r.warnings) ctx.out.warn(w);
      ctx.out.result(r, renderRolloverStep);
      ctx.out.info("partners keep their certificates and chains; rotate them onto the new intermediate before the old one expires (`mtls ca rollover status`)");
    });
}
