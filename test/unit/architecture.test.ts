// #15: the core's shape, enforced. One session and one transaction path (store/ + session.ts),
// no mutable module-level state in core/, core never reaching into the CLI, and direct file
// system access in core/ held to the modules that have it today (new code reads and writes
// the store through the session).
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import test from "node:test";
import { ROOT } from "../helpers/run.js";

async function coreSources(): Promise<Array<{ file: string; text: string; imports: string[] }>> {
  const dir = join(ROOT, "src/core");
  const out = [];
  for (const f of await readdir(dir, { recursive: true })) {
    if (!f.endsWith(".ts")) continue;
    const text = await readFile(join(dir, f), "utf8");
    const imports = [...text.matchAll(/^(?:import|export)[^"';]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm)].map((m) => m[1] ?? m[2] ?? "");
    out.push({ file: relative(ROOT, join(dir, f)), text, imports });
  }
  return out;
}

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
    if (file.startsWith("src/core/store/") || file === "src/core/session.ts" || file === "src/core/audit/audit.ts") continue;
    const named = [...text.matchAll(/^import\s*\{([^}]*)\}\s*from\s*["']([^"']+)["']/gm)].flatMap((m) => (m[1] ?? "").split(",").map((n) => n.trim()));
    for (const n of ["StoreWriter", "withLock", "stageAudit", "appendAudit", "breakStale"]) assert.ok(!named.includes(n), `${file} imports ${n}`);
    assert.ok(!imports.includes("../store/directory.js") || file === "src/core/session.ts", `${file} reaches past the session into the directory storage`);
  }
});

// Modules outside store/ that still touch the file system directly. Many read store files by
// path (being moved behind the Storage interface); the others read and write files the user
// names (--out, --csr, gateway configs), which is not store data. The list may only shrink.
const FS_USERS = new Set([
  "src/core/audit/audit.ts",
  "src/core/bundle/export.ts",
  "src/core/bundle/home-key.ts",
  "src/core/bundle/open.ts",
  "src/core/ca/init.ts",
  "src/core/ca/material.ts",
  "src/core/ca/show.ts",
  "src/core/crl/history.ts",
  "src/core/crl/publish.ts",
  "src/core/crl/show.ts",
  "src/core/demo/demo.ts",
  "src/core/gateway/config.ts",
  "src/core/gateway/serve.ts",
  "src/core/input.ts",
  "src/core/issue/issue.ts",
  "src/core/ocsp/canary.ts",
  "src/core/ocsp/responder-cert.ts",
  "src/core/p12/p12.ts",
  "src/core/probe/credentials.ts",
  "src/core/probe/record.ts",
  "src/core/revocation/serve.ts",
  "src/core/server/issue.ts",
  "src/core/templates.ts",
]);

test("only store/ touches the file system, apart from the modules listed (a list that only shrinks)", async () => {
  const users: string[] = [];
  for (const { file, imports } of await coreSources()) {
    if (file.startsWith("src/core/store/")) continue;
    if (imports.some((i) => i === "node:fs" || i === "node:fs/promises" || i === "fs" || i === "fs/promises")) users.push(file);
  }
  assert.deepEqual(
    users.filter((u) => !FS_USERS.has(u)),
    [],
    "a new core module touches the file system: read and write the store through the session (pki.transact, tx.get)",
  );
});
