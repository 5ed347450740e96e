import type { Command } from "commander";
import type { SetPolicyResult } from "../../../../core/index.js";
import type { CliContext } from "../../../context.js";
import { checkPublishDir, examplesHelp, exitCodesHelp, parseDays } from "../../../flags.js";
import { fields, type Styles } from "../../../output.js";
import { openSession } from "../../../whole-core.js";

/** The settings as on the command line ("none" removes an optional one). */
export interface CaPolicySetOptions {
  crlUrl?: string;
  ocspUrl?: string;
  crlPublishDir?: string;
  defaultDays?: number;
  maxDays?: number;
  warnDays?: number;
  crlDays?: number;
  overlapDays?: number;
  notifyDays?: string;
  notifyOperators?: string;
}

/** "30,14,7,1": whole days, each at least 1. */
function parseDayList(text: string): number[] {
  return text.split(",").map((d) => parseDays(d.trim()));
}

/** "none" removes an optional setting. */
const orNone = (v: string | undefined, map: (v: string) => string = (x) => x) => (v === undefined ? undefined : v === "none" ? null : map(v));

function render(r: SetPolicyResult, s: Styles): string {
  if (!r.changed.length) return "nothing changed: the policy already says that";
  return fields(
    r.changed.map((c) => [c.setting, `${c.from ?? "(none)"} → ${s.bold(String(c.to ?? "(none)"))}`]),
    s,
  );
}

/** `mtls ca policy set`, in-process: what changed, from what to what. */
export async function runCaPolicySet(ctx: CliContext, opts: CaPolicySetOptions): Promise<SetPolicyResult> {
  if (opts.crlPublishDir && opts.crlPublishDir !== "none") await checkPublishDir(ctx.resolvePath(opts.crlPublishDir));
  const { core, pki } = await openSession(ctx);
  return core.setCaPolicy(pki, {
    changes: {
      crlUrl: orNone(opts.crlUrl),
      ocspUrl: orNone(opts.ocspUrl),
      crlPublishDir: orNone(opts.crlPublishDir, (d) => (d === "" ? d : ctx.resolvePath(d))),
      defaultDays: opts.defaultDays,
      maxDays: opts.maxDays,
      warnDays: opts.warnDays,
      crlDays: opts.crlDays,
      overlapDays: opts.overlapDays,
      ...(opts.notifyDays !== undefined ? { notifyDays: parseDayList(opts.notifyDays) } : {}),
      notifyOperators:
        opts.notifyOperators === undefined ? undefined : opts.notifyOperators === "none" ? null : opts.notifyOperators.split(",").map((a) => a.trim()),
    },
  });
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("set")
    .description("change the CA policy: revocation URLs written into new certificates, CRL publishing, validity limits")
    .option("--crl-url <url>", "CRL Distribution Point of new partner certificates (none removes it)")
    .option("--ocsp-url <url>", "OCSP responder (Authority Information Access) of new partner certificates (none removes it)")
    .option("--crl-publish-dir <dir>", "copy every published CRL into this directory (none stops copying)")
    .option("--default-days <n>", "partner certificate validity when --days is not given", parseDays)
    .option("--max-days <n>", "longest validity partner issue accepts", parseDays)
    .option("--warn-days <n>", "certificates expiring within this many days are reported as expiring", parseDays)
    .option("--crl-days <n>", "validity of published CRLs (nextUpdate) in days, at most 366", parseDays)
    .option("--overlap-days <n>", "partner rotate: how long the old certificate stays valid next to its successor (default 14)", parseDays)
    .option("--notify-days <list>", "mtls notify: reminder thresholds in days before expiry (default 30,14,7,1)")
    .option("--notify-operators <emails>", "mtls notify: comma-separated operator addresses copied on every reminder (none removes them)")
    .addHelpText(
      "after",
      examplesHelp([
        "mtls ca policy set --ocsp-url http://pki.acme.example/ocsp --crl-url http://pki.acme.example/crl/intermediate.crl",
        "mtls ca policy set --crl-publish-dir none",
        "mtls ca policy set --overlap-days 21 --notify-days 30,14,7,1 --notify-operators pki-ops@acme.example",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  policy changed (or already so)",
        "2  no setting given, an invalid URL or number of days, a --crl-publish-dir that is not a directory",
        "3  an invalid --notify-operators address, a default validity over the maximum",
        "5  no PKI, lock held",
      ]),
    )
    .action(async (opts: CaPolicySetOptions) => {
      const result = await runCaPolicySet(ctx, opts);
      ctx.out.result(result, render);
      if (result.changed.some((c) => c.setting === "crlUrl" || c.setting === "ocspUrl"))
        ctx.out.info("certificates issued from now on carry the new URLs; existing ones keep theirs until they are rotated");
    });
}
