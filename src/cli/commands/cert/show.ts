import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../../flags.js";

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("show")
    .description("print an issued certificate by serial as PEM (a batch's certificates have no file of their own)")
    .argument("<serial>", "the certificate's serial (hex, as `mtls list` shows it)")
    .option("--chain", "the certificate followed by the intermediate that issued it, as a client presents them")
    .addHelpText(
      "after",
      examplesHelp([
        "mtls cert show 4f1c2a9e0b7d3e55 > acme.pem",
        "mtls cert show 4f1c2a9e0b7d3e55 --chain > acme-chain.pem",
        "mtls partner issue --batch fleet.jsonl --key-dir keys --json | jq -r '.result.results[].serial' | xargs -n1 mtls cert show",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp(["0  printed", "3  no certificate with this serial", "5  no PKI, or the store lacks the certificate (run `mtls doctor`)"]),
    )
    .action(async (serial: string, opts: { chain?: boolean }) => {
      ctx.out.result(await runCertShow(ctx, { serial, chain: Boolean(opts.chain) }), (r) => r.pem.replace(/\n$/, ""));
    });
}

/** `mtls cert show`, in-process. */
export async function runCertShow(ctx: CliContext, opts: { serial: string; chain?: boolean }) {
  const core = await import("../../../core/inventory/cert.js");
  return core.showCertificate(await openReadSession(ctx), opts);
}
