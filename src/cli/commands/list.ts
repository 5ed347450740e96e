import { type Command, Option } from "commander";
import { CERT_STATUSES, type CertStatus, type CertTable, type ListResult } from "../../core/inventory/list.js";
import { parseDuration } from "../../core/time.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, loadCore, openReadSession } from "../flags.js";
import type { Styles } from "../output.js";

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

/** The same selection as the table shows it, from the index summary's cells (#21). */
export async function runListTable(ctx: CliContext, opts: ListOptions): Promise<{ certificates: CertTable; warnDays: number }> {
  const core = await loadCore(() => import("../../core/inventory/list.js"));
  return core.listCertificateTable(await openReadSession(ctx), listParams(opts, core.parseStatus));
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

const HEADER = ["SERIAL", "PARTNER", "SUBJECT", "NOT AFTER", "DAYS", "STATUS"];
const OUT = 1 << 20;

/**
 * The table `table` would print (columns two spaces apart, the header dimmed, the status
 * coloured), assembled as bytes from the summary's cells, which are already safe for a terminal
 * and measured: at 100,000 rows a string per cell and line was most of the run (#21).
 */
function* render(r: { certificates: CertTable }, s: Styles): Generator<string | Uint8Array> {
  const t = r.certificates;
  if (t.length === 0) return yield `${s.dim("no certificates match")}\n`;
  const { bytes, end, width } = t.cells;
  const days = daysTexts(t.daysLeft);
  const widths = HEADER.map((h) => h.length);
  for (let k = 0; k < t.length; k++) {
    const i = t.row[k] as number;
    for (let c = 0; c < 4; c++) if ((width[4 * i + c] as number) > (widths[c] as number)) widths[c] = width[4 * i + c] as number;
    if ((days[k] as string).length > (widths[4] as number)) widths[4] = (days[k] as string).length;
    const st = (CERT_STATUSES[t.status[k] as number] as string).length;
    if (st > (widths[5] as number)) widths[5] = st;
  }
  yield `${s.dim(HEADER.map((h, c) => (c < 5 ? h.padEnd((widths[c] as number) + 2) : h)).join(""))}\n`;
  const status = CERT_STATUSES.map((st) => Buffer.from(`${s.status(st)}\n`));
  const statusLen = status.map((b) => b.length);
  // A line is at most its cells' bytes, the padding of every column and the coloured status.
  const room = widths.reduce((a, w) => a + w + 2, 0) + 64;
  let out = Buffer.allocUnsafe(OUT);
  let o = 0;
  for (let k = 0; k < t.length; k++) {
    const i = t.row[k] as number;
    let from = i > 0 ? (end[4 * i - 1] as number) : 0;
    const need = (end[4 * i + 3] as number) - from + room;
    if (o + need > out.length) {
      yield out.subarray(0, o);
      out = Buffer.allocUnsafe(Math.max(OUT, need));
      o = 0;
    }
    for (let c = 0; c < 4; c++) {
      // Byte by byte: Buffer.copy makes a view per call, which at 400,000 cells was most of the run.
      const to = end[4 * i + c] as number;
      for (; from < to; from++) out[o++] = bytes[from] as number;
      o = spaces(out, o, (widths[c] as number) - (width[4 * i + c] as number) + 2);
    }
    const d = days[k] as string;
    for (let j = 0; j < d.length; j++) out[o++] = d.charCodeAt(j);
    o = spaces(out, o, (widths[4] as number) - d.length + 2);
    const st = status[t.status[k] as number] as Buffer;
    for (let j = 0, n = statusLen[t.status[k] as number] as number; j < n; j++) out[o++] = st[j] as number;
  }
  if (o > 0) yield out.subarray(0, o);
}

function spaces(out: Buffer, o: number, n: number): number {
  for (let j = 0; j < n; j++) out[o++] = 0x20;
  return o;
}

/** The DAYS cells (String(daysLeft)), each distinct number turned into text once. */
function daysTexts(daysLeft: Float64Array): string[] {
  const seen = new Map<number, string>();
  const out = new Array<string>(daysLeft.length);
  for (let k = 0; k < daysLeft.length; k++) {
    const d = daysLeft[k] as number;
    let text = seen.get(d);
    if (text === undefined) {
      text = String(d);
      seen.set(d, text);
    }
    out[k] = text;
  }
  return out;
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
      // The table needs a few fields, which the index summary has; --json gives whole records,
      // read one at a time as the document is written.
      if (ctx.globals.json) ctx.out.result(await runListStreamed(ctx, opts), () => "");
      else await ctx.out.resultChunks(await runListTable(ctx, opts), render);
    });
}
