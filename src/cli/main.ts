import { CommanderError } from "commander";
import { Exit, MtlsError } from "../core/errors.js";
import { CliContext } from "./context.js";
import { createProgram } from "./program.js";

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
try {
  await createProgram(ctx).parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") helpShown = true;
    else if (err.code === "commander.help")
      ctx.out.fail(new MtlsError("ERR_USAGE", "a subcommand is required", Exit.USAGE, `see mtls ${ctx.out.command} --help`.replace(/\s+--help/, " --help")));
    else
      ctx.out.fail(
        new MtlsError("ERR_USAGE", err.message.replace(/^error: /, ""), Exit.USAGE, `see mtls ${ctx.out.command ? `${ctx.out.command} ` : ""}--help`),
      );
  } else {
    ctx.out.fail(err, ctx.debug);
  }
}
process.exitCode = helpShown ? 0 : ctx.out.finish();
