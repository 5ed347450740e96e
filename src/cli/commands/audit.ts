import type { Command } from "commander";
import type { queryAudit } from "../../core/audit/audit.js";
import { Exit, usageError } from "../../core/errors.js";
import type { AuditRecord } from "../../core/index.js";
import { parseDuration, parseIsoTime } from "../../core/time.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../flags.js";
import { type Styles, table } from "../output.js";

export interface AuditOptions {
  /** An ISO date, or a duration back from now ("7d"), as on the command line. */
  since?: string;
  partner?: string;
  action?: string;
}

export type AuditQueryResult = Awaited<ReturnType<typeof queryAudit>>;
export type AuditVerifyResult = AuditQueryResult["verification"];

/** --since: a duration back from now ("7d") or an ISO date; anything else is exit 2, where it would match nothing. */
function parseSince(text: string, now: Date): Date {
  if (/^\d+(\.\d+)?\s*[smhdw]?$/i.test(text)) return new Date(now.getTime() - parseDuration(text, "--since"));
  const at = parseIsoTime(text);
  if (!at)
    throw usageError(
      "ERR_USAGE",
      `invalid --since "${text}": expected an ISO date or a duration back from now`,
      "e.g. --since 2026-01-31, --since 2026-01-31T12:00:00Z or --since 7d",
    );
  return at;
}

/** `mtls audit`, in-process: the matching records and the chain's verdict (the CLI exits 1 when it is broken). */
export async function runAudit(ctx: CliContext, opts: AuditOptions): Promise<AuditQueryResult> {
  const core = await import("../../core/audit/audit.js");
  const since = opts.since === undefined ? undefined : parseSince(opts.since, ctx.now());
  return core.queryAudit(await openReadSession(ctx), {
    ...(since ? { since } : {}),
    ...(opts.partner ? { partner: opts.partner } : {}),
    ...(opts.action ? { action: opts.action } : {}),
  });
}

/** `mtls audit verify`, in-process: the hash chain's verdict, naming the first bad line. */
export async function runAuditVerify(ctx: CliContext): Promise<AuditVerifyResult> {
  const core = await import("../../core/audit/audit.js");
  return (await core.queryAudit(await openReadSession(ctx))).verification;
}

const rows = (records: AuditRecord[]) =>
  records.map((r) => [
    String(r.seq),
    r.time,
    r.actor,
    r.action,
    r.outcome,
    r.partner ?? "",
    r.serial ?? "",
    Object.entries(r.details ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(" "),
  ]);

export function register(parent: Command, ctx: CliContext): void {
  const audit = parent
    .command("audit")
    .description("the tamper-evident audit log of every state-changing action")
    .option("--since <when>", "records from this time on: an ISO date, or a duration back from now (7d)")
    .option("--partner <id>", "only this partner's records")
    .option("--action <name>", "only this action (cert.issue, cert.revoke, crl.publish, ... or a prefix: cert)")
    .addHelpText("after", examplesHelp(["mtls audit --since 7d", "mtls audit --partner acme --json", "mtls audit verify"]))
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  shown",
        "1  the chain is broken (records are shown; `audit verify` names the line)",
        "2  a --since that is no ISO date or duration",
        "5  no PKI",
      ]),
    )
    .action(async (opts: AuditOptions) => {
      const result = await runAudit(ctx, opts);
      ctx.out.result(result, (r, s: Styles) =>
        r.records.length ? table(["SEQ", "TIME", "ACTOR", "ACTION", "OUTCOME", "PARTNER", "SERIAL", "DETAILS"], rows(r.records), s) : s.dim("no records match"),
      );
      if (!result.verification.ok) {
        ctx.out.warn(`the audit chain is broken at line ${result.verification.firstBad?.line}: ${result.verification.firstBad?.reason}`);
        ctx.out.setExit(Exit.CHECK_FAILED);
      }
    });
  audit
    .command("verify")
    .description("check the hash chain of the audit log; exit 1 naming the first bad line")
    .addHelpText("after", examplesHelp(["mtls audit verify"]))
    .addHelpText("after", exitCodesHelp(["0  the chain holds", "1  it is broken at the line named", "5  no PKI"]))
    .action(async () => {
      const verification = await runAuditVerify(ctx);
      if (verification.tornTail)
        ctx.out.warn(`the log ends in a torn append after record ${verification.records}, which is no record: \`mtls doctor --fix\` moves it aside`);
      ctx.out.result(verification, (v, s) =>
        v.ok
          ? `${s.ok("✔")} the audit chain holds over ${v.records} records`
          : `${s.bad("✖")} the audit chain is broken at line ${v.firstBad?.line}: ${v.firstBad?.reason}`,
      );
      if (!verification.ok) ctx.out.setExit(Exit.CHECK_FAILED);
    });
}
