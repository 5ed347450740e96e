import type { Command } from "commander";
import type { ImportToTokenResult } from "../../../../core/index.js";
import type { CliContext } from "../../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts } from "../../../flags.js";
import { fields, type Styles } from "../../../output.js";
import { tokenAccessFor } from "../../../pin.js";
import { openSession } from "../../../whole-core.js";

export interface CaKeyImportToTokenOptions extends PassphraseOpts {
  keyStore: string;
  /** A CA id ("root", "intermediate", "intermediate-2" …) or "all". */
  role?: string;
  removeFileKey?: boolean;
}

function render(r: ImportToTokenResult, s: Styles): string {
  return r.imported
    .map((i) =>
      fields(
        [
          [i.role, s.bold(i.keyUri)],
          ["key file", i.fileRemoved ? `${i.keyPath} (removed)` : `${i.keyPath} (kept)`],
        ],
        s,
      ),
    )
    .join("\n\n");
}

/**
 * `mtls ca key import-to-token`, in-process: the CA keys moved into the token; removing the key
 * files is confirmed first (or --yes from the context).
 */
export async function runCaKeyImportToToken(ctx: CliContext, opts: CaKeyImportToTokenOptions): Promise<ImportToTokenResult> {
  // A token key cannot be exported: once the file is gone, the token (and its backup) is the CA.
  if (opts.removeFileKey)
    await ctx.prompt.confirmOrYes(
      "Remove the CA key files once the token holds the keys? Back the token up first: its keys cannot be exported.",
      ctx.globals.yes,
    );
  const { core, pki } = await openSession(ctx, opts);
  return core.importCaKeyToToken(pki, {
    keyStore: opts.keyStore,
    ...(opts.role !== undefined && opts.role !== "all" ? { roles: [opts.role] } : {}),
    removeFileKey: Boolean(opts.removeFileKey),
    tokens: pki.passphrase?.tokens ?? tokenAccessFor(ctx, opts),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("import-to-token")
    .description("move CA keys from their encrypted files into a PKCS#11 token (non-extractable); the files stay unless --remove-file-key")
    .requiredOption("--key-store <uri>", "the token: an RFC 7512 URI with module-path, e.g. 'pkcs11:token=acme-ca?module-path=/usr/lib/softhsm/libsofthsm2.so'")
    .option(
      "--role <ca>",
      "which CA key: root, intermediate, a CA a rollover made (intermediate-2 …) or all (default: every CA in service whose key is still a file)",
    )
    .option("--remove-file-key", "remove the key files once the token key is recorded and proven to sign");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "MTLS_PKCS11_PIN=... mtls ca key import-to-token --key-store 'pkcs11:token=acme-ca?module-path=/usr/lib/softhsm/libsofthsm2.so'",
        "mtls ca key import-to-token --role root --key-store 'pkcs11:token=offline-root?module-path=/usr/lib/softhsm/libsofthsm2.so' --pin-file pin.txt --remove-file-key --yes",
        "mtls ca key import-to-token --role intermediate-2 --key-store 'pkcs11:token=acme-ca?module-path=/usr/lib/softhsm/libsofthsm2.so' --pin-file pin.txt",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  imported (and the files removed with --remove-file-key)",
        "2  bad URI, PIN on the command line, RSA key, no such CA, no PIN and no terminal, --remove-file-key without --yes and no terminal",
        "3  wrong CA passphrase",
        "4  the key is already in a token, or its CA was retired by a root rollover",
        "5  PKCS#11: module missing, token absent, wrong PIN, mechanism unsupported, or PKCS#11 support not installed",
      ]),
    )
    .action(async (opts: CaKeyImportToTokenOptions) => {
      const result = await runCaKeyImportToToken(ctx, opts);
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, render);
      ctx.out.success(`${result.imported.map((i) => i.role).join(" and ")} CA key${result.imported.length > 1 ? "s" : ""} now in the token`);
    });
}
