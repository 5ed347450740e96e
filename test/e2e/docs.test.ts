// #22: docs/commands.md is the program's own help; it must match the program that is built.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { referenceProgram, renderReference } from "../../src/cli/reference.js";
import { mtls, ROOT, tempDir } from "../helpers/run.js";

test("docs/commands.md is current (regenerate with `npm run docs`)", async () => {
  const committed = await readFile(join(ROOT, "docs/commands.md"), "utf8");
  const generated = renderReference(referenceProgram());
  if (committed !== generated) {
    const a = committed.split("\n");
    const b = generated.split("\n");
    const line = a.findIndex((l, i) => l !== b[i]);
    assert.fail(`docs/commands.md differs from the program at line ${line + 1}:\n  file:    ${a[line]}\n  program: ${b[line]}\nrun \`npm run docs\``);
  }
});

test("the reference holds every command's real --help, exit codes included", async (t) => {
  const doc = await readFile(join(ROOT, "docs/commands.md"), "utf8");
  const cwd = await tempDir(t);
  for (const path of [["partner", "issue"], ["revoke"], ["completion"]]) {
    const r = await mtls([...path, "--help"], { cwd, env: { COLUMNS: "100" } });
    assert.equal(r.exitCode, 0);
    assert.ok(doc.includes(`## mtls ${path.join(" ")}\n`), path.join(" "));
    for (const line of r.stdout.split("\n").filter((l) => /^\s+\d+\s{2}/.test(l))) assert.ok(doc.includes(line), `${path.join(" ")}: ${line}`);
  }
});
