// The commander tree as plain data: one description that `--json --help`, shell completion and
// the generated command reference (docs/commands.md) all read, so none of them can drift from
// what the parser accepts.
import type { Command, Option } from "commander";

export interface OptionInfo {
  flags: string;
  long?: string;
  short?: string;
  description: string;
  /** "none" for a switch, "required" for `<value>`, "optional" for `[value]`. */
  value: "none" | "required" | "optional";
  choices?: string[];
  default?: unknown;
}

export interface ArgumentInfo {
  name: string;
  required: boolean;
  variadic: boolean;
  description: string;
}

export interface CommandInfo {
  /** "partner issue"; "" for the root. */
  path: string;
  name: string;
  description: string;
  usage: string;
  arguments: ArgumentInfo[];
  options: OptionInfo[];
  commands: CommandInfo[];
}

function describeOption(o: Option): OptionInfo {
  return {
    flags: o.flags,
    ...(o.long ? { long: o.long } : {}),
    ...(o.short ? { short: o.short } : {}),
    description: o.description,
    value: o.required ? "required" : o.optional ? "optional" : "none",
    ...(o.argChoices ? { choices: [...o.argChoices] } : {}),
    ...(o.defaultValue !== undefined && !o.negate ? { default: o.defaultValue } : {}),
  };
}

/** Describes a command and everything below it; hidden options and the implicit help command are left out. */
export function describeCommand(cmd: Command, parentPath = ""): CommandInfo {
  const path = cmd.parent ? `${parentPath ? `${parentPath} ` : ""}${cmd.name()}` : "";
  const visible = cmd.options.filter((o) => !o.hidden);
  return {
    path,
    name: cmd.name(),
    description: cmd.description(),
    usage: `${["mtls", path].filter(Boolean).join(" ")} ${cmd.usage()}`,
    arguments: cmd.registeredArguments.map((a) => ({ name: a.name(), required: a.required, variadic: a.variadic, description: a.description })),
    options: [...visible.map(describeOption), { flags: "-h, --help", long: "--help", short: "-h", description: "display help for command", value: "none" }],
    commands: cmd.commands.filter((c) => c.name() !== "help").map((c) => describeCommand(c, path)),
  };
}

/** Every command of the tree, depth first, root included. */
export function flattenCommands(info: CommandInfo): CommandInfo[] {
  return [info, ...info.commands.flatMap(flattenCommands)];
}

/** The command a path of words names, or undefined. */
export function findCommand(root: Command, words: string[]): Command | undefined {
  let cmd: Command | undefined = root;
  for (const w of words) {
    cmd = cmd?.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (!cmd) return undefined;
  }
  return cmd;
}

const SWITCHES = new Set(["--json", "-q", "--quiet", "--no-color", "-y", "--yes", "--no-input"]);

/**
 * `mtls help partner issue` and `mtls partner help issue` become `mtls partner issue --help`, so
 * every spelling shows the named command's help and exits 0 (commander's own help command shows
 * only the first level and exits like a usage error when the group has subcommands).
 */
export function rewriteHelpArgv(root: Command, argv: string[]): string[] {
  const head = argv.slice(0, 2);
  const words = argv.slice(2);
  const at = words.indexOf("help");
  if (at < 0) return argv;
  const before = words.slice(0, at);
  // "help" must sit in the command path: only command names and global switches before it (so
  // `--action help` stays an option value).
  if (before.some((w) => w.startsWith("-") && !SWITCHES.has(w))) return argv;
  const names = before.filter((w) => !w.startsWith("-"));
  if (!findCommand(root, names)) return argv;
  const after = words.slice(at + 1);
  const target = after.filter((w) => !w.startsWith("-"));
  // `help nosuch`: without "help" commander names the unknown command and suggests the closest.
  if (target.length && !findCommand(root, [...names, ...target])) return [...head, ...before, ...after];
  return [...head, ...before, ...after, "--help"];
}

/** Every runnable command below `info` ("partner issue", "list", ...): the leaves of the tree. */
export function leafCommands(info: CommandInfo): string[] {
  if (info.commands.length === 0) return info.path ? [info.path] : [];
  return info.commands.flatMap(leafCommands);
}
