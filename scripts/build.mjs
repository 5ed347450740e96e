// Bundles the CLI for start-up speed (#21): one CommonJS file, run by bin/mtls.js through a V8
// code cache. Lazy imports (the core, openpgp, x509, the prompts) stay lazy inside it: esbuild
// wraps each in an init function that runs on first use. Why CommonJS and one file: ES modules
// cost Node's ESM loader per module and per chunk, and Node 20 has no code cache for them; a
// CommonJS script compiled with `cachedData` skips parsing what the cache holds. Measured by CPU
// time against `node -e 0` (BENCH.md, third round): `list` 1.62× as ES chunks, 1.40× as this bundle.
// Every runtime library is bundled, so the package has no dependencies: `npm install -g` of its
// tarball downloads nothing, and nothing it runs comes from devDependencies.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { build } from "esbuild";

// A clean slate: nothing stale (an old chunk, an old cache) ships in the package.
await rm(new URL("../dist/bundle/", import.meta.url), { recursive: true, force: true });

// Libraries only some commands load, each its own CommonJS file under vendor/, required on first
// use: the bundle every run reads and compiles stays small (openpgp, the prompts with iconv-lite,
// nodemailer and pg are 1.4 MB of its 2.9 MB). None of them shares state with mtls's own modules.
const VENDOR = ["openpgp", "@inquirer/prompts", "nodemailer", "pg"];
const vendorFile = (name) => `vendor/${name.replace("@", "").replace("/", "-")}.js`;
const common = {
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node20",
  // Whitespace and syntax only (names stay, for stack traces): a third less text to read and scan.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "none",
  charset: "ascii",
  logLevel: "warning",
  // Modules find the package root (templates/, package.json) or their own require from where they are.
  define: { "import.meta.url": "__mtlsModuleUrl" },
  banner: { js: 'var __mtlsModuleUrl=require("node:url").pathToFileURL(__filename).href;' },
};

// pg asks whether it runs in a Cloudflare Worker by constructing a fetch `Response`, and on Node 20
// (no `navigator`) that loads Node's whole fetch implementation, undici: ~10 ms of every command on
// a database store (a --cpu-prof of `ca show`). mtls runs on Node only, so pg gets Node's sockets.
const pgNodeStreams = {
  name: "pg-node-streams",
  setup(b) {
    b.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, () => ({
      contents: 'module.exports = { getStream: () => new (require("net").Socket)(), getSecureStream: (options) => require("tls").connect(options) };',
      loader: "js",
    }));
  },
};

await build({
  ...common,
  entryPoints: Object.fromEntries(VENDOR.map((name) => [vendorFile(name).slice(0, -3), name])),
  outdir: "dist/bundle",
  plugins: [pgNodeStreams],
});

// x509, the ASN.1 schemas and the Reflect polyfill share state (asn1-schema's registry of
// schemas), so they are one file, each package evaluated on first access, as inside the bundle.
const PECULIAR = [
  "reflect-metadata",
  "@peculiar/x509",
  "@peculiar/asn1-schema",
  "@peculiar/asn1-x509",
  "@peculiar/asn1-cms",
  "@peculiar/asn1-ocsp",
  "@peculiar/asn1-pfx",
  "@peculiar/asn1-rsa",
];
await build({
  ...common,
  stdin: {
    contents: [
      "const once = (load) => { let m; return () => (m ??= load()); };",
      ...PECULIAR.map((n) => `Object.defineProperty(exports, ${JSON.stringify(n)}, { enumerable: true, get: once(() => require(${JSON.stringify(n)})) });`),
    ].join("\n"),
    resolveDir: ".",
    sourcefile: "peculiar.js",
    loader: "js",
  },
  outfile: "dist/bundle/vendor/peculiar.js",
});

// Node modules a library loads at start-up for something mtls never or rarely does (#21): each
// loaded module is compiled on every run (tty ~2 ms of CPU). Built-ins required by name get the
// shim's lazy stand-ins instead (bin/mtls.js LAZY: commander's child_process among them); what
// is left here the shim cannot defer. The text replaced is checked, so a library update that
// moves it fails here.
const TRIMS = [
  {
    // chalk's colour detection (tty.isatty and os at load): every Chalk here gets its level from
    // colorEnabled in src/cli/output.ts, so the detected one is never used.
    file: /node_modules\/chalk\/source\/index\.js$/,
    from: "import supportsColor from '#supports-color';",
    to: "const supportsColor = { stdout: false, stderr: false };",
  },
];
const trims = {
  name: "trims",
  setup(b) {
    for (const t of TRIMS) {
      b.onLoad({ filter: t.file }, async (args) => {
        const text = await readFile(args.path, "utf8");
        if (!text.includes(t.from)) throw new Error(`${args.path} no longer has ${JSON.stringify(t.from)}: update TRIMS in scripts/build.mjs`);
        return { contents: text.replace(t.from, t.to), loader: "js", resolveDir: dirname(args.path) };
      });
    }
  },
};

// The CLI: main.js with every command, and a bundle of its own for each frequent command
// (src/cli/routes.ts), which holds that command and what it calls. Its entry point is made here:
// the command's registry (src/cli/entries/) run by startCli.
const { ROUTES, routeFile } = await import("../dist/src/cli/routes.js");
const root = dirname(dirname(new URL(import.meta.url).pathname));
const routeEntries = {
  name: "route-entries",
  setup(b) {
    b.onResolve({ filter: /^route-entry:/ }, (args) => ({ path: args.path.slice("route-entry:".length), namespace: "route-entry" }));
    b.onLoad({ filter: /.*/, namespace: "route-entry" }, (args) => ({
      contents: [
        `import { registry } from ${JSON.stringify(join(root, "src/cli/entries", args.path.replace(/\.js$/, ".ts")))};`,
        `import { startCli } from ${JSON.stringify(join(root, "src/cli/start.ts"))};`,
        "startCli(registry);",
      ].join("\n"),
      resolveDir: root,
      loader: "ts",
    }));
  },
};
const entryPoints = { main: "src/cli/main.ts" };
for (const route of ROUTES) entryPoints[routeFile(route).slice(0, -3)] = `route-entry:${routeFile(route).replace(/^cmd-/, "")}`;
const helpEntry = routeFile("--help").slice(0, -3);
// The top-level help runs no action, so what actions import on demand stays out of its bundle:
// such an import there is a module that fails, should one ever run (a test runs every route).
const noActions = {
  name: "no-actions",
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (args.kind === "dynamic-import" ? { path: args.path, namespace: "no-actions" } : undefined));
    b.onLoad({ filter: /.*/, namespace: "no-actions" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not in the help bundle: it runs no command`)});`,
      loader: "js",
    }));
  },
};
const { [helpEntry]: helpPoint, ...cliPoints } = entryPoints;
for (const [points, extra] of [
  [cliPoints, []],
  [{ [helpEntry]: helpPoint }, [noActions]],
])
  await build({
    ...common,
    entryPoints: points,
    outdir: "dist/bundle",
    sourcemap: "linked",
    // The PKCS#11 binding is a native addon, an optional dependency loaded only for token keys:
    // it cannot be bundled, and the bundle must load without it. It is CommonJS, so its import()
    // becomes require(): a script run through node:vm has no dynamic-import callback.
    external: ["graphene-pk11"],
    supported: { "dynamic-import": false },
    plugins: [
      ...extra,
      routeEntries,
      trims,
      {
        name: "vendor",
        setup(b) {
          b.onResolve({ filter: /^(openpgp|@inquirer\/prompts|nodemailer|pg)$/ }, (args) => ({ path: `./${vendorFile(args.path)}`, external: true }));
          b.onResolve({ filter: /^(reflect-metadata|@peculiar\/.*)$/ }, (args) => {
            if (!PECULIAR.includes(args.path)) throw new Error(`${args.path}: add it to PECULIAR in scripts/build.mjs`);
            return { path: args.path, namespace: "peculiar" };
          });
          b.onLoad({ filter: /.*/, namespace: "peculiar" }, (args) => ({
            contents: `module.exports = require("./vendor/peculiar.js")[${JSON.stringify(args.path)}];`,
            loader: "js",
          }));
          b.onResolve({ filter: /^\.\/vendor\//, namespace: "peculiar" }, (args) => ({ path: args.path, external: true }));
        },
      },
    ],
  });
// The router bin/mtls.js runs first: argv to bundle, a few hundred bytes.
await build({ ...common, entryPoints: ["src/cli/router.ts"], outfile: "dist/bundle/route.js", logLevel: "error" });

// bin/mtls.js reads each bundle as latin1, which is its text only if it is ASCII.
for (const name of (await readdir(new URL("../dist/bundle/", import.meta.url))).filter((n) => n.endsWith(".js"))) {
  const text = await readFile(new URL(`../dist/bundle/${name}`, import.meta.url));
  const nonAscii = text.findIndex((b) => b > 0x7f);
  if (nonAscii >= 0) throw new Error(`dist/bundle/${name} is not ASCII at byte ${nonAscii}`);
}

// A package.json next to the bundle fixes its format and ends Node's walk up for one.
await writeFile(new URL("../dist/bundle/package.json", import.meta.url), '{ "type": "commonjs" }\n');

// The code caches ship with the bundles: the first run of each writes its cache (bin/mtls.js),
// here `mtls help` main.js's (the help word is not routed), which compiles commander and every
// command's definition, then the training below every route's. Another Node version rejects them and writes its own on its
// first run, where it can.
const bin = new URL("../bin/mtls.js", import.meta.url).pathname;
const mtls = (args, o = {}) => {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", ...o, env: { ...process.env, NO_COLOR: "1", ...o.env } });
  if (r.status !== 0) throw new Error(`bin/mtls.js ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};
mtls(["help"]);
await trainCodeCache();

/**
 * Then typical commands run on a throwaway PKI, each adding to the cache the functions it
 * compiled (MTLS_CODE_CACHE_TRAIN): with only --help's, `status` or `inspect` compiled a tenth
 * of their instructions lazily (callgrind: 225 → 205 million instructions for `status`, 204 →
 * 188 for `inspect`, 163 → 159 for `list`; `--version` 133 → 138 for the larger cache).
 */
async function trainCodeCache() {
  const dir = await mkdtemp(join(tmpdir(), "mtls-build-"));
  try {
    const pki = ["--pki", join(dir, "pki")];
    mtls([...pki, "ca", "init", "--insecure-no-passphrase", "-q"]);
    await writeFile(join(dir, "p.csr"), await trainingCsr());
    const train = { env: { MTLS_CODE_CACHE_TRAIN: "1" }, cwd: dir };
    const serial = mtls([...pki, "partner", "issue", "p", "--csr", "p.csr", "--json"], train).match(/"serial": "([0-9a-f]+)"/)?.[1];
    if (!serial) throw new Error("the training issue printed no serial");
    for (const args of [
      ["--version"],
      ["--help"],
      ["list"],
      ["partner", "list"],
      ["partner", "show", "p"],
      ["audit"],
      ["ca", "show"],
      ["crl", "show"],
      ["cert", "show", serial],
      ["inspect", join(dir, "pki", "certs", `${serial}.pem`)],
      ["status"],
      ["doctor"],
      ["crl", "publish"],
      ["partner", "export", "--help"],
      ["revoke", serial, "--yes"],
    ])
      mtls([...pki, ...args], train);
    const untrained = ROUTES.filter((r) => !existsSync(new URL(`../dist/bundle/${routeFile(r)}.cache`, import.meta.url)));
    if (untrained.length) throw new Error(`no training run for ${untrained.join(", ")}: add one to trainCodeCache`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A P-256 CSR for the training issue, made with @peculiar/x509 (a development dependency). */
async function trainingCsr() {
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
  return (await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=p", keys, signingAlgorithm: alg })).toString("pem");
}
