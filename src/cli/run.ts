// One run of the CLI against the I/O it is given: what main.ts does for the process, and what
// tests call in-process (a fake stdout/stderr, an env, a cwd) to run any command without
// spawning node. Returns the exit code; never calls process.exit().
import { CommanderError } from "commander";
import { Exit, MtlsError } from "../core/errors.js";
import { describeCommand, findCommand, rewriteHelpArgv } from "./command-tree.js";
import { CliContext, type Io } from "./context.js";
import { createProgram, guessCommand, type Registry, VERSION } from "./program.js";
import { closeCommandStore, rollbackCommandStore } from "./store-session.js";

/** Runs argv with the commands of `registry` (the full bundle's, or the one command of a bundle of its own). */
export async function runCli(io: Io, registry: Registry): Promise<number> {
  const ctx = new CliContext(io);
  let helpShown = false;
  const program = createProgram(ctx, registry);
  const argv = rewriteHelpArgv(program, io.argv);
  ctx.out.command = guessCommand(program, argv);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) helpShown = commanderOutcome(ctx, program, err);
    else ctx.out.fail(err, ctx.debug);
  }
  // A database store's connection ends here when the command failed: a transaction under way
  // is rolled back with it. Else it ends after the JSON document, which may read from it as it
  // is written (`list --json` on a database store fetches the index summary's texts as it goes).
  if (ctx.out.failed) await rollbackCommandStore(ctx).catch(() => {});
  let code = await ctx.out.finish(ctx.debug);
  // Closing reports nothing it can lose; should it fail all the same, the run fails with it.
  await closeCommandStore(ctx).catch((err) => {
    code = ctx.out.fail(err, ctx.debug);
  });
  return helpShown ? Exit.OK : code;
}

/** Renders what commander stopped for (help, version, a usage error); true when help or the version was shown. */
function commanderOutcome(ctx: CliContext, program: ReturnType<typeof createProgram>, err: CommanderError): boolean {
  if (err.code === "commander.helpDisplayed" || err.code === "commander.version") {
    if (err.code === "commander.version") ctx.out.result({ version: VERSION }, () => "");
    else {
      const cmd = findCommand(program, ctx.out.command ? ctx.out.command.split(" ") : []) ?? program;
      ctx.out.result({ ...describeCommand(cmd, commandParent(ctx.out.command)), text: ctx.out.captured }, () => "");
    }
    return true;
  }
  if (err.code === "commander.help")
    ctx.out.fail(new MtlsError("ERR_USAGE", "a subcommand is required", Exit.USAGE, `see mtls ${ctx.out.command} --help`.replace(/\s+--help/, " --help")));
  else
    ctx.out.fail(new MtlsError("ERR_USAGE", err.message.replace(/^error: /, ""), Exit.USAGE, `see mtls ${ctx.out.command ? `${ctx.out.command} ` : ""}--help`));
  return false;
}

function commandParent(path: string): string {
  return path.split(" ").slice(0, -1).join(" ");
}
