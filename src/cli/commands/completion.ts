import { type Command, Option } from "commander";
import { usageError } from "../../core/errors.js";
import { describeCommand } from "../command-tree.js";
import { completionScript, SHELLS, type Shell } from "../completion.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, loadCore } from "../flags.js";

/** Partner ids or unrevoked serials for a completion script; silent when there is no PKI. */
async function listForCompletion(ctx: CliContext, what: string): Promise<void> {
  try {
    const core = await loadCore();
    const words =
      what === "partners"
        ? (await core.listPartners({ pkiDir: ctx.pkiDir, now: ctx.now() })).partners.map((p) => p.id)
        : (await core.listCertificates({ pkiDir: ctx.pkiDir, now: ctx.now() })).certificates.filter((c) => c.status !== "revoked").map((c) => c.serial);
    if (words.length) ctx.io.stdout.write(`${words.join("\n")}\n`);
  } catch {
    // Completion must never print an error into the middle of a command line.
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
      if (opts.list) return listForCompletion(ctx, opts.list);
      if (!shell || !(SHELLS as readonly string[]).includes(shell))
        throw usageError("ERR_USAGE", `${shell ? `unknown shell "${shell}"` : "missing <shell>"}`, `use one of: ${SHELLS.join(", ")}`);
      const script = completionScript(shell as Shell, describeCommand(program));
      ctx.out.result({ shell, script }, (r) => r.script);
    });
}
