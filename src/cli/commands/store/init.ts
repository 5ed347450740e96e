import type { Command } from "commander";
import { usageError } from "../../../core/errors.js";
import type { CliContext } from "../../context.js";
import { examplesHelp, exitCodesHelp } from "../../flags.js";
import { fields, type Styles } from "../../output.js";
import { parseStoreOption, readStorePassword, type StoreOptions, storeOptions } from "../../store-session.js";

export interface StoreInitResult {
  store: string;
  from: number;
  to: number;
  applied: Array<{ version: number; description: string }>;
}

function render(r: StoreInitResult, s: Styles): string {
  const what = r.applied.length === 0 ? `schema ${r.to} is current` : r.from === 0 ? `schema ${r.to} created` : `schema upgraded from ${r.from} to ${r.to}`;
  return `${s.ok("✔")} ${what}\n${fields(
    [
      ["store", r.store],
      ["schema", r.to],
    ],
    s,
  )}`;
}

/** `mtls store init`, in-process: the database store's schema, created or upgraded (a usage error for a directory store). */
export async function runStoreInit(ctx: CliContext, opts: StoreOptions): Promise<StoreInitResult> {
  const loc = await parseStoreOption(ctx, opts);
  if (loc?.kind !== "postgres")
    throw usageError(
      "ERR_USAGE",
      "store init needs a database: --store postgres://… (or MTLS_STORE)",
      "a directory store needs no set-up: `mtls ca init` creates it",
    );
  const password = await readStorePassword(ctx, opts);
  const { initSqlStore } = await import("../../../core/store/sql/session.js");
  return initSqlStore({ url: loc.url, display: loc.display, ...(password !== undefined ? { password } : {}) });
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("init")
    .description("create or upgrade the database store's schema (commands also do it on first use)")
    .addHelpText(
      "after",
      examplesHelp([
        "PGPASSWORD=… mtls store init --store postgres://mtls@db.example:5432/mtls",
        "mtls store init --store 'postgres://mtls@db.example/mtls?sslmode=verify-full&sslrootcert=db-ca.pem'",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  the schema is current (created or upgraded if needed)",
        "2  no --store, or --store is not a database",
        "5  database unreachable, login or TLS refused, schema newer than this mtls",
      ]),
    )
    .action(async (_opts: unknown, cmd: Command) => {
      ctx.out.result(await runStoreInit(ctx, storeOptions(cmd.parent?.parent as Command)), render);
    });
}
