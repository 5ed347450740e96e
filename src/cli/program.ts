import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Help, Option } from "commander";
import type { CliContext, GlobalOptions } from "./context.js";
import { bareVersion, scanArgv } from "./routes.js";
import { openCommandStore } from "./store-session.js";

/** mtls's own package.json, found from wherever this module runs (dist/src/… or dist/bundle/). */
function readVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++, dir = dirname(dir)) {
    const p = join(dir, "package.json");
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, "utf8")) as { name?: string; version: string };
      if (pkg.name === "mtls") return pkg.version;
    }
  }
  return "0.0.0";
}
export const VERSION = readVersion();

const EXIT_CODES = `
Exit codes:
  0    success (for probe and status: every check passed)
  1    a check said no (probe expectation not met, status found problems)
  2    usage: a flag, its value or an argument is bad, missing or conflicting; confirmation needed and nothing may ask
  3    input: invalid CSR, certificate, key, passphrase or profile, or a bad value read from a file; refused by policy
  4    conflict: the CA or file already exists, the certificate is already revoked
  5    environment: no PKI here, permissions, disk, lock held, host unreachable, tool missing
  70   internal error (a bug: please report it with MTLS_DEBUG=1 output)
  130  cancelled (Ctrl-C, or "no" at a prompt)
`;

/** "partner issue" for the command that runs (the `command` field of --json output). */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** Best guess of the command path from argv, for errors raised before an action runs. */
export function guessCommand(program: Command, argv: string[]): string {
  let cmd = program;
  const names: string[] = [];
  for (const word of argv.slice(2)) {
    if (word.startsWith("-")) continue;
    const sub = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(" ");
}

/**
 * The top-level command argv invokes, when building only it is safe: a known name (not help or
 * completion, which read the whole tree); "" for a bare --version; undefined otherwise.
 */
export function invokedCommand(argv: readonly string[]): string | undefined {
  const scan = scanArgv(argv);
  const [first] = scan.words;
  if (first === undefined) return bareVersion(scan) ? "" : undefined;
  return TOP_COMMANDS.some((t) => t.name === first) && first !== "completion" ? first : undefined;
}

/**
 * A top-level command or group: its name, its description, and its term in the top-level help
 * (its name, "[options]" when it has any, its arguments), as its own definition gives them (a
 * unit test compares them).
 */
export interface TopCommand {
  name: string;
  description: string;
  term: string;
}

/**
 * Builds one top-level command, given the table's description. A run's registry may hold only
 * the command its bundle was built for (#21: a bundle per frequent command); commander needs no
 * more than a name and a description of the others.
 */
export type Register = (program: Command, ctx: CliContext, description: string) => void;
export type Registry = Readonly<Partial<Record<string, Register>>>;

/** A command's own registration under its parent. */
type Leaf = (parent: Command, ctx: CliContext) => void;

/** A group of commands (`crl`: publish, show) built from its leaves, in the order of its help. */
export const group =
  (name: string, ...leaves: Leaf[]): Register =>
  (program, ctx, description) => {
    const g = program.command(name).description(description);
    for (const leaf of leaves) leaf(g, ctx);
  };

/** Every top-level command and group, in the order of `mtls --help`. */
export const TOP_COMMANDS: readonly TopCommand[] = [
  {
    name: "demo",
    description: "run the whole partner lifecycle on this machine: CA, two partners, bundle, gateway, probe, offboarding",
    term: "demo [options]",
  },
  { name: "ca", description: "create and inspect the private CA", term: "ca" },
  { name: "partner", description: "register partners, issue and deliver their certificates, offboard them", term: "partner" },
  { name: "revoke", description: "revoke a partner certificate and publish a fresh CRL", term: "revoke [options] <serial>" },
  { name: "crl", description: "publish and inspect certificate revocation lists", term: "crl" },
  { name: "revocation", description: "revocation over HTTP: CRL distribution point and OCSP responder", term: "revocation" },
  { name: "list", description: "inventory of issued certificates with status and days left", term: "list [options]" },
  { name: "cert", description: "one issued certificate by serial", term: "cert" },
  { name: "status", description: "health gate for CI: CA expiry, partners due or locked out, CRL freshness", term: "status [options]" },
  { name: "audit", description: "the tamper-evident audit log of every state-changing action", term: "audit [options]" },
  {
    name: "doctor",
    description: "check the store against itself: records, certificates, keys, revocations, CRLs, the publish directory, file modes, lock, audit chain",
    term: "doctor [options]",
  },
  {
    name: "probe",
    description: "prove a gateway accepts a valid client certificate and rejects missing, untrusted, expired, revoked and wrong-purpose ones",
    term: "probe [options] <url...>",
  },
  {
    name: "report",
    description: "write a self-contained HTML report: partners and their state, expiry timeline, CRL freshness, last probes, audit chain",
    term: "report [options]",
  },
  {
    name: "notify",
    description: "send renewal reminders and locked-out, overlap-ending and stalled-rotation notices to partners and operators (e-mail, webhook)",
    term: "notify [options]",
  },
  { name: "gateway", description: "the gateway side: configuration from the PKI, and an embedded mTLS gateway", term: "gateway" },
  { name: "pgp", description: "the home party's OpenPGP key that signs delivery bundles", term: "pgp" },
  { name: "bundle", description: "the partner's side of a delivery bundle", term: "bundle" },
  {
    name: "completion",
    description: "print a shell completion script (commands, options, partner ids and serials from the PKI)",
    term: "completion [options] [shell]",
  },
  { name: "p12", description: "PKCS#12 files for Java, Windows and macOS", term: "p12" },
  { name: "server", description: "the gateways' own TLS server certificates", term: "server" },
  {
    name: "inspect",
    description: "show what a certificate, chain, CSR, CRL, private key, PKCS#12 or delivery bundle holds (PEM or DER), with lints",
    term: "inspect [options] <file>",
  },
  { name: "store", description: "where the PKI lives: a directory or a PostgreSQL database shared by a team", term: "store" },
];

/** Commander's rule for colour in help: NO_COLOR and FORCE_COLOR first, else a terminal that has it. */
function hasColors(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR || env.FORCE_COLOR === "0" || env.FORCE_COLOR === "false") return false;
  if (env.FORCE_COLOR || env.CLICOLOR_FORCE !== undefined) return true;
  return stream.isTTY && Boolean(stream.hasColors?.());
}

export function createProgram(ctx: CliContext, registry: Registry): Command {
  const program = new Command("mtls");
  // Both settings must be in place before any subcommand exists: commander copies them into a
  // subcommand when .command() creates it.
  program
    .exitOverride()
    .configureOutput({
      // With --json, help and version text become part of the one JSON document main writes.
      writeOut: (s) => (ctx.globals.json ? ctx.out.capture(s) : ctx.io.stdout.write(s)),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: () => {}, // main renders every error, in text or JSON
      // As commander's own, asked of the command's streams: asking process.stdout built Node's
      // stream for it, ~2 ms of `mtls --help` into a pipe (#21).
      getOutHasColors: () => hasColors(ctx.io.stdout, ctx.io.env),
      getErrHasColors: () => hasColors(ctx.io.stderr, ctx.io.env),
      // Undefined (not a terminal): commander's default width, as its own function answers.
      getOutHelpWidth: () => (ctx.io.stdout.isTTY ? ctx.io.stdout.columns : undefined) as number,
      getErrHelpWidth: () => (ctx.io.stderr.isTTY ? ctx.io.stderr.columns : undefined) as number,
    })
    .showSuggestionAfterError(true);

  program
    .description("Private CA and partner certificate lifecycle for mutual-TLS API gateways")
    .version(VERSION, "-V, --version", "print the version")
    .addOption(new Option("--pki <dir>", "PKI directory").env("MTLS_PKI").default("pki"))
    .addOption(new Option("--store <url>", "the store: a directory, file:<dir> or postgres://user@host:5432/db (instead of --pki)").env("MTLS_STORE"))
    .addOption(
      new Option("--store-password-file <file>", "the database password, first line of <file> (or PGPASSWORD, ~/.pgpass)").env("MTLS_STORE_PASSWORD_FILE"),
    )
    .option("--json", "write one JSON document to stdout (no colour, no prompts)")
    .option("-q, --quiet", "print only results, warnings and errors")
    .option("--no-color", "no colour (also NO_COLOR=1)")
    .option("-y, --yes", "answer yes to confirmations")
    .option("--no-input", "never prompt; fail on missing values instead")
    .addHelpText("after", EXIT_CODES)
    .hook("preAction", (_root, action) => {
      ctx.applyGlobals(action.optsWithGlobals() as GlobalOptions);
      ctx.out.command = commandPath(action);
    })
    .hook("preAction", (_root, action) => openCommandStore(ctx, program, commandPath(action)));

  // Only the invoked command is built (#21): the others are a name and a description, which is
  // all commander needs of them to run one command. A run naming no known command builds what
  // its registry holds, everything in the full bundle, so suggestions and the reference stay
  // exactly as they were. The top-level help's registry holds nothing: the table's terms stand
  // in for what the commands' definitions would give its list of commands.
  const only = invokedCommand(ctx.io.argv);
  const stubs = new Map<Command, string>();
  for (const t of TOP_COMMANDS) {
    const register = only === undefined || only === t.name ? registry[t.name] : undefined;
    if (register) register(program, ctx, t.description);
    else stubs.set(program.command(t.name).description(t.description), t.term);
  }
  program.configureHelp({
    subcommandTerm(this: Help, cmd: Command): string {
      return stubs.get(cmd) ?? Help.prototype.subcommandTerm.call(this, cmd);
    },
  });

  ctx.out.command = guessCommand(program, ctx.io.argv);
  return program;
}
