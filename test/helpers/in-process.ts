// Runs the CLI in this process (no node spawn): the command functions with a context whose
// stdout and stderr are captured. For contract tests over every command.
import { PassThrough } from "node:stream";
import type { Command } from "commander";
import { ALL_COMMANDS } from "../../src/cli/all-commands.js";
import { describeCommand, leafCommands } from "../../src/cli/command-tree.js";
import { CliContext } from "../../src/cli/context.js";
import { createProgram } from "../../src/cli/program.js";
import { runCli } from "../../src/cli/run.js";
import { PASSPHRASE } from "./run.js";

export interface InProcessResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: Buffer[] = [];
  const s = new PassThrough();
  s.on("data", (c: Buffer) => chunks.push(c));
  return { stream: s as unknown as NodeJS.WriteStream, text: () => Buffer.concat(chunks).toString() };
}

export async function runInProcess(args: string[], o: { cwd?: string; env?: Record<string, string> } = {}): Promise<InProcessResult> {
  const out = capture();
  const err = capture();
  const stdin = new PassThrough() as unknown as NodeJS.ReadStream;
  const env = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NO_COLOR: "1", ...o.env };
  const exitCode = await runCli(
    { argv: ["node", "mtls", ...args], env, cwd: () => o.cwd ?? process.cwd(), stdin, stdout: out.stream, stderr: err.stream },
    ALL_COMMANDS,
  );
  await new Promise((r) => setImmediate(r));
  return { exitCode, stdout: out.text(), stderr: err.text() };
}

/** Every runnable command, read from the program itself: the leaves, and parents with an action of their own (`audit`). */
export function allCommands(): string[][] {
  const out = capture();
  const ctx = new CliContext({
    argv: ["node", "mtls"],
    env: {},
    cwd: () => process.cwd(),
    stdin: new PassThrough() as unknown as NodeJS.ReadStream,
    stdout: out.stream,
    stderr: out.stream,
  });
  const program = createProgram(ctx, ALL_COMMANDS);
  const runnable: string[] = [];
  const walk = (cmd: Command, path: string[]) => {
    const subs = cmd.commands.filter((c) => c.name() !== "help");
    if (path.length && (subs.length === 0 || (cmd as unknown as { _actionHandler?: unknown })._actionHandler)) runnable.push(path.join(" "));
    for (const c of subs) walk(c, [...path, c.name()]);
  };
  walk(program, []);
  // The same set the command tree describes, plus the parents that run on their own.
  for (const leaf of leafCommands(describeCommand(program))) if (!runnable.includes(leaf)) runnable.push(leaf);
  return runnable.map((p) => p.split(" "));
}

/**
 * A context for calling the command functions directly (no argv): working directory `dir`, no
 * terminal (prompts refuse, confirmations take --yes), the test passphrase in the environment,
 * stdout and stderr captured.
 */
export function commandContext(dir: string, env: Record<string, string> = {}): { ctx: CliContext; stdout: () => string; stderr: () => string } {
  const out = capture();
  const err = capture();
  const ctx = new CliContext({
    argv: ["node", "mtls"],
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", NO_COLOR: "1", MTLS_CA_PASSPHRASE: PASSPHRASE, ...env },
    cwd: () => dir,
    stdin: new PassThrough() as unknown as NodeJS.ReadStream,
    stdout: out.stream,
    stderr: err.stream,
  });
  ctx.applyGlobals({ ...ctx.globals, yes: true, input: false });
  return { ctx, stdout: out.text, stderr: err.text };
}

/** `mtls ca init`'s options with the defaults commander fills in (runCaInit takes them all). */
export const CA_INIT_DEFAULTS = {
  name: "InProc",
  org: "Test Org",
  keyType: "ec-p256",
  rootDays: 3650,
  intermediateDays: 1825,
  intermediate: true,
  defaultDays: 90,
  maxDays: 398,
  warnDays: 30,
  crlDays: 7,
};
