import { type Command, Option } from "commander";
import { usageError } from "../../core/errors.js";
import { describeCommand } from "../command-tree.js";
import { completionScript, SHELLS, type Shell } from "../completion.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, openReadSession } from "../flags.js";
import { loadWholeCore } from "../whole-core.js";

export interface CompletionOptions {
  /** bash, zsh or fish. */
  shell?: string | undefined;
  /** The program whose commands and options the script completes. */
  program: Command;
}

export interface CompletionResult {
  shell: Shell;
  script: string;
}

/** `mtls completion <shell>`, in-process: the script for that shell. */
export async function runCompletion(_ctx: CliContext, opts: CompletionOptions): Promise<CompletionResult> {
  const { shell } = opts;
  if (!shell || !(SHELLS as readonly string[]).includes(shell))
    throw usageError("ERR_USAGE", `${shell ? `unknown shell "${shell}"` : "missing <shell>"}`, `use one of: ${SHELLS.join(", ")}`);
  return { shell: shell as Shell, script: completionScript(shell as Shell, describeCommand(opts.program)) };
}

/**
 * `mtls completion --list partners|serials` (what a completion script calls): partner ids or
 * unrevoked serials; empty when there is no PKI, because completion must never print an error
 * into the middle of a command line.
 */
export async function runCompletionList(ctx: CliContext, what: string): Promise<string[]> {
  try {
    const core = await loadWholeCore();
    const pki = await openReadSession(ctx);
    return what === "partners"
      ? (await core.listPartners(pki)).partners.map((p) => p.id)
      : (await core.listCertificates(pki)).certificates.filter((c) => c.status !== "revoked").map((c) => c.serial);
  } catch {
    return [];
  }
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("completion")
    .description("print a shell completion script (commands, options, partner ids and serials from the PKI)")
    .argument("[shell]", `one of ${SHELLS.join(", ")}`)
    .addOption(new Option("--list <what>", "words for a completion script").choices(["partners", "serials"]).hideHelp())
    .addHelpText(
      "after",
      examplesHelp([
        "source <(mtls completion bash)                       # in ~/.bashrc",
        "source <(mtls completion zsh)                        # in ~/.zshrc",
        "mtls completion fish > ~/.config/fish/completions/mtls.fish",
      ]),
    )
    .addHelpText("after", exitCodesHelp(["0  printed", "2  unknown shell"]))
    .action(async (shell: string | undefined, opts: { list?: string }) => {
      if (opts.list) {
        const words = await runCompletionList(ctx, opts.list);
        if (words.length) ctx.io.stdout.write(`${words.join("\n")}\n`);
        return;
      }
      ctx.out.result(await runCompletion(ctx, { shell, program }), (r) => r.script);
    });
}
