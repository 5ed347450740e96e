import type { Command } from "commander";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../flags.js";
import { fields } from "../output.js";
import { loadWholeCore } from "../whole-core.js";

export function register(program: Command, ctx: CliContext): void {
  program
    .command("report")
    .description("write a self-contained HTML report: partners and their state, expiry timeline, CRL freshness, last probes, audit chain")
    .requiredOption("--html <file>", "the page to write (no script, nothing loaded from the network)")
    .option("--force", "overwrite --html")
    .addHelpText("after", examplesHelp(["mtls report --html pki-report.html", "mtls report --html /srv/www/pki/index.html --force   # from cron"]))
    .addHelpText("after", exitCodesHelp(["0  written", "4  --html exists (use --force)", "5  no PKI, unwritable file"]))
    .action(async (opts: { html: string; force?: boolean }) => {
      const result = await runReport(ctx, opts);
      ctx.out.result(result, (r, s) =>
        fields(
          [
            ["report", s.bold(r.path)],
            ["partners", r.partners],
            ["certificates", r.certificates],
            ["health", r.healthy ? s.ok("healthy") : s.warn("problems listed in the report")],
            ["audit chain", r.auditChainOk ? s.ok("intact") : s.bad("broken")],
          ],
          s,
        ),
      );
    });
}

/** `mtls report`, in-process: writes the HTML page and returns what it holds. */
export async function runReport(ctx: CliContext, opts: { html: string; force?: boolean }) {
  const core = await loadWholeCore();
  return core.writeHtmlReport(await openReadSession(ctx), { out: ctx.resolvePath(opts.html), force: Boolean(opts.force) });
}
