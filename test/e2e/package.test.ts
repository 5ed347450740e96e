// #22: the package a newcomer installs. `npm pack`, then `npm install -g` of the tarball into a
// temporary prefix, offline: the tarball ships the built bundle and declares no dependencies, so
// nothing is downloaded, no devDependency is needed at run time, and npm has nothing to warn about.
import assert from "node:assert/strict";
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { baseEnv, have, ROOT, run, tempDir } from "../helpers/run.js";

test("npm pack → npm install -g from the tarball → mtls demo works from any directory", async (t) => {
  if (!have("npm")) return t.skip("npm is not installed");
  const tmp = await tempDir(t, "mtls-pkg-");
  const env = baseEnv({ npm_config_cache: join(tmp, "cache"), npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" });
  // --ignore-scripts: the suite already built dist/; rebuilding it here would race the other tests.
  const pack = await run("npm", ["pack", "--ignore-scripts", "--pack-destination", tmp, "--json"], { cwd: ROOT, env, timeoutMs: 120_000 });
  assert.equal(pack.exitCode, 0, pack.stderr);
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = (info?.files ?? []).map((f) => f.path);
  assert.ok(files.includes("dist/bundle/main.js"), "the built bundle ships");
  assert.ok(files.includes("templates/bundle/README.txt") || files.some((f) => f.startsWith("templates/")), "templates ship");
  assert.deepEqual(
    files.filter((f) => /^(src|test|dist\/src|dist\/test|node_modules)\//.test(f)),
    [],
    "sources, tests and node_modules stay out",
  );
  assert.ok(!files.some((f) => f.endsWith(".map")), "source maps stay out (they are 60% of the bundle)");

  const prefix = join(tmp, "prefix");
  const install = await run("npm", ["install", "-g", "--offline", "--prefix", prefix, join(tmp, info?.filename as string)], {
    cwd: tmp,
    env,
    timeoutMs: 120_000,
  });
  assert.equal(install.exitCode, 0, install.stderr);
  assert.doesNotMatch(`${install.stdout}\n${install.stderr}`, /warn|deprecated|ERR!/i, "a clean install, nothing to worry a newcomer");
  const installed = join(prefix, "lib/node_modules/mtls");
  const manifest = JSON.parse(await readFile(join(installed, "package.json"), "utf8"));
  assert.equal(manifest.dependencies, undefined, "no runtime dependencies: everything is in the bundle");
  await assert.rejects(stat(join(installed, "node_modules")), "nothing was installed next to it");

  // From an unrelated directory, with only the prefix's bin and node itself on PATH.
  const elsewhere = await tempDir(t, "mtls-anywhere-");
  const path = `${join(prefix, "bin")}:${join(process.execPath, "..")}:/usr/bin:/bin`;
  const version = await run("mtls", ["--version"], { cwd: elsewhere, env: baseEnv({ PATH: path }) });
  assert.equal(version.stdout.trim(), JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")).version);
  const demo = await run("mtls", ["demo", "--json"], { cwd: elsewhere, env: baseEnv({ PATH: path }), timeoutMs: 120_000 });
  assert.equal(demo.exitCode, 0, demo.stderr);
  const doc = JSON.parse(demo.stdout);
  assert.equal(doc.ok, true);
  assert.ok(doc.result.steps.length >= 10 && doc.result.steps.every((s: { ok: boolean }) => s.ok), demo.stdout);
  assert.deepEqual(await readdir(elsewhere), [], "the demo works in its own temporary directory");
});
