import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { StoreWriter, writeFileAtomic } from "../../src/core/store/fs.js";
import { withLock } from "../../src/core/store/lock.js";

async function tmp(t: import("node:test").TestContext) {
  const d = await mkdtemp(join(tmpdir(), "mtls-unit-"));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

test("StoreWriter applies all writes or none: a failing rename restores the earlier files", async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, "a"), "old a");
  await mkdir(join(d, "c")); // renaming a file onto a directory fails
  const w = new StoreWriter().put(join(d, "a"), "new a").create(join(d, "b"), "new b").put(join(d, "c"), "new c");
  await assert.rejects(w.commit());
  assert.equal(await readFile(join(d, "a"), "utf8"), "old a");
  assert.deepEqual((await readdir(d)).sort(), ["a", "c"]);
});

test("StoreWriter.create refuses to replace an existing file", async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, "x"), "keep");
  await assert.rejects(new StoreWriter().create(join(d, "x"), "new").commit(), (e: Error & { code?: string }) => e.code === "ERR_EXISTS");
  assert.equal(await readFile(join(d, "x"), "utf8"), "keep");
});

test("writeFileAtomic replaces a planted symlink instead of writing through it", async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, "victim"), "untouched");
  await symlink(join(d, "victim"), join(d, "index.jsonl"));
  await writeFileAtomic(join(d, "index.jsonl"), "ours");
  assert.equal(await readFile(join(d, "victim"), "utf8"), "untouched");
  assert.equal(await readFile(join(d, "index.jsonl"), "utf8"), "ours");
});

test("withLock serialises critical sections and takes over a lock left by a dead process", async (t) => {
  const d = await tmp(t);
  const lock = join(d, ".lock");
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    Array.from({ length: 10 }, () =>
      withLock(lock, async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        await new Promise((r) => setTimeout(r, 5));
        inside--;
      }),
    ),
  );
  assert.equal(maxInside, 1);
  // A lock file whose pid is not running on this host is stale.
  const { hostname } = await import("node:os");
  await writeFile(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), nonce: "dead", since: "x", purpose: "crashed" }));
  assert.equal(await withLock(lock, async () => "taken over", { timeoutMs: 2000 }), "taken over");
  assert.deepEqual(await readdir(d), []);
});

test("withLock gives up with ERR_LOCKED naming the holder", async (t) => {
  const d = await tmp(t);
  const lock = join(d, ".lock");
  const { hostname } = await import("node:os");
  await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), nonce: "live", since: "2026-01-01T00:00:00Z", purpose: "partner issue" }));
  await assert.rejects(
    withLock(lock, async () => 1, { timeoutMs: 100 }),
    (e: Error & { code?: string }) => e.code === "ERR_LOCKED" && /pid \d+ .*partner issue/.test(e.message),
  );
});
