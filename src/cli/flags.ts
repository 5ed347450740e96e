// Options and helpers shared by several commands.

import { writeSync } from "node:fs";
import { stat } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import { type Command, Option } from "commander";
import type { PassphraseSource } from "../core/ca/material.js";
import { Exit, fsError, inputError, MtlsError, usageError } from "../core/errors.js";
import { checkPassphraseText, INPUT_LIMITS, passphraseFromFile } from "../core/input.js";
import type { Pki } from "../core/session.js";
import { DAY, parseDuration } from "../core/time.js";
import type { CliContext } from "./context.js";
import { addPinOptions, type PinOpts, tokenAccessFor } from "./pin.js";

/** The "Exit codes" block every command's --help ends with. */
export function exitCodesHelp(lines: string[]): string {
  return `Exit codes:\n${lines.map((l) => `  ${l}`).join("\n")}\n  (see \`mtls --help\` for the full list)\n`;
}

export function examplesHelp(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

/** RFC 5280 reasons we offer (certificateHold is not: revocation here is final). */
export const REASONS = ["unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded", "cessationOfOperation", "privilegeWithdrawn"];

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * A validity in whole days, in the duration syntax every other option takes ("30d", "4w", "720h");
 * a bare number keeps meaning days.
 */
export function parseDays(value: string): number {
  let ms: number;
  try {
    ms = parseDuration(value, "number of days");
  } catch {
    throw usageError("ERR_USAGE", `invalid number of days "${value}"`, "use whole days, e.g. --days 90, 90d or 12w");
  }
  const days = ms / DAY;
  if (!Number.isInteger(days)) throw usageError("ERR_USAGE", `invalid number of days "${value}": not a whole number of days`, "use e.g. 90, 90d or 12w");
  return days;
}

/** A TCP port to listen on: 0 to 65535, where 0 lets the system pick a free one. */
export function parsePort(value: string, flag = "--port"): number {
  const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port <= 65535)) throw usageError("ERR_USAGE", `invalid ${flag} "${value}"`, `use a number from 0 to 65535 (0 picks a free port), e.g. ${flag} 8080`);
  return port;
}

/**
 * Runs a check that values read from files (a batch line, a CSR) share on a flag's value: there a
 * bad value is an input error (exit 3), on the command line it is a usage error (exit 2).
 */
export function flagValue<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof MtlsError && err.exit === Exit.INPUT) throw new MtlsError(err.code, err.message, Exit.USAGE, err.hint, { cause: err.cause });
    throw err;
  }
}

/**
 * --crl-publish-dir, refused when it names something other than a directory: otherwise every later
 * publication would end in a copy warning. A directory that does not exist yet is accepted.
 */
export async function checkPublishDir(dir: string): Promise<void> {
  const st = await stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw usageError("ERR_USAGE", `--crl-publish-dir ${dir} is not a directory`, "name the directory the CRLs are copied into");
}

/** --passphrase-file, plus a hidden --passphrase that exists only to refuse politely. */
export function addPassphraseOptions(cmd: Command): Command {
  return addPinOptions(
    cmd
      .option("--passphrase-file <file>", "read the CA key passphrase from the first line of <file> (or set MTLS_CA_PASSPHRASE)")
      .addOption(new Option("--passphrase <value>").hideHelp()),
  );
}

export interface PassphraseOpts extends PinOpts {
  passphraseFile?: string;
  passphrase?: string;
}

function refuseArgv(opts: PassphraseOpts): void {
  if (opts.passphrase !== undefined) {
    throw usageError(
      "ERR_PASSPHRASE_ARGV",
      "passphrases are not accepted on the command line (other users can read them in the process list and your shell history)",
      "set MTLS_CA_PASSPHRASE or pass --passphrase-file <file>",
    );
  }
}

async function readPassphraseFile(ctx: CliContext, file: string): Promise<string> {
  if (file !== "-") {
    const st = await stat(ctx.resolvePath(file)).catch((err) => Promise.reject(fsError(err, file, "read passphrase file")));
    if (st.mode & 0o077) ctx.out.warn(`${file} is readable by other users; chmod 600 it`);
  }
  return passphraseFromFile(await ctx.readInput(file, "passphrase file", INPUT_LIMITS.passphraseFile), file);
}

/** One secret's sources, in the order every passphrase is looked for. */
export interface SecretSources {
  /** --passphrase-file (or the command's equivalent), as given. */
  file?: string | undefined;
  /** The environment variable that may hold it. */
  envVar: string;
  /** Asks a person on a terminal. */
  ask: () => Promise<string>;
  /** The error when there is no file, no variable and no terminal. */
  missing: { message: string; hint: string };
}

/**
 * The shared passphrase sourcing: the file, then the environment variable, then a prompt on a
 * terminal; a usage error otherwise. Returned as a source so the secret is only asked for when
 * it is needed, and asked at most once.
 */
export function secretSource(ctx: CliContext, s: SecretSources): PassphraseSource {
  let cached: Promise<string> | undefined;
  const source = () => {
    cached ??= (async () => {
      if (s.file) return readPassphraseFile(ctx, s.file);
      const env = ctx.env[s.envVar];
      if (env !== undefined && env !== "") return checkPassphraseText(env, s.envVar);
      if (ctx.prompt.interactive) return s.ask();
      throw usageError("ERR_PASSPHRASE_REQUIRED", s.missing.message, s.missing.hint);
    })();
    return cached;
  };
  const env = ctx.env[s.envVar];
  return Object.assign(source, { unattended: Boolean(s.file) || (env !== undefined && env !== "") });
}

/**
 * Where the CA passphrase comes from: --passphrase-file, MTLS_CA_PASSPHRASE, a prompt on a
 * terminal. `session` is the PKI whose CA key a typed passphrase is checked against.
 */
export function passphraseSource(ctx: CliContext, opts: PassphraseOpts, session: () => Promise<Pki>): PassphraseSource {
  refuseArgv(opts);
  const source = secretSource(ctx, {
    file: opts.passphraseFile,
    envVar: "MTLS_CA_PASSPHRASE",
    ask: async () => askCaPassphrase(ctx, await session()),
    missing: { message: "the CA key is encrypted and no passphrase was given", hint: "set MTLS_CA_PASSPHRASE or pass --passphrase-file <file>" },
  });
  // CA keys in a PKCS#11 token are reached through the same source (see PassphraseSource).
  return Object.assign(source, { tokens: tokenAccessFor(ctx, opts) });
}

const PASSPHRASE_ATTEMPTS = 3;

/**
 * The CA passphrase from a person: checked against the issuing key as soon as it is typed and asked
 * again after a typo, a bounded number of times (a script gets its single wrong answer as exit 3).
 */
async function askCaPassphrase(ctx: CliContext, pki: Pki): Promise<string> {
  // A progress line may be on screen without a newline: the prompt starts on a line of its own.
  ctx.out.progress("");
  const core = await import("../core/ca/passphrase-check.js");
  for (let attempt = 1; ; attempt++) {
    const passphrase = await ctx.prompt.password("CA key passphrase:");
    if (await core.verifyCaPassphrase(pki, passphrase)) return passphrase;
    const left = PASSPHRASE_ATTEMPTS - attempt;
    if (left === 0)
      throw inputError("ERR_PASSPHRASE_WRONG", `wrong CA key passphrase (${PASSPHRASE_ATTEMPTS} attempts)`, "check the passphrase and run the command again");
    ctx.io.stderr.write(`${ctx.out.err.bad("wrong passphrase")}, ${left} attempt${left === 1 ? "" : "s"} left\n`);
  }
}

/** A new passphrase (ca init): from the same sources, asked twice on a terminal. */
export async function newPassphrase(ctx: CliContext, opts: PassphraseOpts, minLength: number): Promise<string> {
  refuseArgv(opts);
  if (opts.passphraseFile) return readPassphraseFile(ctx, opts.passphraseFile);
  const env = ctx.env.MTLS_CA_PASSPHRASE;
  if (env !== undefined && env !== "") return checkPassphraseText(env, "MTLS_CA_PASSPHRASE");
  if (!ctx.prompt.interactive) {
    throw usageError(
      "ERR_PASSPHRASE_REQUIRED",
      "no passphrase to encrypt the CA keys with",
      "set MTLS_CA_PASSPHRASE or pass --passphrase-file <file> (or --insecure-no-passphrase, not recommended)",
    );
  }
  const first = await ctx.prompt.password("New CA key passphrase:", (v) => (v.length >= minLength ? true : `at least ${minLength} characters`));
  const again = await ctx.prompt.password("Repeat the passphrase:");
  if (first !== again) throw inputError("ERR_PASSPHRASE_MISMATCH", "the two passphrases differ", "run the command again");
  return first;
}

/** Who the audit log names: MTLS_ACTOR, or user@host. */
export function actor(): string {
  if (process.env.MTLS_ACTOR) return process.env.MTLS_ACTOR;
  let user = process.env.USER ?? process.env.LOGNAME;
  try {
    user ??= userInfo().username;
  } catch {}
  return `${user ?? "unknown"}@${hostname()}`;
}

/**
 * The session of a command that writes, like openSession, with the session module alone: the
 * command loads the core module it calls, not the whole core (#21: the core's index brings in
 * every module, the gateway and demo servers' http and https among them, ~20 ms).
 */
export async function openWriteSession(ctx: CliContext, opts: PassphraseOpts, o: { recover?: boolean } = {}): Promise<Pki> {
  const { openPki } = await import("../core/session.js");
  return openPkiOf(ctx, openPki, opts, { recover: o.recover ?? true });
}

/**
 * The session of a command that only reads (list, status, show): no passphrase, and no lock,
 * since it runs no transaction. Loads the session module alone, not the whole core (#21).
 * It finishes no change a crash interrupted (only a writer may), so it warns that what it shows
 * may be half of one; `status` reports that as a problem of its own instead (`interrupted: false`).
 */
export async function openReadSession(ctx: CliContext, o: { clock?: boolean; interrupted?: false } = {}): Promise<Pki> {
  const { openPki } = await import("../core/session.js");
  const pki = await openPkiOf(ctx, openPki, undefined, o);
  const pending = o.interrupted === false ? undefined : pki.interruptedCommit();
  if (pending)
    ctx.out.warn(
      `a change a crash interrupted is still pending (${pending}): what this shows may be half of it; run \`mtls doctor --fix\` to finish or undo it`,
    );
  return pki;
}

export async function openPkiOf(
  ctx: CliContext,
  openPki: typeof import("../core/session.js").openPki,
  opts: PassphraseOpts | undefined,
  o: { clock?: boolean; recover?: boolean },
): Promise<Pki> {
  const hook = durableStepHook();
  let opened: Pki | undefined;
  // The prompt checks each answer against the key of the session being opened.
  const passphrase = opts ? passphraseSource(ctx, opts, async () => opened as Pki) : undefined;
  // A database store: the session runs on its storage directly (#16).
  const location = ctx.storeSession ? ctx.storeSession.storage(hook ? { onDurableStep: hook } : {}) : ctx.pkiDir;
  opened = await openPki(location, {
    now: o.clock ? () => ctx.now() : ctx.now(),
    actor,
    ...(passphrase ? { passphrase } : {}),
    ...(hook ? { onDurableStep: hook } : {}),
    ...(o.recover ? { recover: true } : {}),
  });
  return opened;
}

/** Resolves on Ctrl-C or SIGTERM: how the long-running servers (gateway, revocation) stop. */
export function untilStopped(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
}

/**
 * Test-only: MTLS_TEST_CRASH_AT=N kills the process with SIGKILL just before its Nth durable
 * write, so the crash-point test can stop a command at every one in turn (`trace` lists them on
 * stderr instead). Honoured only when MTLS_TEST_HOOKS=1 is set as well, so a stray variable
 * cannot make a real run crash.
 */
let crashHook: ((what: string, path: string) => void) | undefined;
function durableStepHook(): ((what: string, path: string) => void) | undefined {
  const spec = process.env.MTLS_TEST_CRASH_AT;
  const at = Number(spec);
  if (process.env.MTLS_TEST_HOOKS !== "1" || (spec !== "trace" && (!Number.isSafeInteger(at) || at < 1))) return undefined;
  if (crashHook) return crashHook;
  let n = 0;
  crashHook = (what, path) => {
    n++;
    if (spec === "trace") writeSync(2, `mtls-test-step: ${n} (${what} ${path})\n`);
    if (n !== at) return;
    writeSync(2, `mtls-test-crash: step ${n} (${what} ${path})\n`);
    process.kill(process.pid, "SIGKILL");
  };
  return crashHook;
}
