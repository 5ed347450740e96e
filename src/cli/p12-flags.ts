// The PKCS#12 options shared by `partner issue`, `partner export` and `p12 create`, and where the
// generated password goes: a file the user names (0600), the terminal (stderr, once), or the
// --json result when the user asks for it there. Never stdout by default, never a log.
import { type Command, Option } from "commander";
import { usageError } from "../core/errors.js";
import { INPUT_LIMITS, passphraseFromFile } from "../core/input.js";
import type { CliContext } from "./context.js";

export const P12_PROFILE_CHOICES = ["modern", "legacy-des"];

export interface P12PasswordOpts {
  p12PasswordFile?: string;
  p12PasswordInJson?: boolean;
}

export function addP12PasswordOptions(cmd: Command): Command {
  return cmd
    .option("--p12-password-file <file>", "write the generated PKCS#12 password to <file> (mode 0600) instead of the terminal")
    .addOption(new Option("--p12-password-in-json", "with --json: put the generated password into the result (field p12Password)"));
}

/** --key-passphrase-file: the passphrase of an encrypted key file the user supplies (first line). */
export async function keyPassphrase(ctx: CliContext, file: string | undefined): Promise<string | undefined> {
  if (!file) return undefined;
  // Raw bytes, refused when not UTF-8 rather than altered (#13).
  return passphraseFromFile(await ctx.readInput(file, "key passphrase file", INPUT_LIMITS.passphraseFile), file);
}

export const profileOption = (flags: string, description: string) => new Option(flags, description).choices(P12_PROFILE_CHOICES);

/** Refuses, before anything is made, a run whose password would reach nobody. */
export function checkP12PasswordDestination(ctx: CliContext, opts: P12PasswordOpts): void {
  if (ctx.globals.json && !opts.p12PasswordFile && !opts.p12PasswordInJson)
    throw usageError(
      "ERR_P12_PASSWORD_DESTINATION",
      "with --json the PKCS#12 password needs a destination",
      "pass --p12-password-file <file> (0600), or --p12-password-in-json to receive it in the result",
    );
}

/** Refuses the password options where no PKCS#12 is being made, instead of ignoring them. */
export function refuseUnusedP12Options(opts: P12PasswordOpts, making: boolean, what: string): void {
  if (!making && (opts.p12PasswordFile || opts.p12PasswordInJson))
    throw usageError("ERR_USAGE", "--p12-password-file and --p12-password-in-json apply only when a PKCS#12 is made", `add ${what}`);
}

/** The result as rendered: the password only where the user asked for it. */
export function withP12Password<T extends object>(ctx: CliContext, opts: P12PasswordOpts, result: T, password: string): T & { p12Password?: string } {
  if (opts.p12PasswordFile) {
    ctx.out.info(`PKCS#12 password written to ${opts.p12PasswordFile} (mode 0600): deliver it separately from the file`);
    return result;
  }
  if (ctx.globals.json) return { ...result, p12Password: password };
  // Shown even with --quiet: it is the only copy.
  ctx.io.stderr.write(`PKCS#12 password (shown once; send it by another channel than the file): ${password}\n`);
  return result;
}
