// Every command the program registers has an in-process function: its module exports
// run<Name>(ctx, options), named after the command's path, and the action only prints what it
// returns. The list comes from the program itself, so a new command cannot be left out.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import test from "node:test";
import { fileURLToPath } from "node:url";
import { allCommands } from "../helpers/in-process.js";

const COMMANDS_DIR = join(dirname(fileURLToPath(import.meta.url)), "../../src/cli/commands");
const pascal = (words: string[]) => words.map((w) => w.replace(/(^|-)([a-z])/g, (_m, _d, c: string) => c.toUpperCase())).join("");

/**
 * The module that registers a command: its words as folders and file name ("partner identity
 * release" → partner/identity/release.js), the last words joined by "-" where the folder stops
 * ("ca rollover root start" → ca/rollover/root-start.js), or the parent's module for a
 * subcommand it registers itself ("audit verify" → audit.js).
 */
function moduleFile(words: string[]): string | undefined {
  for (let n = words.length; n > 0; n--) {
    const path = words.slice(0, n);
    for (let split = path.length - 1; split >= 0; split--) {
      const file = join(COMMANDS_DIR, ...path.slice(0, split), `${path.slice(split).join("-")}.js`);
      if (existsSync(file)) return file;
    }
  }
  return undefined;
}

/** run + any tail of the path in PascalCase ("partner issue" → runIssue or runPartnerIssue), optionally + "Command". */
function runNames(words: string[]): string[] {
  return words.flatMap((_w, i) => [`run${pascal(words.slice(i))}`, `run${pascal(words.slice(i))}Command`]);
}

test("every command's module exports its in-process run function", async () => {
  const commands = allCommands();
  assert.ok(commands.length > 30, `found only ${commands.length} commands`);
  const missing: string[] = [];
  const used = new Set<string>();
  for (const words of commands) {
    const file = moduleFile(words);
    if (!file) {
      missing.push(`${words.join(" ")}: no module under src/cli/commands`);
      continue;
    }
    used.add(file);
    const mod = (await import(file)) as Record<string, unknown>;
    const names = runNames(words).filter((n) => typeof mod[n] === "function");
    if (!names.length) missing.push(`${words.join(" ")}: ${relative(COMMANDS_DIR, file)} exports none of ${runNames(words).join(", ")}`);
  }
  assert.deepEqual(missing, []);
  // Every command module was reached from the program: none registers a command under a path its file does not name.
  const files = (readdirSync(COMMANDS_DIR, { recursive: true }) as string[]).filter((f) => f.endsWith(".js")).map((f) => join(COMMANDS_DIR, f));
  assert.deepEqual(
    files.filter((f) => !used.has(f)).map((f) => relative(COMMANDS_DIR, f)),
    [],
  );
});
