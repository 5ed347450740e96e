import { type Command, Option } from "commander";
import type { CertStatus, ListedRow, ListResult } from "../../core/inventory/list.js";
import { parseDuration } from "../../core/time.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, loadCore, openReadSession } from "../flags.js";
import { type Styles, tableChunks } from "../output.js";

export interface ListOptions {
  partner?: string;
  status?: string;
  expiringWithin?: string;
  kind?: "client" | "server";
}

/** `mtls list`, in-process: the filters as the command line spells them. */
export async function runList(ctx: CliContext, opts: ListOptions): Promise<ListResult> {
  const core = await loadCore(() => import("../../core/inventory/list.js"));
  return core.listCertificates(await openReadSession(ctx), listParams(opts, core.parseStatus));
}

/** The same selection with only the fields the table shows, from the index summary (#21). */
export async function runListRows(ctx: CliContext, opts: ListOptions): Promise<ListResult<ListedRow>> {
  const core = await loadCore(() => import("../../core/inventory/list.js"));
  return core.listCertificateRows(await openReadSession(ctx), listParams(opts, core.parseStatus));
}

/** `list --json`: the same records as runList, each read from the index as the document is written (#21). */
async function runListStreamed(ctx: CliContext, opts: ListOptions) {
  const core = await loadCore(() => import("../../core/inventory/list.js"));
  return core.streamCertificates(await openReadSession(ctx), listParams(opts, core.parseStatus));
}

function listParams(opts: ListOptions, parseStatus: (s: string) => CertStatus) {
  return {
    ...(opts.partner ? { partner: opts.partner } : {}),
    ...(opts.status ? { status: parseStatus(opts.status) } : {}),
    ...(opts.kind ? { kind: opts.kind } : {}),
    ...(opts.expiringWithin ? { expiringWithinMs: parseDuration(opts.expiringWithin, "--expiring-within") } : {}),
  };
}

function* render(r: ListResult<ListedRow>, s: Styles): Generator<string> {
  const certs = r.certificates;
  if (certs.length === 0) return yield `${s.dim("no certificates match")}\n`;
  const header = ["SERIAL", "PARTNER", "SUBJECT", "NOT AFTER", "DAYS", "STATUS"];
  const cells = (i: number) => {
    const c = certs[i] as ListedRow;
    return [c.serial, c.partnerId, c.subject, c.notAfter.slice(0, 10), String(c.daysLeft), c.status];
  };
  // The status colour is added after the widths are measured (colour codes take no columns).
  const coloured = s.status("valid") !== "valid";
  for (const chunk of tableChunks(header, certs.length, cells, s)) yield coloured ? chunk.replace(STATUS_AT_END, (st) => s.status(st)) : chunk;
}

const STATUS_AT_END = /(valid|expiring|expired|revoked)$/gm;

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
      // The table needs a few fields, which the index summary has; --json gives whole records,
      // read one at a time as the document is written.
      if (ctx.globals.json) ctx.out.result(await runListStreamed(ctx, opts), () => "");
      else ctx.out.resultChunks(await runListRows(ctx, opts), render);
    });
}
