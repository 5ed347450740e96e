// The command reference (docs/commands.md), written from the program itself: each command's own
// --help output, so the documentation is the help text and cannot drift from it. `npm run docs`
// writes it; a test fails when the file in the repository differs.
import type { Command } from "commander";
import { ALL_COMMANDS } from "./all-commands.js";
import { CliContext } from "./context.js";
import { createProgram } from "./program.js";

const WIDTH = 100;

function helpOf(cmd: Command): string {
  let text = "";
  cmd.configureOutput({ writeOut: (s) => (text += s), getOutHasColors: () => false, getOutHelpWidth: () => WIDTH });
  cmd.outputHelp();
  return text.trimEnd();
}

function walk(cmd: Command, path: string[], out: string[]): void {
  const name = ["mtls", ...path].join(" ");
  out.push(`## ${name}`, "", "```text", helpOf(cmd), "```", "");
  for (const sub of cmd.commands) walk(sub, [...path, sub.name()], out);
}

/** The whole reference as Markdown: the root, then every command depth first in the order of `mtls --help`. */
export function renderReference(program: Command): string {
  const out = [
    "# mtls command reference",
    "",
    "Generated from the program by `npm run docs` (each section is that command's `--help`);",
    "the test suite fails when this file and the program disagree.",
    "",
  ];
  walk(program, [], out);
  return `${out.join("\n").trimEnd()}\n`;
}

/** A program built with inert I/O, for rendering help outside a run. */
export function referenceProgram(): Command {
  const sink = { write: () => true, isTTY: false } as unknown as NodeJS.WriteStream;
  const ctx = new CliContext({ argv: ["node", "mtls"], env: {}, cwd: () => "/", stdin: process.stdin, stdout: sink, stderr: sink });
  return createProgram(ctx, ALL_COMMANDS);
}
