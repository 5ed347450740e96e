import { CommanderError } from "commander";
import { Exit, MtlsError } from "../core/errors.js";
import { describeCommand, findCommand, rewriteHelpArgv } from "./command-tree.js";
import { CliContext } from "./context.js";
import { createProgram, guessCommand, VERSION } from "./program.js";
import { rollbackCommandStore } from "./store-session.js";

// The single exit point: commands render results and errors through ctx.out; only this module
// sets the exit code, and never with process.exit(), which can cut off piped output.
const ctx = new CliContext({
  argv: process.argv,
  env: process.env,
  cwd: () => process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});

// A closed pipe (`mtls list | head -1`) is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exitCode = process.exitCode ?? 0;
  else throw err;
});

let helpShown = false;
const program = createProgram(ctx);
const argv = rewriteHelpArgv(program, process.argv);
ctx.out.command = guessCommand(program, argv);
try {
  await program.parseAsync(argv);
} catch (err) {
  if (err instanceof CommanderError) {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") {
      helpShown = true;
      if (err.code === "commander.version") ctx.out.result({ version: VERSION }, () => "");
      else {
        const cmd = findCommand(program, ctx.out.command ? ctx.out.command.split(" ") : []) ?? program;
        ctx.out.result({ ...describeCommand(cmd, commandParent(ctx.out.command)), text: ctx.out.captured }, () => "");
      }
    } else if (err.code === "commander.help")
      ctx.out.fail(new MtlsError("ERR_USAGE", "a subcommand is required", Exit.USAGE, `see mtls ${ctx.out.command} --help`.replace(/\s+--help/, " --help")));
    else
      ctx.out.fail(
        new MtlsError("ERR_USAGE", err.message.replace(/^error: /, ""), Exit.USAGE, `see mtls ${ctx.out.command ? `${ctx.out.command} ` : ""}--help`),
      );
  } else {
    ctx.out.fail(err, ctx.debug);
  }
}
// A database store's transaction ends here when the command failed: nothing it did commits.
await rollbackCommandStore(ctx).catch(() => {});
const code = ctx.out.finish();
process.exitCode = helpShown ? 0 : code;

function commandParent(path: string): string {
  return path.split(" ").slice(0, -1).join(" ");
}
