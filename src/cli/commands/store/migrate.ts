import { tmpdir } from "node:os";
import type { Command } from "commander";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp } from "../../flags.js";
import { fields, type Styles } from "../../output.js";
import { readStorePassword, type StoreOptions, storeOptions } from "../../store-session.js";

export interface StoreMigrateResult {
  from: string;
  to: string;
  files: number;
  certificates: number;
  auditRecords: number;
}

function render(r: StoreMigrateResult, s: Styles): string {
  return `${s.ok("✔")} store copied\n${fields(
    [
      ["from", r.from],
      ["to", r.to],
      ["files", r.files],
      ["certificates", r.certificates],
      ["audit records", r.auditRecords],
    ],
    s,
  )}`;
}

export interface StoreMigrateOptions extends Pick<StoreOptions, "storePasswordFile"> {
  /** The store to copy: a directory or postgres://… */
  from: string;
  /** An empty database, or a new or empty directory. */
  to: string;
}

/** `mtls store migrate`, in-process: the PKI copied byte for byte between a directory and a database. */
export async function runStoreMigrate(ctx: CliContext, opts: StoreMigrateOptions): Promise<StoreMigrateResult> {
  const { parseStoreLocation } = await import("../../../core/store/location.js");
  const { migrateStore } = await import("../../../core/store/sql/migrate.js");
  const at = { cwd: ctx.io.cwd(), fromArgv: true };
  const password = await readStorePassword(ctx, opts);
  return migrateStore({
    from: parseStoreLocation(opts.from, at),
    to: parseStoreLocation(opts.to, at),
    tmpRoot: tmpdir(),
    ...(password !== undefined ? { password } : {}),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("migrate")
    .description("copy a PKI between a directory and a database store, both ways, byte for byte (the directory form is the backup)")
    .requiredOption("--from <store>", "the store to copy: a directory or postgres://…")
    .requiredOption("--to <store>", "an empty database, or a new or empty directory")
    .addHelpText(
      "after",
      examplesHelp([
        "mtls store migrate --from ./pki --to postgres://mtls@db.example:5432/mtls",
        "mtls store migrate --from postgres://mtls@db.example:5432/mtls --to ./backup-$(date +%F)",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  copied",
        "2  both sides are directories or both databases; a password in --from/--to",
        "4  the destination already holds a PKI (nothing is merged)",
        "5  no PKI at --from; database unreachable, login or TLS refused",
      ]),
    )
    .action(async (opts: { from: string; to: string }, cmd: Command) => {
      ctx.out.result(await runStoreMigrate(ctx, { ...opts, ...storeOptions(cmd.parent?.parent as Command) }), render);
    });
}
