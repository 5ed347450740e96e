// The PKCS#11 token PIN: from --pin-file, MTLS_PKCS11_PIN or a prompt, never from argv (it would
// show in `ps` and the shell history), and asked for only when a token is actually opened.
import { stat } from "node:fs/promises";
import { type Command, Option } from "commander";
import { fsError, usageError } from "../core/errors.js";
import { checkPassphraseText, INPUT_LIMITS, passphraseFromFile } from "../core/input.js";
import { type TokenAccess, tokenAccess } from "../core/keystore/access.js";
import type { CliContext } from "./context.js";

export interface PinOpts {
  pinFile?: string;
  pin?: string;
}

/** --pin-file, plus a hidden --pin that exists only to refuse. */
export function addPinOptions(cmd: Command): Command {
  return cmd
    .option("--pin-file <file>", "read the PKCS#11 token PIN from the first line of <file> (or set MTLS_PKCS11_PIN)")
    .addOption(new Option("--pin <value>").hideHelp());
}

async function readPin(ctx: CliContext, opts: PinOpts): Promise<string> {
  if (opts.pinFile) {
    const path = ctx.resolvePath(opts.pinFile);
    const st = await stat(path).catch((err) => Promise.reject(fsError(err, opts.pinFile as string, "read PIN file")));
    if (st.mode & 0o077) ctx.out.warn(`${opts.pinFile} is readable by other users; chmod 600 it`);
    return passphraseFromFile(await ctx.readInput(opts.pinFile, "PIN file", INPUT_LIMITS.passphraseFile), opts.pinFile);
  }
  const env = ctx.env.MTLS_PKCS11_PIN;
  if (env !== undefined && env !== "") return checkPassphraseText(env, "MTLS_PKCS11_PIN");
  if (ctx.prompt.interactive) {
    ctx.out.progress("");
    return ctx.prompt.password("PKCS#11 token PIN:");
  }
  throw usageError("ERR_PIN_REQUIRED", "a PKCS#11 token is needed and no PIN was given", "set MTLS_PKCS11_PIN or pass --pin-file <file>");
}

/**
 * Token access for this command: the PIN is read once, when the first token is logged into,
 * and the sessions are closed when the process exits.
 */
export function tokenAccessFor(ctx: CliContext, opts: PinOpts): TokenAccess {
  if (opts.pin !== undefined)
    throw usageError(
      "ERR_PIN_ARGV",
      "PINs are not accepted on the command line (other users can read them in the process list and your shell history)",
      "set MTLS_PKCS11_PIN or pass --pin-file <file>",
    );
  let cached: Promise<string> | undefined;
  const access = tokenAccess(() => {
    cached ??= readPin(ctx, opts);
    return cached;
  });
  // Closed when the process exits, registered only once a token is actually opened (commands
  // also run in-process, many per process, and most never touch a token).
  let closing = false;
  return {
    ...access,
    sessions() {
      if (!closing) process.once("exit", () => access.close());
      closing = true;
      return access.sessions();
    },
  };
}
