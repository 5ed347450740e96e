// Faults injected into a spawned mtls through a preload (NODE_OPTIONS=--require), for the failures
// a test cannot provoke from outside once the command's checks have passed.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * The environment that makes the rename onto a file named `name` fail with EIO: a commit that
 * fails after the files written before that one (the preload is written into `dir`).
 */
export async function failingRename(dir: string, name: string): Promise<NodeJS.ProcessEnv> {
  const hook = join(dir, "fail-rename.cjs");
  await writeFile(
    hook,
    `const fsp = require("node:fs/promises");
const rename = fsp.rename;
fsp.rename = async (from, to) => {
  if (require("node:path").basename(String(to)) === process.env.FAIL_RENAME_TO) throw Object.assign(new Error("EIO: i/o error, rename"), { code: "EIO" });
  return rename(from, to);
};
require("node:module").syncBuiltinESMExports();
`,
  );
  return { NODE_OPTIONS: `--require ${hook}`, FAIL_RENAME_TO: name };
}
