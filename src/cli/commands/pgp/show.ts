import type { Command } from "commander";
import { envError } from "../../../core/errors.js";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp } from "../../flags.js";
import { fields } from "../../output.js";
import { openSession, type Session } from "../../whole-core.js";

export type PgpShowResult = NonNullable<Awaited<ReturnType<Session["core"]["showSigningKey"]>>>;

/** `mtls pgp show`, in-process: the home party's signing key (exit 5 when there is none yet). */
export async function runPgpShow(ctx: CliContext): Promise<PgpShowResult> {
  const { core, pki } = await openSession(ctx);
  const key = await core.showSigningKey(pki);
  if (!key)
    throw envError("ERR_NO_PGP_KEY", "the home party has no OpenPGP signing key yet", "run `mtls pgp init` (or `mtls partner export`, which creates one)");
  return key;
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("show")
    .description("the home party's OpenPGP signing key: fingerprint, user ID, public key")
    .option("--armor", "print only the armored public key (to send to partners)")
    .addHelpText("after", examplesHelp(["mtls pgp show", "mtls pgp show --armor > home-party.asc"]))
    .addHelpText("after", exitCodesHelp(["0  shown", "5  no PKI, or no signing key yet (`mtls pgp init`)"]))
    .action(async (opts: { armor?: boolean }) => {
      const key = await runPgpShow(ctx);
      ctx.out.result(key, (k, s) =>
        opts.armor
          ? k.publicKey
          : fields(
              [
                ["signing key", s.bold(k.fingerprint)],
                ["user ID", k.userId],
                ["public key", k.publicKeyPath],
              ],
              s,
            ),
      );
    });
}
