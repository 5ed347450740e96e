import { type Command, Option } from "commander";
import { Exit } from "../../core/errors.js";
import type { InspectResult } from "../../core/index.js";
import { INPUT_LIMITS, passphraseFromFile } from "../../core/input.js";
import { parseDuration } from "../../core/time.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../flags.js";
import { renderInspect } from "../inspect-render.js";

interface Opts {
  passwordFile?: string;
  /** Default 30d, as on the command line. */
  expiringWithin?: string;
  /** Default client. */
  purpose?: "client" | "server";
  strict?: boolean;
}

export interface InspectOptions extends Opts {
  /** The file ("-" is standard input). */
  file: string;
}

/**
 * `mtls inspect`, in-process: what the file holds, with lints (the CLI exits 1 on a lint with
 * --strict). The PKI is consulted when there is one; it is required only when --pki names it on the
 * command line: MTLS_PKI is a default set once for every command, and inspect needs no PKI.
 */
export async function runInspect(ctx: CliContext, opts: InspectOptions): Promise<InspectResult> {
  const core = await import("../../core/inspect/inspect.js");
  const explicitPki = ctx.io.argv.some((a) => a === "--pki" || a.startsWith("--pki="));
  // Raw bytes, refused when not UTF-8 rather than altered (#13); an empty PKCS#12 password is valid.
  const password = opts.passwordFile
    ? passphraseFromFile(await ctx.readInput(opts.passwordFile, "password file", INPUT_LIMITS.passphraseFile), opts.passwordFile, { allowEmpty: true })
    : undefined;
  return core.inspectFile(await openReadSession(ctx), {
    bytes: await ctx.readInput(opts.file, "file", core.MAX_INSPECT_BYTES),
    source: opts.file === "-" ? "standard input" : opts.file,
    ...(password !== undefined ? { password } : {}),
    pkiOptional: !explicitPki,
    expiringWithinMs: parseDuration(opts.expiringWithin ?? "30d", "--expiring-within"),
    purpose: opts.purpose ?? "client",
  });
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("inspect")
    .description("show what a certificate, chain, CSR, CRL, private key, PKCS#12 or delivery bundle holds (PEM or DER), with lints")
    .argument("<file>", "the file ('-' reads standard input)")
    .option("--password-file <file>", "the PKCS#12 password (first line)")
    .option("--expiring-within <duration>", "lint certificates that expire within this window", "30d")
    .addOption(new Option("--purpose <purpose>", "the extended key usage a leaf needs").choices(["client", "server"]).default("client"))
    .option("--strict", "exit 1 when a lint fails")
    .addHelpText(
      "after",
      examplesHelp([
        "mtls inspect acme.pem",
        "mtls inspect /etc/nginx/mtls/crl-bundle.pem --strict   # a gateway's CRL copy: stale? signed by this CA?",
        "mtls inspect acme.p12 --password-file acme.p12.pass --json",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  inspected (lints are reported)",
        "1  with --strict: a lint failed",
        "2  an invalid --expiring-within",
        "3  unreadable or unrecognised file, wrong PKCS#12 password",
        "5  unreadable file",
      ]),
    )
    .action(async (file: string, opts: Opts) => {
      const result = await runInspect(ctx, { ...opts, file });
      ctx.out.result(result, renderInspect);
      if (opts.strict && result.lints.length > 0) ctx.out.setExit(Exit.CHECK_FAILED);
    });
}
