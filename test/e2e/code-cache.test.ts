// #21: bin/mtls.js runs the bundle through a V8 code cache kept next to it. A cache is used only
// when it was made from this very bundle by this Node; anything else is ignored, the command runs
// as without one, and the cache is written anew (best effort).
import assert from "node:assert/strict";
import { chmod, cp, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { routeFile } from "../../src/cli/routes.js";
import { baseEnv, ROOT, run, tempDir } from "../helpers/run.js";

async function copyOfPackage(dir: string): Promise<string> {
  await cp(join(ROOT, "bin"), join(dir, "bin"), { recursive: true });
  await cp(join(ROOT, "dist/bundle"), join(dir, "dist/bundle"), { recursive: true });
  await cp(join(ROOT, "package.json"), join(dir, "package.json"));
  await cp(join(ROOT, "templates"), join(dir, "templates"), { recursive: true });
  return join(dir, "bin/mtls.js");
}

const stampOf = (b: Buffer) => b.subarray(0, b.indexOf(10) + 1).toString("latin1");
/** The source copy a cache file holds after its first line (bin/mtls.js compares it with the bundle byte for byte). */
const sourceOf = (cacheFile: Buffer, length: number) => {
  const start = cacheFile.indexOf(10) + 1;
  return cacheFile.subarray(start, start + length);
};

test("a missing, foreign, corrupt or stale code cache is ignored and rewritten; the command's output is unchanged", async (t) => {
  const dir = await tempDir(t, "mtls-cache-");
  const bin = await copyOfPackage(dir);
  // The bundle `--help` runs (src/cli/routes.ts); every bundle is run and cached alike.
  const main = join(dir, "dist/bundle", routeFile("--help"));
  const cache = `${main}.cache`;
  const help = async () => {
    const r = await run(process.execPath, [bin, "--help"], { cwd: dir, env: baseEnv() });
    assert.equal(r.exitCode, 0, r.stderr);
    return r.stdout;
  };
  const expected = (await run(process.execPath, [join(ROOT, "bin/mtls.js"), "--help"], { env: baseEnv() })).stdout;
  const stampFor = (bundle: Buffer) => `mtls-code-cache 2 ${process.version} ${process.arch} ${bundle.length}\n`;
  const bundle = await readFile(main);
  const ours = stampFor(bundle);
  const shipped = stampOf(await readFile(cache));
  // The build's Node finds the cache the build wrote; another Node (the suite also runs on
  // Node 22) finds a foreign one, which its first run replaces.
  if (shipped.includes(` ${process.version} ${process.arch} `))
    assert.equal(shipped, ours, "the build wrote a cache stamped with the Node and the bundle's length");
  else assert.equal(await help(), expected);
  const stamp = stampOf(await readFile(cache));
  assert.equal(stamp, ours);
  assert.deepEqual(sourceOf(await readFile(cache), bundle.length), bundle, "the cache holds a copy of the bundle it was made from");
  // A used cache is left alone: the file (its inode) stays the one the previous run wrote.
  const usedAsIs = async () => {
    const before = (await stat(cache)).ino;
    assert.equal(await help(), expected);
    assert.equal((await stat(cache)).ino, before, "the cache was accepted, not made again");
  };
  await usedAsIs();

  for (const [what, bad] of [
    ["empty", Buffer.alloc(0)],
    // The same length and Node (V8 itself would take it), one byte of the source different.
    ["made from another bundle", Buffer.from((await readFile(cache)).map((b, i) => (i === stamp.length + 100 ? b ^ 1 : b)))],
    ["corrupt (V8 rejects it)", Buffer.concat([Buffer.from(stamp, "latin1"), Buffer.alloc(4096, 7)])],
  ] as const) {
    await writeFile(cache, bad);
    assert.equal(await help(), expected, what);
    const now = await readFile(cache);
    assert.equal(stampOf(now), stamp, what);
    assert.notDeepEqual(now, bad, what);
    await usedAsIs();
  }

  // A cache others could have written decides what runs (V8 checks little more than the
  // source's length): one writable by group or others is not used, and is replaced by our own.
  await chmod(cache, 0o666);
  const loose = (await stat(cache)).ino;
  assert.equal(await help(), expected);
  assert.notEqual((await stat(cache)).ino, loose, "a group- or world-writable cache was used");
  assert.equal((await stat(cache)).mode & 0o022, 0);
  await usedAsIs();

  // An edited bundle (here one comment more) no longer matches the cache made from the original.
  await writeFile(main, `${await readFile(main, "latin1")}\n// edited\n`, "latin1");
  assert.equal(await help(), expected);
  const edited = await readFile(main);
  assert.equal(stampOf(await readFile(cache)), stampFor(edited));
  assert.deepEqual(sourceOf(await readFile(cache), edited.length), edited);
  assert.notEqual(stampOf(await readFile(cache)), stamp);
  await usedAsIs();
});
