// Which bundle runs a command line (#21). The commands scripts run most have a bundle of their
// own, holding that command and what it calls: a run reads, deserialises and initialises less
// than the whole CLI (`mtls list`: 0.2 MB of 0.75). Everything else, help at the top, usage
// suggestions and the command reference among it, runs the full bundle, main.js.

/** Global options that take a value: the word after them is not a command. */
const VALUE_OPTIONS = new Set(["--pki", "--store", "--store-password-file"]);

/** What argv holds, as commander will read it, up to a `--`. */
interface ArgvScan {
  /** The command words: options and their values skipped. */
  words: string[];
  /** How many command words precede the first help option (-h, --help, or a cluster with h: -qh); -1 without one. */
  helpAt: number;
  version: boolean;
  /** Whether argv has a `--`: what follows it is an argument, whatever it looks like. */
  dashdash: boolean;
}

export function scanArgv(argv: readonly string[]): ArgvScan {
  const out: ArgvScan = { words: [], helpAt: -1, version: false, dashdash: false };
  const args = argv.slice(2);
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "--") {
      out.dashdash = true;
      break;
    }
    if (!a.startsWith("-")) out.words.push(a);
    else if (VALUE_OPTIONS.has(a)) i++;
    // commander splits a cluster of short options: -qh is -q -h.
    else if (out.helpAt < 0 && (a === "--help" || /^-[a-zA-Z]*h[a-zA-Z]*$/.test(a))) out.helpAt = out.words.length;
    else if (a === "--version" || a === "-V") out.version = true;
  }
  return out;
}

/** Whether argv asks for the version and nothing else. */
export const bareVersion = (s: ArgvScan): boolean => !s.dashdash && s.words.length === 0 && s.version && s.helpAt < 0;

/**
 * The commands with a bundle of their own: the read-only ones scripts and CI call, and the
 * frequent writes. Each has a module in cli/entries/ named after it ("partner list":
 * partner-list.ts) that registers it alone. The top-level help's registers none: its list of
 * commands is the table of them (TOP_COMMANDS).
 */
export const ROUTES = [
  "--help",
  "--version",
  "list",
  "status",
  "audit",
  "inspect",
  "doctor",
  "revoke",
  "ca show",
  "crl show",
  "crl publish",
  "cert show",
  "partner list",
  "partner show",
  "partner issue",
  "partner export",
] as const;
export type Route = (typeof ROUTES)[number];

/** The file a route's bundle is built to, beside main.js. */
export const routeFile = (route: Route): string => `cmd-${route.replace(/^--/, "").replace(" ", "-")}.js`;

/**
 * The route argv takes: its first two command words, else its first, else the top-level help (as
 * text: with --json it is the commands' reference) or a bare --version; undefined for the full
 * bundle. A help option before a route's last word asks for the help of the group above it,
 * which only the full bundle has whole (`partner -h list`).
 */
export function routeOf(argv: readonly string[]): Route | undefined {
  const scan = scanArgv(argv);
  const [first, second] = scan.words;
  const known = (r: string) => (ROUTES as readonly string[]).includes(r) && !r.startsWith("--");
  const helpBefore = (n: number) => scan.helpAt >= 0 && scan.helpAt < n;
  if (second !== undefined && known(`${first} ${second}`)) return helpBefore(2) ? undefined : (`${first} ${second}` as Route);
  if (first !== undefined) return known(first) && !helpBefore(1) ? (first as Route) : undefined;
  // With --json anywhere (the output's own rule, CliContext), help is the commands' reference,
  // which needs their definitions.
  if (scan.helpAt === 0) return argv.includes("--json") ? undefined : "--help";
  return bareVersion(scan) ? "--version" : undefined;
}
