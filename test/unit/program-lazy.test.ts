// #21: a run builds only the command it invokes; the others are a name and a description from
// TOP_COMMANDS. The table must say what the commands' own definitions say, and a command built
// alone must be the command built with all the others.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { Command } from "commander";
import { CliContext } from "../../src/cli/context.js";
import { createProgram, invokedCommand, TOP_COMMANDS } from "../../src/cli/program.js";

function programFor(argv: string[]): Command {
  const sink = new PassThrough() as unknown as NodeJS.WriteStream;
  return createProgram(
    new CliContext({
      argv: ["node", "mtls", ...argv],
      env: {},
      cwd: () => "/",
      stdin: new PassThrough() as unknown as NodeJS.ReadStream,
      stdout: sink,
      stderr: sink,
    }),
  );
}

function helpOf(cmd: Command): string {
  let text = "";
  cmd.configureOutput({ writeOut: (s) => (text += s), getOutHasColors: () => false, getOutHelpWidth: () => 100 });
  cmd.outputHelp();
  return text;
}

/** Every command's path and help, depth first. */
function tree(cmd: Command, path: string[] = []): Array<[string, string]> {
  return [[path.join(" "), helpOf(cmd)], ...cmd.commands.flatMap((c) => tree(c, [...path, c.name()]))];
}

test("the table of top-level commands is the program's: names, order and descriptions", () => {
  const full = programFor([]);
  assert.deepEqual(
    TOP_COMMANDS.map((t) => [t.name, t.description]),
    full.commands.map((c) => [c.name(), c.description()]),
  );
});

test("which command argv invokes: global options and their values are skipped; help and unknown words build everything", () => {
  assert.equal(invokedCommand(["node", "mtls", "--pki", "list", "status"]), "status");
  assert.equal(invokedCommand(["node", "mtls", "--json", "-q", "ca", "show"]), "ca");
  assert.equal(invokedCommand(["node", "mtls", "--pki=x", "list"]), "list");
  assert.equal(invokedCommand(["node", "mtls", "--version"]), "");
  assert.equal(invokedCommand(["node", "mtls", "--help"]), undefined);
  assert.equal(invokedCommand(["node", "mtls", "--version", "--help"]), undefined);
  assert.equal(invokedCommand(["node", "mtls", "help", "list"]), undefined);
  assert.equal(invokedCommand(["node", "mtls", "completion", "bash"]), undefined);
  assert.equal(invokedCommand(["node", "mtls", "lst"]), undefined);
  assert.equal(invokedCommand(["node", "mtls"]), undefined);
});

test("a command built alone has the same definition and help as in the whole program", () => {
  const full = programFor([]);
  for (const t of TOP_COMMANDS) {
    if (t.name === "completion") continue;
    const alone = programFor([t.name, "--help"]);
    const mine = alone.commands.find((c) => c.name() === t.name) as Command;
    const theirs = full.commands.find((c) => c.name() === t.name) as Command;
    assert.deepEqual(tree(mine), tree(theirs), t.name);
    // The others are stubs: no options, no subcommands, no action.
    for (const other of alone.commands.filter((c) => c.name() !== t.name)) assert.equal(other.commands.length + other.options.length, 0, other.name());
  }
});
