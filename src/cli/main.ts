import { runCli } from "./run.js";

// The process entry point: the CLI over the process's own I/O. Only this module sets the exit
// code, and never with process.exit(), which can cut off piped output.

// A closed pipe (`mtls list | head -1`) is not an error worth a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exitCode = process.exitCode ?? 0;
  else throw err;
});

// No top-level await: the bundle is CommonJS (see scripts/build.mjs).
void runCli({
  argv: process.argv,
  env: process.env,
  cwd: () => process.cwd(),
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
}).then((code) => {
  process.exitCode = code;
});
