// Store selection for every command (#16): `--store` / MTLS_STORE name a directory or a
// PostgreSQL database. For a database, the command's session runs on the database's storage
// directly (SqlStorage): reads query the rows they need, and each pki.transact is one database
// transaction under the store's advisory lock, so the commands themselves do not change.
import type { Command } from "commander";
import { usageError } from "../core/errors.js";
import { INPUT_LIMITS, passphraseFromFile } from "../core/input.js";
import type { StoreLocation } from "../core/store/location.js";
import type { CliContext } from "./context.js";

/** Commands that never read the PKI, or that open the store themselves. */
const NO_STORE = new Set(["demo", "bundle open", "completion", "p12 create", "store init", "store migrate"]);
interface StoreOpts {
  store?: string;
  storePasswordFile?: string;
}

/** The location named by --store / MTLS_STORE, or undefined when neither is set. */
export async function storeLocation(ctx: CliContext, program: Command): Promise<StoreLocation | undefined> {
  return parseStoreOption(ctx, storeOptions(program));
}

/** The global store options as given, and whether --store came from the command line (a password there is refused). */
export function storeOptions(program: Command): StoreOptions {
  const opts = program.opts() as StoreOpts;
  return {
    ...(opts.store ? { store: opts.store, storeFromArgv: program.getOptionValueSource("store") === "cli" } : {}),
    ...(opts.storePasswordFile ? { storePasswordFile: opts.storePasswordFile } : {}),
  };
}

/** --store, --store-password-file as the in-process commands take them (`store init`, `store migrate`). */
export interface StoreOptions {
  store?: string;
  /** --store was typed on the command line (not MTLS_STORE): a password in it is refused. */
  storeFromArgv?: boolean;
  storePasswordFile?: string;
}

export async function parseStoreOption(ctx: CliContext, opts: StoreOptions): Promise<StoreLocation | undefined> {
  if (!opts.store) return undefined;
  const { parseStoreLocation } = await import("../core/store/location.js");
  return parseStoreLocation(opts.store, { cwd: ctx.io.cwd(), fromArgv: Boolean(opts.storeFromArgv) });
}

/** The database password from --store-password-file (first line, as passphrase files are read). */
export async function storePassword(ctx: CliContext, program: Command): Promise<string | undefined> {
  return readStorePassword(ctx, storeOptions(program));
}

export async function readStorePassword(ctx: CliContext, opts: StoreOptions): Promise<string | undefined> {
  const file = opts.storePasswordFile;
  if (!file) return undefined;
  return passphraseFromFile(await ctx.readInput(file, "database password file", INPUT_LIMITS.passphraseFile), file);
}

/**
 * preAction: points ctx at the store. A directory store is --pki by another name; a database
 * store is opened (connected on first use) for the command's session.
 */
export async function openCommandStore(ctx: CliContext, program: Command, path: string): Promise<void> {
  const loc = await storeLocation(ctx, program);
  if (!loc || NO_STORE.has(path)) return;
  // A flag beats the other's environment variable; two of a kind are ambiguous.
  const pkiFrom = program.getOptionValueSource("pki");
  const storeFrom = program.getOptionValueSource("store");
  if (pkiFrom === "cli" && storeFrom === "env") return;
  if (pkiFrom === storeFrom)
    throw usageError("ERR_USAGE", `${pkiFrom === "cli" ? "--store and --pki" : "MTLS_STORE and MTLS_PKI"} both name a store`, "use one of them");
  if (loc.kind === "directory") {
    ctx.globals.pki = loc.path;
    return;
  }
  const { openDatabaseStore } = await import("../core/store/sql/session.js");
  const password = await storePassword(ctx, program);
  ctx.storeSession = openDatabaseStore({ url: loc.url, display: loc.display, ...(password !== undefined ? { password } : {}) });
}

/** After the command and its output: every transaction of the command has committed; its connection ends. */
export async function closeCommandStore(ctx: CliContext): Promise<void> {
  const s = ctx.storeSession;
  ctx.storeSession = undefined;
  await s?.close();
}

/** After a failure: a transaction under way is rolled back (or died with the connection); those before it stay committed. */
export async function rollbackCommandStore(ctx: CliContext): Promise<void> {
  const s = ctx.storeSession;
  ctx.storeSession = undefined;
  await s?.close().catch(() => {});
}
