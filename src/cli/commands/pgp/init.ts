import type { Command } from "commander";
import type { SigningKeyResult } from "../../../core/index.js";
import { checkPassphraseText, INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts } from "../../flags.js";
import { fields } from "../../output.js";
import { openSession } from "../../whole-core.js";

export interface PgpInitOptions extends PassphraseOpts {
  name?: string;
  email?: string;
  import?: string;
}

/** `mtls pgp init`, in-process: the home party's new (or imported) signing key; an imported key's passphrase comes from MTLS_PGP_PASSPHRASE. */
export async function runPgpInit(ctx: CliContext, opts: PgpInitOptions): Promise<SigningKeyResult> {
  const { core, pki } = await openSession(ctx, opts);
  return core.initSigningKey(pki, {
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.email ? { email: opts.email } : {}),
    ...(opts.import ? { importArmored: (await ctx.readInput(opts.import, "OpenPGP key", INPUT_LIMITS.pgpKey)).toString("utf8") } : {}),
    ...(ctx.env.MTLS_PGP_PASSPHRASE ? { importPassphrase: checkPassphraseText(ctx.env.MTLS_PGP_PASSPHRASE, "MTLS_PGP_PASSPHRASE") } : {}),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("init")
    .description("create (or import) the home party's OpenPGP key that signs delivery bundles")
    .option("--name <name>", 'user ID name (default: "<CA name> partner delivery")')
    .option("--email <email>", "user ID e-mail")
    .option("--import <file>", "import an existing armored private key instead (its passphrase from MTLS_PGP_PASSPHRASE)");
  addPassphraseOptions(cmd)
    .addHelpText("after", examplesHelp(["mtls pgp init --email pki@home.example", "mtls pgp show --json | jq -r .result.publicKey > home-party.asc"]))
    .addHelpText(
      "after",
      exitCodesHelp(["0  created", "3  an invalid --email, unreadable or unusable key to import, wrong passphrase", "4  a signing key exists already"]),
    )
    .action(async (opts: PgpInitOptions) => {
      const result = await runPgpInit(ctx, opts);
      ctx.out.result(result, (r, s) =>
        fields(
          [
            ["signing key", s.bold(r.fingerprint)],
            ["user ID", r.userId],
            ["public key", r.publicKeyPath],
          ],
          s,
        ),
      );
      ctx.out.info("send the public key file to partners, and read them the fingerprint out of band");
    });
}
