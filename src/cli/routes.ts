// Which bundle runs a command line (#21). The commands scripts run most have a bundle of their
// own, holding that command and what it calls: a run reads, deserialises and initialises less
// than the whole CLI (`mtls list`: 0.2 MB of 0.75). Everything else, help at the top, usage
// suggestions and the command reference among it, runs the full bundle, main.js.

/** Global options that take a value: the word after them is not a command. */
const VALUE_OPTIONS = new Set(["--pki", "--store", "--store-password-file"]);

/** The command words of argv (node, script, …), the first `max` of them: options and their values skipped, none after `--`. */
export function commandWords(argv: readonly string[], max: number): string[] {
  const words: string[] = [];
  const args = argv.slice(2);
  for (let i = 0; i < args.length && words.length < max; i++) {
    const a = args[i] as string;
    if (a === "--") break;
    if (!a.startsWith("-")) words.push(a);
    else if (VALUE_OPTIONS.has(a)) i++;
  }
  return words;
}

/** Whether argv asks for the top-level help: a help option and no command word. */
export function topHelp(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  const before = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  return commandWords(argv, 1).length === 0 && before.some((a) => a === "-h" || a === "--help");
}

/** Whether argv asks for the version and nothing else. */
export function bareVersion(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  if (args.includes("--")) return false;
  return commandWords(argv, 1).length === 0 && args.some((a) => a === "-V" || a === "--version") && !args.some((a) => a === "-h" || a === "--help");
}

/**
 * The commands with a bundle of their own: the read-only ones scripts and CI call, and the
 * frequent writes. Each has a module in cli/entries/ named after it ("partner list":
 * partner-list.ts) that registers it alone. The top-level help's registers every command but
 * runs none: its bundle holds their definitions without what their actions load.
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

/** Whether a help option comes before the `n`-th command word: commander then shows the help of the command above it. */
function helpBefore(argv: readonly string[], n: number): boolean {
  let seen = 0;
  const args = argv.slice(2);
  for (let i = 0; i < args.length && seen < n; i++) {
    const a = args[i] as string;
    if (a === "--") return false;
    if (a === "--help" || /^-[a-zA-Z]*h[a-zA-Z]*$/.test(a)) return true; // -h, or -qh: commander splits a cluster
    if (!a.startsWith("-")) seen++;
    else if (VALUE_OPTIONS.has(a)) i++;
  }
  return false;
}

/**
 * The route argv takes: its first two command words, else its first, else the top-level help or
 * a bare --version; undefined for the full bundle. A help option before a route's last word asks
 * for the help of the group above it, which only the full bundle has whole (`partner -h list`).
 */
export function routeOf(argv: readonly string[]): Route | undefined {
  const words = commandWords(argv, 2);
  const known = (r: string) => (ROUTES as readonly string[]).includes(r) && !r.startsWith("--");
  const two = words.join(" ");
  if (words.length === 2 && known(two)) return helpBefore(argv, 2) ? undefined : (two as Route);
  if (words.length > 0) return known(words[0] as string) && !helpBefore(argv, 1) ? (words[0] as Route) : undefined;
  if (topHelp(argv)) return "--help";
  return bareVersion(argv) ? "--version" : undefined;
}
