// The whole core library, for the commands that call into much of it. Its own module, so that a
// command's bundle (routes.ts) that never opens such a session does not hold every core module.
import type { CliContext } from "./context.js";
import { openPkiOf, type PassphraseOpts } from "./flags.js";

/** Loads the whole core library; kept out of start-up so `mtls --help` stays fast. */
export function loadWholeCore(): Promise<typeof import("../core/index.js")> {
  return import("../core/index.js");
}

export type Session = Awaited<ReturnType<typeof openSession>>;

/**
 * Opens the PKI session a command works on: the time of the command, who acts, where the CA
 * passphrase comes from (when the command takes the passphrase options). `clock` is for the
 * long-running servers, whose transactions each read the time afresh.
 */
export async function openSession(ctx: CliContext, opts?: PassphraseOpts, o: { clock?: boolean } = {}) {
  const core = await loadWholeCore();
  const pki = await openPkiOf(ctx, core.openPki, opts, o);
  return { core, pki };
}
