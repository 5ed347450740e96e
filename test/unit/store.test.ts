import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { INTENT_FILE, pendingCommit } from "../../src/core/store/commit-intent.js";
import { StoreWriter, writeFileAtomic } from "../../src/core/store/fs.js";
import { breakStale, readLock, withLock } from "../../src/core/store/lock.js";

async function tmp(t: import("node:test").TestContext) {
  const d = await mkdtemp(join(tmpdir(), "mtls-unit-"));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

test("StoreWriter.create refuses to replace an existing file", async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, "x"), "keep");
  await assert.rejects(
    new StoreWriter({ root: d, path: join(d, INTENT_FILE) }).create(join(d, "x"), "new").commit(),
    (e: Error & { code?: string }) => e.code === "ERR_EXISTS",
  );
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

test("StoreWriter.writeOutside: files outside the store after its new files, before the commit point; removed when the commit fails, a replaced one put back as it was", async (t) => {
  const d = await tmp(t);
  const user = await tmp(t);
  await writeFile(join(d, "a"), "old a");
  await writeFile(join(d, "log"), "line 1\n");
  await writeFile(join(user, "x.pem"), "old certificate");
  const steps: string[] = [];
  const step = (what: string, path: string) => {
    steps.push(`${what} ${path.replace(`${d}/`, "").replace(`${user}/`, "user/")}`);
    if (what === "append") throw new Error("the disk went away");
  };
  const w = new StoreWriter({ root: d, path: join(d, ".commit") }, step)
    .put(join(d, "a"), "new a")
    .writeOutside(join(user, "x.key"), "key", 0o600, true)
    .writeOutside(join(user, "x.pem"), "new certificate", 0o644, false)
    .create(join(d, "cert"), "certificate")
    .append(join(d, "log"), "line 2\n", 7);
  await assert.rejects(w.commit(), /the disk went away/);
  // Undone newest first: the copies outside before the store's certificate, so that a crash while
  // undoing never leaves a certificate outside that the store holds no trace of.
  assert.deepEqual(steps, [
    "create cert",
    "rename user/x.key",
    "rename user/x.pem",
    "commit .commit",
    "rename a",
    "append log",
    "remove user/x.pem",
    "remove user/x.key",
    "remove cert",
  ]);
  // Undone: the store as it was, and no file outside holds a certificate the store lacks; the
  // file replaced is the user's again, and no backup of it is left.
  assert.equal(await readFile(join(d, "a"), "utf8"), "old a");
  assert.deepEqual((await readdir(d)).sort(), ["a", "log"]);
  assert.deepEqual(await readdir(user), ["x.pem"]);
  assert.equal(await readFile(join(user, "x.pem"), "utf8"), "old certificate");
});

test("StoreWriter.writeOutside: a commit of new files only that fails puts a replaced file back; one that succeeds leaves no backup", async (t) => {
  const d = await tmp(t);
  const user = await tmp(t);
  await writeFile(join(d, "log"), "line 1\n");
  await writeFile(join(user, "x.pem"), "old certificate");
  const failing = (what: string) => {
    if (what === "append") throw new Error("the disk went away");
  };
  const stage = (step?: (what: string, path: string) => void) =>
    new StoreWriter({ root: d, path: join(d, ".commit") }, step)
      .writeOutside(join(user, "x.pem"), "new certificate", 0o644, false)
      .create(join(d, "cert"), "certificate")
      .append(join(d, "log"), "line 2\n", 7);
  await assert.rejects(stage(failing).commit(), /the disk went away/);
  assert.deepEqual((await readdir(d)).sort(), ["log"]);
  assert.deepEqual(await readdir(user), ["x.pem"]);
  assert.equal(await readFile(join(user, "x.pem"), "utf8"), "old certificate");
  await stage().commit();
  assert.deepEqual(await readdir(user), ["x.pem"]);
  assert.equal(await readFile(join(user, "x.pem"), "utf8"), "new certificate");
});

test("writeFileAtomic removes the temporaries of the same file that a killed writer left, and only those", async (t) => {
  const d = await tmp(t);
  const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
  const stale = `.x.key.tmp-${dead}-0123abcd`;
  const live = `.x.key.tmp-${process.ppid}-0123abcd`;
  const other = `.y.key.tmp-${dead}-0123abcd`;
  for (const name of [stale, live, other]) await writeFile(join(d, name), "secret");
  await writeFileAtomic(join(d, "x.key"), "key", { mode: 0o600, exclusive: true });
  assert.deepEqual((await readdir(d)).sort(), [live, other, "x.key"].sort());
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

test("withLock names a holder whose record has only pid and host, without 'undefined'", async (t) => {
  const d = await tmp(t);
  const lock = join(d, ".lock");
  const { hostname } = await import("node:os");
  await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname() }));
  await assert.rejects(
    withLock(lock, async () => 1, { timeoutMs: 100 }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "ERR_LOCKED");
      assert.equal(e.message, `the PKI is locked by pid ${process.pid} on ${hostname()}`);
      return true;
    },
  );
});

test("withLock holds across processes that exit the moment they release (no stale-lock break of a live lock)", async (t) => {
  const d = await tmp(t);
  const lock = join(d, ".lock");
  const inside = join(d, "inside");
  // Each child takes the lock once, proves it is alone by creating `inside` exclusively, then exits:
  // a waiter that read the previous holder's lock now sees a dead pid, the case that must not
  // cost the next live holder its lock.
  const child = `
    import { open, unlink } from "node:fs/promises";
    import { withLock } from ${JSON.stringify(new URL("../../src/core/store/lock.js", import.meta.url).href)};
    await withLock(${JSON.stringify(lock)}, async () => {
      const fh = await open(${JSON.stringify(inside)}, "wx").catch(() => { console.log("overlap"); process.exit(2); });
      await fh.close();
      await new Promise((r) => setTimeout(r, 3));
      await unlink(${JSON.stringify(inside)});
    });
  `;
  const { spawn } = await import("node:child_process");
  const runOne = () =>
    new Promise<number>((resolve) => {
      const p = spawn(process.execPath, ["--input-type=module", "-e", child], { stdio: ["ignore", "pipe", "inherit"] });
      p.on("exit", (code) => resolve(code ?? -1));
    });
  for (let round = 0; round < 3; round++) {
    const codes = await Promise.all(Array.from({ length: 16 }, runOne));
    assert.deepEqual(
      codes.filter((c) => c !== 0),
      [],
      `round ${round}: a process found another inside the lock`,
    );
  }
  assert.deepEqual(await readdir(d), []);
});

test("breaking a stale lock spares a live lock that replaced it, even one not yet written", async (t) => {
  const d = await tmp(t);
  const lock = join(d, ".lock");
  const { hostname } = await import("node:os");
  const dead = JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), nonce: "dead", since: "x", purpose: "crashed" });
  // A waiter read the dead holder's lock...
  await writeFile(lock, dead);
  const seen = await readLock(lock);
  assert.equal(seen?.info?.nonce, "dead");
  // ...and before it acts, the lock was released and a live process created a new, still empty one.
  await rm(lock);
  await writeFile(lock, "");
  await breakStale(lock, seen as NonNullable<typeof seen>);
  assert.equal(await readFile(lock, "utf8"), "", "the live lock is still there");
  // The same with the live lock written: another nonce, so it stays.
  const live = JSON.stringify({ pid: process.pid, host: hostname(), nonce: "live", since: "y", purpose: "revoke" });
  await writeFile(lock, live);
  await breakStale(lock, seen as NonNullable<typeof seen>);
  assert.equal(await readFile(lock, "utf8"), live);
  // The dead holder's own lock is removed, and the breakers' turn file with it.
  await rm(lock);
  await writeFile(lock, dead);
  await breakStale(lock, (await readLock(lock)) as NonNullable<typeof seen>);
  assert.deepEqual(await readdir(d), []);
});

test("StoreWriter with an intent record: a failure after the commit point undoes every write, backups and record included", async (t) => {
  const d = await tmp(t);
  await writeFile(join(d, "a"), "old a");
  await writeFile(join(d, "b"), "old b");
  await writeFile(join(d, "log"), "line 1\n");
  let renames = 0;
  const step = (what: string) => {
    if (what === "rename" && ++renames === 2) throw new Error("the disk went away");
  };
  const w = new StoreWriter({ root: d, path: join(d, ".commit") }, step)
    .put(join(d, "a"), "new a")
    .put(join(d, "b"), "new b")
    .createAtCommit(join(d, "c"), "new c")
    .append(join(d, "log"), "line 2\n", 7);
  await assert.rejects(w.commit(), /the disk went away/);
  assert.equal(await readFile(join(d, "a"), "utf8"), "old a");
  assert.equal(await readFile(join(d, "b"), "utf8"), "old b");
  assert.equal(await readFile(join(d, "log"), "utf8"), "line 1\n");
  assert.deepEqual((await readdir(d)).sort(), ["a", "b", "log"]);
});

test("an intent record is trusted only as far as it is whole and names files of the store", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "mtls-intent-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const record = join(root, INTENT_FILE);
  const write = (state: string, body: string, hash = createHash("sha256").update(body).digest("hex")) => writeFile(record, `${state} ${hash}\n${body}`);
  const refused = async (why: RegExp) =>
    assert.rejects(pendingCommit(root), (e: Error & { code?: string }) => ["ERR_STORE_CORRUPT", "ERR_SYMLINK"].includes(e.code ?? "") && why.test(e.message));
  const outsidePut = (path: string) => JSON.stringify({ puts: [{ path, tmp: "ca/.x.tmp", bak: "ca/.x.bak", existed: true }], links: [], appends: [] });
  // Paths outside the store (absolute, climbing out), and the record or the lock themselves.
  for (const p of ["/etc/passwd", "../outside/victim.txt", "ca/../../outside", ".commit", ".lock"]) {
    await write("C", outsidePut(p));
    await refused(/is not a file of the store/);
  }
  await write("C", JSON.stringify({ puts: [], links: [], appends: [{ path: "../journal.txt", at: 0, data: "UFdORUQK" }] }));
  await refused(/is not a file of the store/);
  // Whole by its hash, yet not a record: damage, never an exception of the parser.
  for (const body of ["{not json", "{}", JSON.stringify({ puts: [{ path: "a", tmp: 5, bak: "b", existed: true }], links: [], appends: [] })]) {
    await write("C", body);
    await refused(/is not an intent record/);
  }
  // Only a record still being prepared can be cut short; a committed one that fails its hash is damage.
  await write("C", outsidePut("ca/root.pem"), "0".repeat(64));
  await refused(/marked committed but its content does not match its hash/);
  await write("P", outsidePut("ca/root.pem"), "0".repeat(64));
  assert.deepEqual(await pendingCommit(root), { path: record, state: "P" });
  // Not a regular file: refused at once (a FIFO would block a plain read), never followed through a link.
  await rm(record);
  assert.equal(spawnSync("mkfifo", [record]).status, 0);
  await refused(/is not a regular file/);
  await rm(record);
  await symlink("/dev/zero", record);
  await refused(/symbolic link/);
  // A record of the store's own files is read as written, its paths made absolute.
  await rm(record);
  await write("C", outsidePut("ca/root.pem"));
  assert.equal((await pendingCommit(root))?.intent?.puts[0]?.path, join(root, "ca/root.pem"));
});
