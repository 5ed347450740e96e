#!/usr/bin/env node
// Runs the CommonJS bundle through a V8 code cache (#21). Valid as CommonJS and as an ES module
// (no import, require or import.meta): bin/package.json makes it CommonJS, so that no ES module
// loader runs at all, and a copy beside the package's own package.json still works.
const { readFileSync, writeFileSync, renameSync, rmSync, realpathSync } = process.getBuiltinModule("node:fs");
const { dirname, join } = process.getBuiltinModule("node:path");
const { Script } = process.getBuiltinModule("node:vm");
const { createRequire } = process.getBuiltinModule("node:module");
const { createHash } = process.getBuiltinModule("node:crypto");

const dir = join(dirname(realpathSync(process.argv[1])), "..", "dist", "bundle");
const file = join(dir, "main.js");
const cacheFile = `${file}.cache`;

/**
 * The bundle's text (ASCII, checked at build) and the stamp a cache made from it carries: its
 * SHA-256 (0.6 ms; a size or mtime would not survive `npm install`, which resets mtimes, nor
 * catch an edit) and the Node that made the cache.
 */
function readBundle() {
  let bytes;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if (err && err.code === "ENOENT") return undefined;
    throw err;
  }
  return { source: bytes.latin1Slice(), stamp: `${createHash("sha256").update(bytes).digest("hex")}:${process.version}:${process.arch}\n` };
}

/** A cache made from exactly this bundle by this Node, else undefined: a stale one is never used. */
function readCache(stamp) {
  try {
    const c = readFileSync(cacheFile);
    const nl = c.indexOf(10);
    if (nl > 0 && c.latin1Slice(0, nl + 1) === stamp) return c.subarray(nl + 1);
  } catch {}
  return undefined;
}

function run() {
  const bundle = readBundle();
  if (bundle === undefined) {
    process.stderr.write("error: mtls is not built; run `npm install && npm run build` in its directory\n");
    process.exitCode = 5;
    return;
  }
  const cachedData = readCache(bundle.stamp);
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${bundle.source}\n})`, { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, createRequire(file), mod, file, dir);
  if (cachedData !== undefined && !script.cachedDataRejected) return;
  // Made once, after the run, from the functions it compiled; best effort (the directory may be read-only).
  process.once("beforeExit", () => {
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, Buffer.concat([Buffer.from(bundle.stamp, "latin1"), script.createCachedData()]));
      renameSync(tmp, cacheFile);
    } catch {
      rmSync(tmp, { force: true });
    }
  });
}

run();
