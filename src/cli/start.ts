import { DescriptorOutput } from "./descriptor-output.js";
import type { Registry } from "./program.js";
import { runCli } from "./run.js";

// A process's run of the CLI over its own I/O, for each bundle's entry point (main.ts and
// cli/entries/). Only this module sets the exit code, and never with process.exit(), which can
// cut off piped output.

/**
 * Output that could not be written (a full disk, an I/O error): the result is incomplete, which is
 * an environment failure (exit 5) whatever the command concluded, said once on stderr.
 */
let outputLost = false;
function outputFailed(err: NodeJS.ErrnoException): void {
  if (outputLost) return;
  outputLost = true;
  process.stderr.write(`error: cannot write the output: ${err.code ?? err.message}\n  hint: free space on the disk it goes to, or send it elsewhere\n`);
  process.exitCode = 5;
}

/** process.stdout, built on first use; a closed pipe (`mtls list | head -1`) is not an error worth a stack trace. */
function stdoutStream(): NodeJS.WriteStream {
  const s = process.stdout;
  if (s.listenerCount("error") === 0) {
    s.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") process.exitCode = process.exitCode ?? 0;
      else outputFailed(err);
    });
  }
  return s;
}

/**
 * Runs the process's argv with `registry`. The process's streams are built only when something
 * needs them (#21): a command that reads no standard input and writes to a pipe or a file never
 * builds one (see DescriptorOutput). No top-level await: the bundles are CommonJS (see
 * scripts/build.mjs).
 */
export function startCli(registry: Registry): void {
  void runCli(
    {
      argv: process.argv,
      env: process.env,
      cwd: () => process.cwd(),
      get stdin() {
        return process.stdin;
      },
      stdout: new DescriptorOutput(1, stdoutStream, outputFailed).asWriteStream(),
      stderr: new DescriptorOutput(2, () => process.stderr).asWriteStream(),
    },
    registry,
  ).then(
    (code) => {
      process.exitCode = outputLost ? 5 : code;
    },
    // runCli reports every error itself; one that still escapes is a bug (exit 70), said as one.
    (err: unknown) => {
      process.stderr.write(
        `error: internal error: ${(err as Error)?.message ?? String(err)} (this is a bug in mtls; please report it with MTLS_DEBUG=1 output)\n`,
      );
      process.exitCode = 70;
    },
  );
}
