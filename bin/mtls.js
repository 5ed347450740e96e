#!/usr/bin/env node
// Runs the CommonJS bundle through a V8 code cache (#21). Valid as CommonJS and as an ES module
// (no import, require or import.meta): bin/package.json makes it CommonJS, so that no ES module
// loader runs at all, and a copy beside the package's own package.json still works.
const { readFileSync, writeFileSync, renameSync, rmSync, realpathSync, openSync, fstatSync, fsyncSync, closeSync, accessSync, constants } =
  process.getBuiltinModule("node:fs");
const { dirname, join } = process.getBuiltinModule("node:path");
const { Script } = process.getBuiltinModule("node:vm");

const dir = join(dirname(realpathSync(process.argv[1])), "..", "dist", "bundle");
const vendor = join(dir, "vendor");
/** The router: it requires the bundle argv takes, main.js or a command's own (src/cli/routes.ts). */
const router = join(dir, "route.js");

/**
 * The cache made from exactly `bytes` by this Node, else undefined: a stale one is never used.
 * V8 checks little more than the source's length, so the cache decides what runs: one that
 * another user could have written (not ours or root's, or writable by group or others) is ignored.
 * The cache file holds a copy of the source it was made from, compared byte for byte: exact,
 * and cheaper than hashing it, which would load node:crypto on every run (~3 ms of CPU; a
 * size or mtime would neither survive `npm install`, which resets mtimes, nor catch an edit).
 */
function readCache(file, bytes) {
  const stamp = stampOf(bytes);
  let fd;
  try {
    fd = openSync(`${file}.cache`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    const owner = st.uid === 0 || st.uid === process.geteuid?.();
    if (!st.isFile() || !owner || st.mode & 0o022) return undefined;
    const c = readFileSync(fd);
    const start = stamp.length;
    const end = start + bytes.length;
    if (c.length > end && c.toString("latin1", 0, start) === stamp && bytes.compare(c, start, end) === 0) return c.subarray(end);
  } catch {
    // none yet, or unreadable: compiled from source
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return undefined;
}

/** The cache file's first line: its format, the Node that made it, the length of the source copy that follows. */
function stampOf(bytes) {
  return `mtls-code-cache 2 ${process.version} ${process.arch} ${bytes.length}\n`;
}

/** Whether a new cache can be written beside the file (a root-owned install often cannot). */
function writable(file) {
  try {
    accessSync(dirname(file), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs one CommonJS file of the bundle (the router, the bundle it picks, or a vendor/ file) as Node would,
 * compiled with its code cache. The file's text is ASCII (checked at build), hence latin1. A
 * missing or stale cache is made after the run from the functions it compiled (and those it
 * was given), best effort (the directory may be read-only).
 */
function load(file) {
  const bytes = readFileSync(file);
  const cachedData = readCache(file, bytes);
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${bytes.toString("latin1")}\n})`, { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext()(mod.exports, requireFrom(file), mod, file, dirname(file));
  // MTLS_CODE_CACHE_TRAIN=1 (the build's): rewrite even a cache that was used, with what this run
  // compiled besides, so that the cache a few typical commands leave behind holds their functions.
  const train = dirname(file) !== vendor && process.env.MTLS_CODE_CACHE_TRAIN === "1";
  if ((cachedData === undefined || script.cachedDataRejected || train) && writable(file)) {
    process.once("beforeExit", () => {
      const tmp = `${file}.cache.${process.pid}.tmp`;
      try {
        // A new file only (a link planted at the name is not followed), never group- or world-writable.
        // Flushed before it takes the name: V8 does not check a cache's payload, so a cache torn by
        // a crash would abort every later run instead of being ignored.
        const fd = openSync(tmp, "wx", 0o644);
        try {
          writeFileSync(fd, Buffer.concat([Buffer.from(stampOf(bytes), "latin1"), bytes, script.createCachedData()]));
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(tmp, `${file}.cache`);
      } catch {
        rmSync(tmp, { force: true });
      }
    });
  }
  return mod.exports;
}

/**
 * Node modules that cost a run milliseconds to load (crypto, with the stream modules it pulls
 * in, ~2.5 ms of CPU; fs/promises ~1 ms) and that modules of the bundle import for what a given
 * command may never do (`mtls list` signs nothing). The bundle gets a stand-in that loads the
 * module on the first use of one of its exports: esbuild's output reads `mod.name` at each use
 * of a named import. Each is an object of functions and classes, none a function itself.
 */
const LAZY = new Set(["node:crypto", "node:fs/promises", "node:zlib", "node:net", "node:tls", "node:os", "node:child_process", "node:readline", "node:dns"]);
const lazy = new Map();
function lazyBuiltin(id) {
  let m;
  const real = () => {
    m ??= process.getBuiltinModule(id);
    return m;
  };
  return new Proxy(
    {},
    {
      get: (_, key) => real()[key],
      has: (_, key) => key in real(),
      ownKeys: () => Reflect.ownKeys(real()),
      getOwnPropertyDescriptor: (_, key) => {
        const d = Reflect.getOwnPropertyDescriptor(real(), key);
        return d && { ...d, configurable: true };
      },
    },
  );
}

/**
 * Node's require for the file, except that the bundle's own files (./…) load through load() and
 * built-ins come straight from process.getBuiltinModule: node:module's createRequire, which
 * brings in the ES module loader (~1 ms), is made only for a package the bundle leaves outside
 * (graphene-pk11) or for require.resolve.
 */
const vendored = new Map();
function requireFrom(file) {
  let nodeRequire;
  const node = () => (nodeRequire ??= process.getBuiltinModule("node:module").createRequire(file));
  const req = (id) => {
    if (dirname(file) !== vendor && LAZY.has(id)) {
      if (!lazy.has(id)) lazy.set(id, lazyBuiltin(id));
      return lazy.get(id);
    }
    if (!id.startsWith("./")) return process.getBuiltinModule(id) ?? node()(id);
    const path = join(dir, id);
    if (!vendored.has(path)) vendored.set(path, load(path));
    return vendored.get(path);
  };
  return Object.defineProperties(req, {
    resolve: { get: () => node().resolve },
    cache: { get: () => node().cache },
    main: { get: () => node().main },
  });
}

try {
  load(router);
} catch (err) {
  if (!(err && err.code === "ENOENT" && err.path === router)) throw err;
  process.stderr.write("error: mtls is not built; run `npm install && npm run build` in its directory\n");
  process.exitCode = 5;
}
