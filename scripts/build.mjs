// Bundles the CLI for start-up speed: one ESM entry plus chunks per lazy import (the core,
// openpgp, the prompts), so `mtls --help` loads one small file instead of dozens of
// modules, and x509's CommonJS build is not re-parsed by Node's CJS lexer on every run.
// Measured on the project machine: `mtls --help` 211 ms unbundled, 171 ms bundled; node -e 0 120 ms.
// Every runtime library is bundled, so the package has no dependencies: `npm install -g` of its
// tarball downloads nothing, and nothing it runs comes from devDependencies.
import { rm, writeFile } from "node:fs/promises";
import { build } from "esbuild";

// Chunk names carry content hashes: without a clean slate, stale chunks pile up and ship in the package.
await rm(new URL("../dist/bundle/", import.meta.url), { recursive: true, force: true });

await build({
  entryPoints: ["src/cli/main.ts"],
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  logLevel: "warning",
  // The PKCS#11 binding is a native addon, an optional dependency loaded only for token keys:
  // it cannot be bundled, and the bundle must load without it.
  external: ["graphene-pk11"],
  // Bundled CommonJS dependencies call require() for Node built-ins; ESM has none by default.
  // Made on first use: reading import.meta in every chunk made Node build each chunk's
  // import.meta (a fileURLToPath per chunk, ~1-3 ms of start-up in all, #21).
  banner: {
    js: "import { createRequire as __mtlsCreateRequire } from 'node:module'; let __mtlsRequire; const require = (id) => (__mtlsRequire ??= __mtlsCreateRequire(import.meta.url))(id);",
  },
});

// Node looks up the nearest package.json of every module it loads to learn its format; one next
// to the chunks ends the walk up to the project's at the first step (~1-2 ms of start-up, #21).
await writeFile(new URL("../dist/bundle/package.json", import.meta.url), '{ "type": "module" }\n');
