import { type Command, Option } from "commander";
import type { ListResult } from "../../core/index.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, loadCore } from "../flags.js";
import { type Styles, table } from "../output.js";

export interface ListOptions {
  partner?: string;
  status?: string;
  expiringWithin?: string;
  kind?: "client" | "server";
}

/** `mtls list`, in-process: the filters as the command line spells them. */
export async function runList(ctx: CliContext, opts: ListOptions): Promise<ListResult> {
  const core = await loadCore();
  return core.listCertificates({
    pkiDir: ctx.pkiDir,
    now: ctx.now(),
    ...(opts.partner ? { partner: opts.partner } : {}),
    ...(opts.status ? { status: core.parseStatus(opts.status) } : {}),
    ...(opts.kind ? { kind: opts.kind } : {}),
    ...(opts.expiringWithin ? { expiringWithinMs: core.parseDuration(opts.expiringWithin, "--expiring-within") } : {}),
  });
}

function render(r: ListResult, s: Styles): string {
  if (r.certificates.length === 0) return s.dim("no certificates match");
  const rows = r.certificates.map((c) => [c.serial, c.partnerId, c.subject, c.notAfter.slice(0, 10), String(c.daysLeft), s.status(c.status)]);
  return table(["SERIAL", "PARTNER", "SUBJECT", "NOT AFTER", "DAYS", "STATUS"], rows, s);
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("list")
    .description("inventory of issued certificates with status and days left")
    .option("--partner <id>", "only this partner's certificates")
    .addOption(new Option("--status <status>", "only certificates in this status").choices(["valid", "expiring", "expired", "revoked"]))
    .addOption(new Option("--kind <kind>", "only partner client certificates or only gateway server certificates").choices(["client", "server"]))
    .option("--expiring-within <duration>", "only unexpired certificates whose notAfter is within this window (e.g. 30d)")
    .addHelpText("after", examplesHelp(["mtls list --partner acme", "mtls list --expiring-within 30d --json | jq -r '.result.certificates[].serial'"]))
    .addHelpText("after", exitCodesHelp(["0  listed (also when nothing matches)", "2  bad filter", "5  no PKI at --pki"]))
    .action(async (opts: ListOptions) => {
      ctx.out.result(await runList(ctx, opts), render);
    });
}
