import type { Command } from "commander";
import { Exit } from "../../core/errors.js";
import type { StatusResult } from "../../core/index.js";
import { parseDuration } from "../../core/time.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../flags.js";
import { type Styles, table } from "../output.js";

export interface StatusOptions {
  warnWithin?: string;
  /** Default 90d, as on the command line. */
  caWarnWithin?: string;
  crlMargin?: string;
}

/** `mtls status`, in-process: the verdict (the CLI exits 1 when it is not healthy). */
export async function runStatus(ctx: CliContext, opts: StatusOptions): Promise<StatusResult> {
  const core = await import("../../core/status/status.js");
  const d = (v: string | undefined, flag: string) => (v ? parseDuration(v, flag) : undefined);
  const warnWithinMs = d(opts.warnWithin, "--warn-within");
  const caWarnWithinMs = d(opts.caWarnWithin ?? "90d", "--ca-warn-within");
  const crlMarginMs = d(opts.crlMargin, "--crl-margin");
  return core.checkStatus(await openReadSession(ctx, { interrupted: false }), {
    ...(warnWithinMs ? { warnWithinMs } : {}),
    ...(caWarnWithinMs ? { caWarnWithinMs } : {}),
    ...(crlMarginMs ? { crlMarginMs } : {}),
  });
}

function render(r: StatusResult, s: Styles): string {
  const cas = table(
    ["CA", "SUBJECT", "NOT AFTER", "DAYS", "KEY"],
    r.cas.map((c) => [
      c.role,
      c.subject,
      c.notAfter.slice(0, 10),
      String(c.daysLeft),
      c.keyStore === "pkcs11" ? `token${c.tokenReachable ? "" : " (unreachable)"}` : "file",
    ]),
    s,
  );
  const crls = table(
    ["CRL", "NUMBER", "NEXT UPDATE", "HOURS", "ENTRIES"],
    r.crls.map((c) =>
      c.missing ? [c.issuer, s.bad("missing"), "", "", ""] : [c.issuer, c.number ?? "", c.nextUpdate ?? "", String(c.hoursLeft ?? ""), String(c.entries ?? "")],
    ),
    s,
  );
  const ocsp = r.ocsp?.ok ? `OCSP responder ${r.ocsp.url}: answers for this PKI, valid until ${r.ocsp.nextUpdate ?? "?"}` : undefined;
  const c = r.certificates;
  const certs = `certificates: ${c.total} (${c.valid} valid, ${c.expiring} expiring within ${r.windows.warnDays} days, ${c.expired} expired, ${c.revoked} revoked)`;
  const states = new Map<string, number>();
  for (const p of r.partners) states.set(p.state, (states.get(p.state) ?? 0) + 1);
  const partners = `partners: ${r.partners.length}${states.size ? ` (${[...states].map(([k, n]) => `${n} ${k}`).join(", ")})` : ""}`;
  const overdue = r.partners
    .filter((p) => p.rotation?.overlapEnded)
    .map((p) => `  ${s.warn("!")} ${p.partnerId}: the overlap ended at ${p.rotation?.overlapUntil}; run \`mtls partner rotate --finish\``);
  const verdict = r.healthy ? s.ok("healthy") : s.bad(`${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}:`);
  const problems = r.problems.map((p) => `  ${s.bad("✖")} ${p.message}\n    ${s.dim(p.hint)}`);
  return [cas, crls, ...(ocsp ? [ocsp] : []), certs, partners, ...overdue, verdict, ...problems].join("\n\n").replace(/\n\n {2}/g, "\n  ");
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("status")
    .description("health gate for CI: CA expiry, partners due or locked out, CRL freshness")
    .option("--warn-within <duration>", "a partner whose newest certificate expires within this window is due (default: the CA's warn days)")
    .option("--ca-warn-within <duration>", "CA certificates expiring within this window are problems", "90d")
    .option("--crl-margin <duration>", "a CRL this close to its nextUpdate is a problem (default: half its validity)")
    .addHelpText("after", examplesHelp(["mtls status", "mtls status --warn-within 14d --json || notify-oncall"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  healthy (partners ok, rotating, offboarded or pending)",
        "1  problems found (listed): a partner due or locked out, the CA, a CRL",
        "2  invalid duration",
        "5  no PKI",
      ]),
    )
    .action(async (opts: StatusOptions) => {
      const result = await runStatus(ctx, opts);
      ctx.out.result(result, render);
      if (!result.healthy) ctx.out.setExit(Exit.CHECK_FAILED);
    });
}
