// #21: a run builds only the command it invokes; the others are a name and a description from
// TOP_COMMANDS. The table must say what the commands' own definitions say, and a command built
// alone, by the full bundle or by a bundle of its own (cli/entries/), must be the command built
// with all the others.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import type { Command } from "commander";
import { ALL_COMMANDS } from "../../src/cli/all-commands.js";
import { CliContext } from "../../src/cli/context.js";
import { createProgram, invokedCommand, type Registry, TOP_COMMANDS } from "../../src/cli/program.js";
import { ROUTES, routeFile, routeOf } from "../../src/cli/routes.js";

function programFor(argv: string[], registry: Registry = ALL_COMMANDS): Command {
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
    registry,
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

test("the table of top-level commands is the program's: names, order, descriptions and terms in the help", () => {
  const full = programFor([]);
  const help = full.createHelp();
  assert.deepEqual(
    TOP_COMMANDS.map((t) => [t.name, t.description, t.term]),
    full.commands.map((c) => [c.name(), c.description(), help.subcommandTerm(c)]),
  );
});

test("the top-level help of a program with no command built is the whole program's, byte for byte", () => {
  for (const argv of [["--help"], []]) assert.equal(helpOf(programFor(argv, {})), helpOf(programFor(argv)), argv.join(" "));
  // A stub's term is the table's: one with a wrong term shows in the help.
  const table = TOP_COMMANDS.find((t) => t.name === "revoke") as { term: string };
  const term = table.term;
  table.term = "revoke <other>";
  try {
    assert.match(helpOf(programFor(["--help"], {})), /revoke <other>/);
  } finally {
    table.term = term;
  }
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

test("which bundle argv runs: a route's two words, else its first, else the top-level help or a bare --version; anything else is the full bundle", () => {
  const route = (...a: string[]) => routeOf(["node", "mtls", ...a]);
  assert.equal(route("list"), "list");
  assert.equal(route("--pki", "partner", "partner", "list", "--json"), "partner list");
  assert.equal(route("partner", "--store", "x", "show", "alpha"), "partner show");
  assert.equal(route("list", "--partner", "alpha"), "list");
  assert.equal(route("audit", "verify"), "audit");
  assert.equal(route("partner", "list", "--help"), "partner list");
  assert.equal(route("--version"), "--version");
  assert.equal(route("-V", "--json"), "--version");
  assert.equal(route("--help"), "--help");
  assert.equal(route("--version", "-h", "-q"), "--help");
  // With --json, help is the commands' reference, which the full bundle has.
  assert.equal(route("--version", "-h", "--json"), undefined);
  assert.equal(route("--json", "--help"), undefined);
  // Wherever --json is: the output takes it from anywhere in argv.
  assert.equal(route("--pki", "--json", "--help"), undefined);
  assert.equal(route("-h", "--", "--json"), undefined);
  assert.equal(route("--store", "--json", "-h"), undefined);
  for (const full of [
    [],
    ["--", "--help"],
    ["help", "list"],
    ["partner", "help", "list"],
    ["partner"],
    ["partner", "lst"],
    ["lst"],
    ["ca", "init"],
    ["--", "list"],
    ["--", "--version"],
    ["partner", "-h", "list"],
    ["partner", "--help", "issue"],
    ["crl", "--pki", "x", "-h", "show"],
    ["-h", "list"],
    ["partner", "-qh", "list"],
    ["completion", "bash"],
  ])
    assert.equal(route(...full), undefined, full.join(" "));
  assert.equal(new Set(ROUTES.map(routeFile)).size, ROUTES.length);
});

test("each route's own registry builds its command as the full program does", async () => {
  const full = programFor([]);
  for (const r of ROUTES) {
    const { registry } = (await import(`../../src/cli/entries/${routeFile(r).replace(/^cmd-/, "")}`)) as { registry: Registry };
    const words = r.startsWith("--") ? [] : r.split(" ");
    const alone = programFor([...words, "--help"], registry);
    assert.equal(alone.version(), full.version(), r);
    if (r === "--help") {
      assert.equal(helpOf(alone), helpOf(full), "the top-level help is the whole program's");
    }
    if (r === "--version" || r === "--help") {
      assert.equal(
        alone.commands.reduce((n, c) => n + c.commands.length + c.options.length, 0),
        0,
        `${r} builds no command`,
      );
      continue;
    }
    const find = (p: Command) => words.reduce<Command | undefined>((c, w) => c?.commands.find((x) => x.name() === w), p) as Command;
    assert.deepEqual(tree(find(alone)), tree(find(full)), r);
    assert.deepEqual(
      alone.commands.map((c) => [c.name(), c.description()]),
      full.commands.map((c) => [c.name(), c.description()]),
      `${r}: every other command is still a name with its description`,
    );
  }
});
