// #21: a frequent command runs from a bundle of its own (src/cli/routes.ts). Whatever bundle the
// router picks, the run must be the one the full bundle gives: the same stdout, stderr and exit
// code, for results, help, usage errors and suggestions. The full bundle alone runs from a copy
// of the package whose router always picks main.js.
import assert from "node:assert/strict";
import { copyFile, mkdir, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, test } from "node:test";
import { ROUTES } from "../../src/cli/routes.js";
import { BIN, baseEnv, PASSPHRASE, ROOT, run, tempDir } from "../helpers/run.js";
import { sharedFixture } from "../helpers/store-fixture.js";

const fixture = sharedFixture(after);

/** A package whose bin runs every command through main.js: its own router, everything else linked. */
async function fullBundleOnly(t: Parameters<typeof tempDir>[0]): Promise<string> {
  const root = await tempDir(t, "mtls-full-");
  const bundle = join(root, "dist/bundle");
  await mkdir(bundle, { recursive: true });
  await mkdir(join(root, "bin"));
  await copyFile(BIN, join(root, "bin/mtls.js"));
  await copyFile(join(ROOT, "bin/package.json"), join(root, "bin/package.json")).catch(() => {});
  await copyFile(join(ROOT, "package.json"), join(root, "package.json"));
  await symlink(join(ROOT, "templates"), join(root, "templates"));
  for (const name of await readdir(join(ROOT, "dist/bundle")))
    if (!name.startsWith("route.js") && !name.endsWith(".cache")) await symlink(join(ROOT, "dist/bundle", name), join(bundle, name));
  await writeFile(join(bundle, "route.js"), 'require("./main.js");\n');
  return join(root, "bin/mtls.js");
}

test("every route's bundle answers as the full bundle does: results, help, usage errors", async (t) => {
  const f = await fixture();
  const full = await fullBundleOnly(t);
  const cert = join(f.dir, "pki/certs", `${f.serials.alpha}.pem`);
  const cases: string[][] = [
    ["--version"],
    ["-V", "--json"],
    ["--help"],
    ["-h", "--json"],
    ["list"],
    ["list", "--json"],
    ["list", "--bogus"],
    ["lst"],
    ["status", "--json"],
    ["audit"],
    ["audit", "verify", "--json"],
    ["inspect", cert],
    ["doctor", "--json"],
    ["ca", "show"],
    ["crl", "show", "--json"],
    ["cert", "show", f.serials.alpha],
    ["partner", "list"],
    ["partner", "show", "alpha", "--json"],
    ["partner", "shw", "alpha"],
    ["revoke", "--help"],
    ["crl", "publish", "--help"],
    ["partner", "issue", "--help"],
    ["partner", "issue", "alpha", "--json"],
    ["partner", "export", "--help"],
    ["partner", "export", "alpha", "--format", "zip"],
    ["partner", "-h", "list"],
    ["partner", "--json", "--help", "issue"],
    ["crl", "-h", "show"],
    ["ca", "--help", "show"],
    ["-h", "list"],
    ["partner", "list", "-h"],
    ["partner", "-qh", "list"],
    ["-qh"],
    ["-Vh"],
    ["--", "list"],
    ["crl", "--json", "-yqh", "show"],
  ];
  const routed = new Set<string>();
  const env = baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE, NO_COLOR: "1" });
  for (const args of cases) {
    // One after the other: two doctors at once would meet each other's lock.
    const mine = await run(process.execPath, [BIN, ...args], { cwd: f.dir, env });
    const theirs = await run(process.execPath, [full, ...args], { cwd: f.dir, env });
    const label = args.join(" ");
    assert.notEqual(mine.exitCode, 70, `${label}: ${mine.stderr}`);
    assert.deepEqual(mine, theirs, label);
    const words = args.filter((a) => !a.startsWith("-"));
    for (const r of ROUTES) if (r === words.slice(0, r.split(" ").length).join(" ") || (r.startsWith("--") && args[0]?.startsWith("-"))) routed.add(r);
  }
  assert.deepEqual(
    ROUTES.filter((r) => !routed.has(r)),
    [],
    "every route is compared",
  );
});
