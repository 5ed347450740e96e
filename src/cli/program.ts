import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Option } from "commander";
import * as audit from "./commands/audit.js";
import * as bundleOpen from "./commands/bundle/open.js";
import * as caInit from "./commands/ca/init.js";
import * as caKeyImportToToken from "./commands/ca/key/import-to-token.js";
import * as caPolicySet from "./commands/ca/policy/set.js";
import * as caRolloverIntermediate from "./commands/ca/rollover/intermediate.js";
import * as caRolloverRootFinish from "./commands/ca/rollover/root-finish.js";
import * as caRolloverRootStart from "./commands/ca/rollover/root-start.js";
import * as caRolloverStatus from "./commands/ca/rollover/status.js";
import * as caShow from "./commands/ca/show.js";
import * as certShow from "./commands/cert/show.js";
import * as completion from "./commands/completion.js";
import * as crlPublish from "./commands/crl/publish.js";
import * as crlShow from "./commands/crl/show.js";
import * as demo from "./commands/demo.js";
import * as doctor from "./commands/doctor.js";
import * as gatewayConfig from "./commands/gateway/config.js";
import * as gatewayServe from "./commands/gateway/serve.js";
import * as inspect from "./commands/inspect.js";
import * as list from "./commands/list.js";
import * as notify from "./commands/notify.js";
import * as p12Create from "./commands/p12/create.js";
import * as partnerAdd from "./commands/partner/add.js";
import * as partnerExport from "./commands/partner/export.js";
import * as partnerIdentityRelease from "./commands/partner/identity/release.js";
import * as partnerIssue from "./commands/partner/issue.js";
import * as partnerList from "./commands/partner/list.js";
import * as partnerOffboard from "./commands/partner/offboard.js";
import * as partnerOnboard from "./commands/partner/onboard.js";
import * as partnerRotate from "./commands/partner/rotate.js";
import * as partnerShow from "./commands/partner/show.js";
import * as pgpInit from "./commands/pgp/init.js";
import * as pgpShow from "./commands/pgp/show.js";
import * as probe from "./commands/probe.js";
import * as report from "./commands/report.js";
import * as revocationServe from "./commands/revocation/serve.js";
import * as revoke from "./commands/revoke.js";
import * as serverIssue from "./commands/server/issue.js";
import * as status from "./commands/status.js";
import * as storeInit from "./commands/store/init.js";
import * as storeMigrate from "./commands/store/migrate.js";
import type { CliContext, GlobalOptions } from "./context.js";
import { commitCommandStore, openCommandStore } from "./store-session.js";

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
  2    usage: a flag or argument is bad, missing or conflicting; confirmation needed without a terminal
  3    input: invalid CSR, certificate, key, SAN, passphrase or profile; refused by policy
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

/** Global options that take a value: the word after them is not a command. */
const VALUE_OPTIONS = new Set(["--pki", "--store", "--store-password-file"]);

/**
 * The top-level command argv invokes, when building only it is safe: a known name (not help or
 * completion, which read the whole tree); "" for a bare --version; undefined otherwise.
 */
export function invokedCommand(argv: readonly string[]): string | undefined {
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") return undefined;
    if (a.startsWith("-")) {
      if (VALUE_OPTIONS.has(a)) i++;
      continue;
    }
    return TOP_COMMANDS.some((t) => t.name === a) && a !== "completion" ? a : undefined;
  }
  return args.some((a) => a === "-V" || a === "--version") && !args.some((a) => a === "-h" || a === "--help") ? "" : undefined;
}

interface TopCommand {
  name: string;
  /** Its description, as its own definition gives it (a unit test compares them). */
  description: string;
  register(program: Command, ctx: CliContext): void;
}

/** Every top-level command and group, in the order of `mtls --help`. */
export const TOP_COMMANDS: readonly TopCommand[] = [
  {
    name: "demo",
    description: "run the whole partner lifecycle on this machine: CA, two partners, bundle, gateway, probe, offboarding",
    register: (program, ctx) => demo.register(program, ctx),
  },
  {
    name: "ca",
    description: "create and inspect the private CA",
    register(program, ctx) {
      const ca = program.command("ca").description(this.description);
      caInit.register(ca, ctx);
      caShow.register(ca, ctx);
      caPolicySet.register(ca.command("policy").description("the CA's policy: revocation URLs, CRL publishing, validity limits"), ctx);
      const rollover = ca.command("rollover").description("renew the intermediate or roll the root over without locking a partner out");
      caRolloverIntermediate.register(rollover, ctx);
      const rolloverRoot = rollover.command("root").description("root rollover: start (dual trust), finish (old root out)");
      caRolloverRootStart.register(rolloverRoot, ctx);
      caRolloverRootFinish.register(rolloverRoot, ctx);
      caRolloverStatus.register(rollover, ctx);
      caKeyImportToToken.register(ca.command("key").description("where the CA keys live: files or a PKCS#11 token"), ctx);
    },
  },
  {
    name: "partner",
    description: "register partners, issue and deliver their certificates, offboard them",
    register(program, ctx) {
      const partner = program.command("partner").description(this.description);
      partnerOnboard.register(partner, ctx);
      partnerAdd.register(partner, ctx);
      partnerIssue.register(partner, ctx);
      partnerExport.register(partner, ctx);
      partnerList.register(partner, ctx);
      partnerShow.register(partner, ctx);
      partnerOffboard.register(partner, ctx);
      partnerRotate.register(partner, ctx);
      partnerIdentityRelease.register(partner.command("identity").description("the identities (CN, SANs) a partner owns"), ctx);
    },
  },
  { name: "revoke", description: "revoke a partner certificate and publish a fresh CRL", register: (program, ctx) => revoke.register(program, ctx) },
  {
    name: "crl",
    description: "publish and inspect certificate revocation lists",
    register(program, ctx) {
      const crl = program.command("crl").description(this.description);
      crlPublish.register(crl, ctx);
      crlShow.register(crl, ctx);
    },
  },
  {
    name: "revocation",
    description: "revocation over HTTP: CRL distribution point and OCSP responder",
    register(program, ctx) {
      revocationServe.register(program.command("revocation").description(this.description), ctx);
    },
  },
  { name: "list", description: "inventory of issued certificates with status and days left", register: (program, ctx) => list.register(program, ctx) },
  {
    name: "cert",
    description: "one issued certificate by serial",
    register(program, ctx) {
      certShow.register(program.command("cert").description(this.description), ctx);
    },
  },
  {
    name: "status",
    description: "health gate for CI: CA expiry, partners due or locked out, CRL freshness",
    register: (program, ctx) => status.register(program, ctx),
  },
  { name: "audit", description: "the tamper-evident audit log of every state-changing action", register: (program, ctx) => audit.register(program, ctx) },
  {
    name: "doctor",
    description: "check the store against itself: records, certificates, keys, revocations, CRLs, the publish directory, file modes, lock, audit chain",
    register: (program, ctx) => doctor.register(program, ctx),
  },
  {
    name: "probe",
    description: "prove a gateway accepts a valid client certificate and rejects missing, untrusted, expired, revoked and wrong-purpose ones",
    register: (program, ctx) => probe.register(program, ctx),
  },
  {
    name: "report",
    description: "write a self-contained HTML report: partners and their state, expiry timeline, CRL freshness, last probes, audit chain",
    register: (program, ctx) => report.register(program, ctx),
  },
  {
    name: "notify",
    description: "send renewal reminders, locked-out and overlap-ending notices to partners and operators (e-mail, webhook)",
    register: (program, ctx) => notify.register(program, ctx),
  },
  {
    name: "gateway",
    description: "the gateway side: configuration from the PKI, and an embedded mTLS gateway",
    register(program, ctx) {
      const gateway = program.command("gateway").description(this.description);
      gatewayConfig.register(gateway, ctx);
      gatewayServe.register(gateway, ctx);
    },
  },
  {
    name: "pgp",
    description: "the home party's OpenPGP key that signs delivery bundles",
    register(program, ctx) {
      const pgp = program.command("pgp").description(this.description);
      pgpInit.register(pgp, ctx);
      pgpShow.register(pgp, ctx);
    },
  },
  {
    name: "bundle",
    description: "the partner's side of a delivery bundle",
    register(program, ctx) {
      bundleOpen.register(program.command("bundle").description(this.description), ctx);
    },
  },
  {
    name: "completion",
    description: "print a shell completion script (commands, options, partner ids and serials from the PKI)",
    register: (program, ctx) => completion.register(program, ctx),
  },
  {
    name: "p12",
    description: "PKCS#12 files for Java, Windows and macOS",
    register(program, ctx) {
      p12Create.register(program.command("p12").description(this.description), ctx);
    },
  },
  {
    name: "server",
    description: "the gateways' own TLS server certificates",
    register(program, ctx) {
      serverIssue.register(program.command("server").description(this.description), ctx);
    },
  },
  {
    name: "inspect",
    description: "show what a certificate, chain, CSR, CRL, private key, PKCS#12 or delivery bundle holds (PEM or DER), with lints",
    register: (program, ctx) => inspect.register(program, ctx),
  },
  {
    name: "store",
    description: "where the PKI lives: a directory or a PostgreSQL database shared by a team",
    register(program, ctx) {
      const store = program.command("store").description(this.description);
      storeInit.register(store, ctx);
      storeMigrate.register(store, ctx);
    },
  },
];

export function createProgram(ctx: CliContext): Command {
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
    .hook("preAction", (_root, action) => openCommandStore(ctx, program, commandPath(action)))
    .hook("postAction", () => commitCommandStore(ctx));

  // Only the invoked command is built (#21): the others are a name and a description, which is
  // all commander needs of them to run one command. Help at the top, and a run naming no known
  // command, build everything, so help, suggestions and the reference stay exactly as they were.
  const only = invokedCommand(ctx.io.argv);
  for (const t of TOP_COMMANDS) {
    if (only === undefined || only === t.name) t.register(program, ctx);
    else program.command(t.name).description(t.description);
  }

  ctx.out.command = guessCommand(program, ctx.io.argv);
  return program;
}
