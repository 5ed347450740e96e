// #15: the core's shape, enforced. One session and one transaction path (store/ + session.ts),
// no mutable module-level state in core/, core never reaching into the CLI, and direct file
// system access in core/ held to the modules that have it today (new code reads and writes
// the store through the session).
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import test from "node:test";
import { ROOT } from "../helpers/run.js";

/** Every TypeScript module under the given folders, with the modules it imports. */
async function sources(subs: readonly string[]): Promise<Array<{ file: string; text: string; imports: string[] }>> {
  const out = [];
  for (const sub of subs) {
    const dir = join(ROOT, sub);
    for (const f of await readdir(dir, { recursive: true })) {
      if (!f.endsWith(".ts")) continue;
      const text = await readFile(join(dir, f), "utf8");
      const imports = [...text.matchAll(/^(?:import|export)[^"';]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm)].map((m) => m[1] ?? m[2] ?? "");
      out.push({ file: relative(ROOT, join(dir, f)), text, imports });
    }
  }
  return out;
}

const coreSources = () => sources(["src/core"]);
const allSources = () => sources(["src/core", "src/cli"]);

test("core never imports from cli/", async () => {
  for (const { file, imports } of await coreSources()) {
    for (const i of imports) assert.ok(!/(^|\/)cli\//.test(i), `${file} imports ${i}`);
  }
});

// Caches that hold no behaviour (memoised pure results, a lazily loaded library) are allowed by name.
const ALLOWED_STATE = new Set([
  "src/core/bundle/pgp.ts:loaded",
  "src/core/crl/encode.ts:reasonExtensions",
  // #21: x509 loaded on first use; OIDs encoded once; per-certificate facts and TLS contexts of a probe run.
  "src/core/pki.ts:loaded",
  "src/core/der.ts:oidCache",
  "src/core/probe/attempt.ts:facts",
  "src/core/probe/attempt.ts:contexts",
]);

test("no mutable module-level state in core/ (top-level let/var, or a Map/Set filled at run time)", async () => {
  const found: string[] = [];
  for (const { file, text } of await coreSources()) {
    for (const m of text.matchAll(/^(?:export )?(?:let|var) +([A-Za-z_$][\w$]*)/gm)) found.push(`${file}:${m[1]}`);
    for (const m of text.matchAll(/^(?:export )?const +([A-Za-z_$][\w$]*)(?::[^=]+)? *= *new (?:Map|WeakMap)(?:<[^>]*>)?\(\)/gm)) found.push(`${file}:${m[1]}`);
  }
  assert.deepEqual(
    found.filter((f) => !ALLOWED_STATE.has(f)),
    [],
  );
  // The audit actor and the crash hook travel in the session now.
  const all = (await coreSources()).map((s) => s.text).join("\n");
  assert.doesNotMatch(all, /setAuditActor|setDurableStepHook/);
});

test("the transaction ritual (lock, StoreWriter, audit staging) exists only under store/ and the session", async () => {
  for (const { file, imports, text } of await coreSources()) {
    if (file.startsWith("src/core/store/") || file === "src/core/session.ts") continue;
    const named = [...text.matchAll(/^import\s*\{([^}]*)\}\s*from\s*["']([^"']+)["']/gm)].flatMap((m) => (m[1] ?? "").split(",").map((n) => n.trim()));
    for (const n of ["StoreWriter", "withLock", "stageAudit", "appendAudit", "breakStale"]) assert.ok(!named.includes(n), `${file} imports ${n}`);
    assert.ok(!imports.includes("../store/directory.js") || file === "src/core/session.ts", `${file} reaches past the session into the directory storage`);
  }
});

// Modules outside store/ that touch the file system. None of them reads or writes store data:
// that goes through the session (pki.storage, tx). user-files.ts holds the files the user names
// (--out, --csr, a bundle to open, a gateway's output directory, the CRL publish directory),
// input.ts reads user input with a size bound, templates.ts reads mtls's own templates. doctor/
// checks the directory itself (temporaries, modes, torn tails) until those checks move under
// store/. The list may only shrink.
const FS_USERS = new Set(["src/core/input.ts", "src/core/templates.ts", "src/core/user-files.ts"]);

const FS_MODULES = new Set(["node:fs", "node:fs/promises", "fs", "fs/promises"]);

test("only store/ touches the file system, apart from the modules listed (a list that only shrinks)", async () => {
  const users: string[] = [];
  for (const { file, imports } of await coreSources()) {
    if (file.startsWith("src/core/store/")) continue;
    if (imports.some((i) => FS_MODULES.has(i))) users.push(file);
  }
  assert.deepEqual(
    users.filter((u) => !FS_USERS.has(u)),
    [],
    "a new core module touches the file system: read and write the store through the session (pki.storage, pki.transact, tx.get), files the user names through user-files.ts",
  );
  assert.deepEqual(
    [...FS_USERS].filter((u) => !users.includes(u)),
    [],
    "a listed module no longer touches the file system: take it off the list",
  );
});

// Store paths are known under store/ only: a module outside it that imports the directory
// layout, asks for one (layoutOf, pki.layout), opens a store by its path (openStore) or reaches
// for the store's file writer would read store data past the storage interface. Each list may
// only shrink.
const LAYOUT_USERS = new Set<string>([]);
/** Where a store is opened by its location: the session alone (openPki), besides store/ itself. */
const STORE_OPENERS = new Set(["src/core/session.ts"]);
const STORE_FS_USERS = new Set([
  // The transaction path (files outside the store in the same commit), and the atomic writer
  // re-exported for files the user names.
  "src/core/session.ts",
  "src/core/user-files.ts",
  // parallel() (a bounded Promise pool) lives in store/fs.ts; batch also writes the user's files.
  "src/core/doctor/identity-check.ts",
  "src/core/issue/batch.ts",
]);

test("no module outside store/ knows a store path: the layout, layoutOf, openStore and the store's writer stay under store/ (lists that only shrink)", async () => {
  const found = { layout: [] as string[], openers: [] as string[], storeFs: [] as string[] };
  for (const { file, text, imports } of await allSources()) {
    if (file.startsWith("src/core/store/")) continue;
    if (imports.some((i) => /(^|\/)store\/layout\.js$/.test(i)) || /\blayoutOf\s*\(/.test(text) || /\bpki\.layout\b/.test(text)) found.layout.push(file);
    if (
      imports.some((i) => /(^|\/)store\/(store|directory|sql\/storage)\.js$/.test(i)) ||
      /\b(openStore|directoryReader)\s*\(|\bnew\s+(DirectoryStorage|SqlStorage)\b/.test(text)
    )
      found.openers.push(file);
    if (imports.some((i) => /(^|\/)store\/fs\.js$/.test(i))) found.storeFs.push(file);
  }
  assert.deepEqual(
    found.layout.sort(),
    [...LAYOUT_USERS].sort(),
    "read the store through pki.storage (get, getSecret, list, readJournal), name a blob with where(key)",
  );
  assert.deepEqual(found.openers.sort(), [...STORE_OPENERS].sort(), "take the session the CLI opened (pki: Pki) instead of opening the store by its location");
  assert.deepEqual(found.storeFs.sort(), [...STORE_FS_USERS].sort(), "write files the user names through user-files.ts, store data through pki.transact");
});

// #15: the CLI opens the PKI once and hands the session over; a core function that takes the
// store's directory would open it again. ca/init.ts creates the store and demo/ builds its own.
const LOCATION_TAKERS = ["src/core/store/", "src/core/session.ts", "src/core/ca/init.ts", "src/core/demo/"];

/** The text between the bracket at `open` and its match. */
function balanced(text: string, open: number): string {
  const pairs: Record<string, string> = { "(": ")", "{": "}", "<": ">" };
  const stack: string[] = [];
  for (let i = open; i < text.length; i++) {
    const c = text[i] as string;
    if (c in pairs) stack.push(pairs[c] as string);
    else if (c === stack.at(-1)) {
      stack.pop();
      if (stack.length === 0) return text.slice(open + 1, i);
    }
  }
  return text.slice(open + 1);
}

/** Exported functions whose parameters, or the fields of the types they name, include `pkiDir`. */
function pkiDirTakers(sources: ReadonlyArray<{ file: string; text: string }>): string[] {
  const types = new Map<string, string>();
  for (const { text } of sources)
    for (const m of text.matchAll(/^(?:export )?(?:interface (\w+)[^{]*|type (\w+)(?:<[^>]*>)? = )\{/gm))
      types.set((m[1] ?? m[2]) as string, balanced(text, (m.index ?? 0) + m[0].length - 1));
  const takesDir = (params: string, seen = new Set<string>()): boolean => {
    if (/\bpkiDir\b/.test(params)) return true;
    return [...params.matchAll(/\b([A-Z]\w*)\b/g)].some(([, name]) => {
      if (!name || seen.has(name) || !types.has(name)) return false;
      seen.add(name);
      return takesDir(types.get(name) as string, seen);
    });
  };
  const found: string[] = [];
  for (const { file, text } of sources)
    for (const m of text.matchAll(/^export (?:async )?function\*? *(\w+) *(?:<[^(]*>)? *\(/gm))
      if (takesDir(balanced(text, (m.index ?? 0) + m[0].length - 1))) found.push(`${file}:${m[1]}`);
  return found;
}

test("the check for core functions that take the store's directory finds one", () => {
  const sample = [
    "export interface ListParams { partner?: string; pkiDir: string }",
    "export interface ShownResult { pkiDir: string }",
    "export async function listA(p: ListParams): Promise<ShownResult> {}",
    "export function listB(p: { pkiDir: string; now: Date }) {}",
    "export async function listC(pkiDir: string, now: Date) {}",
    "export async function shown(pki: Pki, p: { partner?: string }): Promise<ShownResult> {}",
  ].join("\n");
  assert.deepEqual(pkiDirTakers([{ file: "sample.ts", text: sample }]), ["sample.ts:listA", "sample.ts:listB", "sample.ts:listC"]);
});

test("no core function outside store/, the session, ca init and the demo takes the store's directory (pkiDir): it takes the session", async () => {
  const core = await coreSources();
  const takers = pkiDirTakers(core).filter((t) => !LOCATION_TAKERS.some((l) => t.startsWith(l)));
  assert.deepEqual(takers, [], "take `pki: Pki` as the first parameter and read through pki.storage, pki.config(), pki.now");
});
