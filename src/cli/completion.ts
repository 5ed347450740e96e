// Shell completion scripts generated from the command tree, so a new command or option completes
// without anyone editing a script. Partner ids and serials come from the PKI at completion time
// through `mtls completion --list partners|serials` (one small file read; nothing when there is no PKI).
import type { CommandInfo, OptionInfo } from "./command-tree.js";
import { flattenCommands } from "./command-tree.js";

export const SHELLS = ["bash", "zsh", "fish"] as const;
export type Shell = (typeof SHELLS)[number];

/** What the value of an option or argument completes to. */
type ValueKind = { choices: string[] } | "file" | "dir" | "partners" | "serials" | "none";

function optionValueKind(o: OptionInfo): ValueKind {
  if (o.value === "none") return "none";
  if (o.choices) return { choices: o.choices };
  const placeholder = /[<[]([^>\]]+)[>\]]/.exec(o.flags)?.[1] ?? "";
  if (o.long === "--partner" || placeholder === "partner-id") return "partners";
  if (o.long === "--serial" || placeholder === "serial") return "serials";
  if (placeholder === "dir") return "dir";
  if (/file|\.\.\./.test(placeholder)) return "file";
  return "none";
}

function argumentKind(cmd: CommandInfo): ValueKind {
  const first = cmd.arguments[0]?.name ?? "";
  if (first === "partner-id") return "partners";
  if (first === "serial") return "serials";
  if (first === "file") return "file";
  if (first === "shell") return { choices: [...SHELLS] };
  if (first === "kind" && cmd.path === "gateway config") return "none";
  return "none";
}

const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

interface Tables {
  commands: CommandInfo[];
  globals: OptionInfo[];
}

function tables(root: CommandInfo): Tables {
  return { commands: flattenCommands(root), globals: root.options };
}

const optionWords = (opts: OptionInfo[]) => opts.flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x)));

function kindShell(kind: ValueKind, cur: string): string {
  if (kind === "none") return "";
  if (kind === "file") return `COMPREPLY=($(compgen -f -- ${cur})); compopt -o filenames 2>/dev/null`;
  if (kind === "dir") return `COMPREPLY=($(compgen -d -- ${cur})); compopt -o filenames 2>/dev/null`;
  if (kind === "partners" || kind === "serials") return `COMPREPLY=($(compgen -W "$(_mtls_list ${kind})" -- ${cur}))`;
  return `COMPREPLY=($(compgen -W ${quote(kind.choices.join(" "))} -- ${cur}))`;
}

/** bash (and zsh through bashcompinit): one function per tree, data as `case` tables. */
export function bashCompletion(root: CommandInfo): string {
  const t = tables(root);
  const subs = t.commands.map((c) => `    ${quote(c.path)}) echo ${quote(c.commands.map((s) => s.name).join(" "))} ;;`);
  const opts = t.commands.map((c) => `    ${quote(c.path)}) echo ${quote(optionWords(c.path ? [...c.options, ...t.globals] : c.options).join(" "))} ;;`);
  const valued = new Set<string>();
  const values: string[] = [];
  for (const c of t.commands) {
    for (const o of c.path ? [...c.options, ...t.globals] : c.options) {
      if (o.value === "none") continue;
      for (const w of optionWords([o])) {
        valued.add(w);
        const body = kindShell(optionValueKind(o), '"$cur"');
        values.push(`    ${quote(`${c.path}|${w}`)}) ${body || "COMPREPLY=()"}; return 0 ;;`);
      }
    }
  }
  const args = t.commands
    .filter((c) => c.commands.length === 0 && argumentKind(c) !== "none")
    .map((c) => `    ${quote(c.path)}) ${kindShell(argumentKind(c), '"$cur"')}; return 0 ;;`);
  return `# mtls completion for bash. Load with: source <(mtls completion bash)
_mtls_subcommands() {
  case "$1" in
${subs.join("\n")}
  esac
}
_mtls_options() {
  case "$1" in
${opts.join("\n")}
  esac
}
_mtls_list() {
  command mtls \${_mtls_pki:+--pki "$_mtls_pki"} completion --list "$1" 2>/dev/null
}
_mtls() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}" path="" w i _mtls_pki=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case " ${[...valued].join(" ")} " in
      *" $w "*) [[ $w == --pki ]] && _mtls_pki="\${COMP_WORDS[i+1]}"; ((i++)); continue ;;
    esac
    [[ $w == -* ]] && continue
    if [[ " $(_mtls_subcommands "$path") " == *" $w "* ]]; then path="\${path:+$path }$w"; fi
  done
  case "$path|$prev" in
${values.join("\n")}
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_mtls_options "$path")" -- "$cur"))
    return 0
  fi
  local subs
  subs="$(_mtls_subcommands "$path")"
  if [[ -n $subs ]]; then
    COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    return 0
  fi
  case "$path" in
${args.join("\n")}
  esac
  COMPREPLY=()
}
complete -F _mtls mtls
`;
}

/** zsh runs the bash function through bashcompinit: one generated source of truth for both. */
export function zshCompletion(root: CommandInfo): string {
  return `#compdef mtls
# mtls completion for zsh. Load with: source <(mtls completion zsh)
# bashcompinit needs compinit's compdef; a ~/.zshrc normally loaded it already.
if ! (( $+functions[compdef] )); then autoload -U +X compinit && compinit -i; fi
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(root).replace(/^# mtls completion for bash.*\n/, "")}`;
}

/** fish's single quotes: only backslash and the quote itself are escaped. */
const fq = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

function fishValue(kind: ValueKind): string {
  if (kind === "none") return "-x";
  if (kind === "file") return "-r -F";
  if (kind === "dir") return "-x -a '(__fish_complete_directories)'";
  if (kind === "partners" || kind === "serials") return `-x -a '(__mtls_list ${kind})'`;
  return `-x -a ${fq(kind.choices.join(" "))}`;
}

/** fish: one `complete` line per subcommand and option, guarded by the command path typed so far. */
export function fishCompletion(root: CommandInfo): string {
  const t = tables(root);
  const lines = [
    "# mtls completion for fish. Load with: mtls completion fish | source",
    "function __mtls_path",
    "    set -l words (commandline -opc)",
    "    set -e words[1]",
    "    set -l path",
    "    set -l skip 0",
    `    set -l valued ${optionWords(t.commands.flatMap((c) => c.options).filter((o) => o.value !== "none")).join(" ")}`,
    "    for w in $words",
    "        if test $skip = 1; set skip 0; continue; end",
    "        if contains -- $w $valued; set skip 1; continue; end",
    "        string match -q -- '-*' $w; and continue",
    "        set path $path $w",
    "    end",
    '    echo (string join " " $path)',
    "end",
    "function __mtls_list",
    "    command mtls completion --list $argv[1] 2>/dev/null",
    "end",
    "complete -c mtls -f",
  ];
  for (const c of t.commands) {
    const cond = `-n "test (__mtls_path) = '${c.path}'"`;
    for (const s of c.commands) lines.push(`complete -c mtls ${cond} -a ${fq(s.name)} -d ${fq(s.description)}`);
    for (const o of c.options) {
      const names = [o.long ? `-l ${o.long.slice(2)}` : "", o.short ? `-s ${o.short.slice(1)}` : ""].filter(Boolean).join(" ");
      // The root's options are global: they complete after any command.
      lines.push(`complete -c mtls ${c.path ? `${cond} ` : ""}${names} ${fishValue(optionValueKind(o))} -d ${fq(o.description)}`);
    }
    const arg = argumentKind(c);
    if (c.commands.length === 0 && arg !== "none") lines.push(`complete -c mtls ${cond} ${fishValue(arg)}`);
  }
  return `${lines.join("\n")}\n`;
}

export function completionScript(shell: Shell, root: CommandInfo): string {
  return shell === "bash" ? bashCompletion(root) : shell === "zsh" ? zshCompletion(root) : fishCompletion(root);
}
