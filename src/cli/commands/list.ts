import { type Command, Option } from "commander";
import type { CertStatus, CertTable, ListResult } from "../../core/inventory/list.js";
import type { PieceAssembler } from "../../core/store/summary-pieces.js";
import { parseDuration } from "../../core/time.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../flags.js";
import type { Styles } from "../output.js";

export interface ListOptions {
  partner?: string;
  status?: string;
  expiringWithin?: string;
  kind?: "client" | "server";
}

/** `mtls list`, in-process: the filters as the command line spells them. */
export async function runList(ctx: CliContext, opts: ListOptions): Promise<ListResult> {
  const core = await import("../../core/inventory/list.js");
  return core.listCertificates(await openReadSession(ctx), listParams(opts, core.parseStatus));
}

/** The same selection as the table shows it, from the index summary's cells (#21). */
export async function runListTable(ctx: CliContext, opts: ListOptions): Promise<{ certificates: CertTable; warnDays: number; pieces: PieceMaker }> {
  const core = await import("../../core/inventory/list.js");
  const { PieceAssembler } = await import("../../core/store/summary-pieces.js");
  const listed = await core.listCertificateTable(await openReadSession(ctx), listParams(opts, core.parseStatus));
  return { ...listed, pieces: (read, total) => new PieceAssembler(read, total) };
}

type PieceMaker = (...a: ConstructorParameters<typeof PieceAssembler>) => PieceAssembler;

/** `list --json`: the same records as runList, each read from the index as the document is written (#21). */
async function runListStreamed(ctx: CliContext, opts: ListOptions) {
  const core = await import("../../core/inventory/list.js");
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
// The order of core's CERT_STATUSES (the table's status codes), without loading core at start-up.
const CERT_STATUSES = ["valid", "expiring", "expired", "revoked"] as const;

/**
 * The table `table` would print (columns two spaces apart, the header dimmed, the status
 * coloured), assembled as bytes from the summary's cells, which are already safe for a terminal,
 * measured and padded for a table of every row: at 100,000 rows a string per cell and line was
 * most of the run (#21).
 */
function* render(r: { certificates: CertTable; pieces: PieceMaker }, s: Styles): Generator<string | Uint8Array> {
  try {
    yield* renderRows(r.certificates, r.pieces, s);
  } finally {
    r.certificates.close();
  }
}

function* renderRows(t: CertTable, pieces: PieceMaker, s: Styles): Generator<string | Uint8Array> {
  if (t.length === 0) return yield `${s.dim("no certificates match")}\n`;
  const cells = t.cells;
  const days = daysTexts(t.daysLeft);
  const widths = columnWidths(t, days);
  yield `${s.dim(HEADER.map((h, c) => (c < 5 ? h.padEnd((widths[c] as number) + 2) : h)).join(""))}\n`;
  // The cells were padded for these widths: each row's four cells are one run of bytes.
  const asStored = [0, 1, 2, 3].every((c) => widths[c] === cells.columnWidths[c]);
  const status = CERT_STATUSES.map((st) => `${s.status(st)}\n`);
  const room = widths.reduce((a, w) => a + w + 2, 0) + 64;
  const out = pieces(cells.read, cells.length);
  const { end, width } = cells;
  for (let k = 0; k < t.length; k++) {
    const i = t.row[k] as number;
    const from = i > 0 ? (end[4 * i - 1] as number) + (cells.columnWidths[3] as number) - (width[4 * i - 1] as number) + 2 : 0;
    const to = (end[4 * i + 3] as number) + (cells.columnWidths[3] as number) - (width[4 * i + 3] as number) + 2;
    const done = out.begin(from, to - from, to - from + room);
    if (done) yield done;
    if (asStored) out.copy(from, to);
    else {
      let at = from;
      for (let c = 0; c < 4; c++) {
        out.copy(at, end[4 * i + c] as number);
        out.spaces((widths[c] as number) - (width[4 * i + c] as number) + 2);
        at = (end[4 * i + c] as number) + (cells.columnWidths[c] as number) - (width[4 * i + c] as number) + 2;
      }
    }
    const d = days[k] as string;
    out.ascii(d);
    out.spaces((widths[4] as number) - d.length + 2);
    out.ascii(status[t.status[k] as number] as string);
  }
  const last = out.finish();
  if (last) yield last;
}

/** Each column's width: its header's or its widest selected cell's. */
function columnWidths(t: CertTable, days: readonly string[]): number[] {
  const widths = HEADER.map((h) => h.length);
  const width = t.cells.width;
  for (let k = 0; k < t.length; k++) {
    const i = t.row[k] as number;
    for (let c = 0; c < 4; c++) if ((width[4 * i + c] as number) > (widths[c] as number)) widths[c] = width[4 * i + c] as number;
    if ((days[k] as string).length > (widths[4] as number)) widths[4] = (days[k] as string).length;
    const st = (CERT_STATUSES[t.status[k] as number] as string).length;
    if (st > (widths[5] as number)) widths[5] = st;
  }
  return widths;
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
    .addOption(new Option("--status <status>", "only certificates in this status").choices([...CERT_STATUSES]))
    .addOption(new Option("--kind <kind>", "only partner client certificates or only gateway server certificates").choices(["client", "server"]))
    .option("--expiring-within <duration>", "only unexpired certificates whose notAfter is within this window (e.g. 30d)")
    .addHelpText("after", examplesHelp(["mtls list --partner acme", "mtls list --expiring-within 30d --json | jq -r '.result.certificates[].serial'"]))
    .addHelpText("after", exitCodesHelp(["0  listed (also when nothing matches)", "2  bad filter", "3  --partner names no partner", "5  no PKI at --pki"]))
    .action(async (opts: ListOptions) => {
      // The table needs a few fields, which the index summary has; --json gives whole records,
      // read one at a time as the document is written.
      if (ctx.globals.json) ctx.out.result(await runListStreamed(ctx, opts), () => "");
      else await ctx.out.resultChunks(await runListTable(ctx, opts), render);
    });
}
