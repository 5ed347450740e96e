// The intent record of a commit that changes existing files (README "Durable order of writes"):
// `<store>/.commit` lists every name the commit will change, so that a crash at any point leaves
// a store the next writer (or `doctor --fix`) puts back together as one unit. Its first byte is
// the commit's state: P (prepared: only new names exist, the commit is undone), C (committed:
// it is completed from its temporaries and the appended text it holds) or A (aborted after C by
// a failure in the writing process: undone from the backups of the replaced files).
import { createHash } from "node:crypto";
import { constants, readFileSync } from "node:fs";
import { link, lstat, open, rename, truncate, unlink } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { envError, fsError } from "../errors.js";
import { storeKeys } from "./keys.js";
import type { Storage } from "./storage.js";
import { statIfThere, withStoreFile } from "./store-file.js";

export const INTENT_FILE = ".commit";

export type IntentState = "P" | "C" | "A";

export interface Intent {
  /** Replaced files, in rename order: the temporary holding the new version, the old one's backup. */
  puts: Array<{ path: string; tmp: string; bak: string; existed: boolean }>;
  /** New files that appear only at the commit (linked from their temporary). */
  links: Array<{ path: string; tmp: string }>;
  /** Journal appends: the intact length before, and the bytes appended at it (base64). */
  appends: Array<{ path: string; at: number; data: string }>;
}

/** The paths of an intent as stored: relative to the store, so that a copied store recovers itself. */
function mapPaths(i: Intent, f: (p: string) => string): Intent {
  return {
    puts: i.puts.map((p) => ({ ...p, path: f(p.path), tmp: f(p.tmp), bak: f(p.bak) })),
    links: i.links.map((l) => ({ path: f(l.path), tmp: f(l.tmp) })),
    appends: i.appends.map((a) => ({ ...a, path: f(a.path) })),
  };
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

/** `<state> <sha-256 of the body>\n<body>`: a record cut short by a crash fails its hash. */
export function encodeIntent(root: string, intent: Intent): string {
  const body = JSON.stringify(
    mapPaths(intent, (p) => {
      // Recovery acts only on files of the store (inStore): a commit never lists another.
      if (!p.startsWith(`${root}/`)) throw new Error(`an intent record names ${p}, outside the store ${root}`);
      return relative(root, p);
    }),
  );
  return `P ${sha256(body)}\n${body}`;
}

export interface PendingCommit {
  path: string;
  state: IntentState;
  /** Undefined when the record is cut short: written, never flushed, so nothing was changed yet. */
  intent?: Intent;
}

const damagedRecord = (path: string, why: string) =>
  envError("ERR_STORE_CORRUPT", `${path} is damaged: ${why}`, "restore the store from your backup (the record says which files an interrupted commit changed)");

const isString = (v: unknown): v is string => typeof v === "string";
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const listOf = (v: unknown, ok: (x: Record<string, unknown>) => boolean) => Array.isArray(v) && v.every((x) => isObject(x) && ok(x));

/** The record's body as an Intent, when it has exactly that shape. */
function intentOf(body: string): Intent | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObject(v)) return undefined;
  const ok =
    listOf(v.puts, (x) => isString(x.path) && isString(x.tmp) && isString(x.bak) && typeof x.existed === "boolean") &&
    listOf(v.links, (x) => isString(x.path) && isString(x.tmp)) &&
    listOf(v.appends, (x) => isString(x.path) && Number.isSafeInteger(x.at) && (x.at as number) >= 0 && isString(x.data));
  return ok ? (v as unknown as Intent) : undefined;
}

/**
 * A path of the record inside the store: recovery renames, links, truncates and removes what the
 * record names, so a planted record must not reach a file elsewhere, nor the record or the lock.
 */
function inStore(root: string, p: string): string | undefined {
  if (isAbsolute(p)) return undefined;
  const abs = resolve(root, p);
  const rel = relative(root, abs);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel) || rel === INTENT_FILE || rel === ".lock") return undefined;
  return abs;
}

/** The record file's bytes: a regular file, not followed through a link, never blocking on a FIFO. */
function readRecord(path: string): Buffer {
  return withStoreFile(
    path,
    (fd, st) => {
      if (!st.isFile()) throw damagedRecord(path, "it is not a regular file");
      return readFileSync(fd);
    },
    (e) => {
      throw fsError(e, path, "read");
    },
  );
}

/**
 * The intent record of a storage's interrupted commit, if one is there (for `status`, which
 * recovers nothing). Beside config.json, at the store's root; a storage without files (the
 * database) has none. One lstat.
 */
export function interruptedCommitOf(storage: Pick<Storage, "localPath">): string | undefined {
  const config = storage.localPath(storeKeys.config);
  const path = config === undefined ? undefined : join(dirname(config), INTENT_FILE);
  return path !== undefined && statIfThere(path) ? path : undefined;
}

/** The pending commit of the store at `root`, if any: one lstat when there is none. */
export async function pendingCommit(root: string): Promise<PendingCommit | undefined> {
  const path = join(root, INTENT_FILE);
  if (!statIfThere(path)) return undefined;
  const text = readRecord(path).toString("utf8");
  const m = /^([PCA]) ([0-9a-f]{64})\n/.exec(text);
  const body = m ? text.slice(m[0].length) : "";
  const state = (m?.[1] ?? "P") as IntentState;
  if (!m || sha256(body) !== m[2]) {
    // Only a record still being prepared can be cut short: C and A are written over a flushed record.
    if (state !== "P") throw damagedRecord(path, `it is marked ${state === "C" ? "committed" : "aborted"} but its content does not match its hash`);
    return { path, state: "P" };
  }
  const intent = intentOf(body);
  if (!intent) throw damagedRecord(path, "its content is not an intent record");
  let outside: string | undefined;
  const mapped = mapPaths(intent, (p) => {
    const abs = inStore(root, p);
    if (abs === undefined) outside ??= p;
    return abs ?? p;
  });
  if (outside !== undefined) throw damagedRecord(path, `it names ${JSON.stringify(outside)}, which is not a file of the store`);
  return { path, state, intent: mapped };
}

/** Sets the state byte in place (no new block to allocate, so a full disk cannot refuse it), flushed. */
export async function setIntentState(path: string, state: "C" | "A"): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_NOFOLLOW);
  try {
    await fh.write(state, 0);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const gone = async (path: string) => {
  await unlink(path).catch((e: NodeJS.ErrnoException) => (e.code === "ENOENT" ? undefined : Promise.reject(e)));
};
export const there = async (path: string) => (await lstat(path).catch(() => undefined)) !== undefined;

/** Whether `path` holds `data` at byte `at`: an append already made. */
async function holds(path: string, at: number, data: Buffer): Promise<boolean> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (!fh) return false;
  try {
    const buf = Buffer.alloc(data.length);
    const { bytesRead } = await fh.read(buf, 0, data.length, at);
    return bytesRead === data.length && buf.equals(data);
  } finally {
    await fh.close();
  }
}

/** Makes the append at `at` if it is not there (dropping whatever follows `at`), flushed. */
export async function redoAppend(path: string, at: number, data: Buffer, mode = 0o644): Promise<void> {
  if (await holds(path, at, data)) return;
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, mode);
  try {
    await fh.truncate(at);
    await fh.write(data, 0, data.length, at);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Completes a committed change: what it did not rename, link or append yet, it does now. */
async function rollForward(i: Intent, flush: (dirs: string[]) => Promise<void>): Promise<void> {
  for (const l of i.links) {
    if (!(await there(l.path))) {
      if (!(await there(l.tmp)))
        throw envError("ERR_STORE_CORRUPT", `${l.tmp} is missing: the commit that creates ${l.path} cannot be completed`, "restore the store from your backup");
      await link(l.tmp, l.path);
    }
    await gone(l.tmp);
  }
  for (const p of i.puts) if (await there(p.tmp)) await rename(p.tmp, p.path);
  await flush([...i.links, ...i.puts].map((x) => x.path));
  for (const a of i.appends) await redoAppend(a.path, a.at, Buffer.from(a.data, "base64"));
  await flush(i.appends.map((a) => a.path));
  for (const p of i.puts) await gone(p.bak);
  // The backups' removal durable before the record's (which the caller removes next): after a
  // power cut a backup never outlives the record that accounts for it.
  await flush(i.puts.map((p) => p.bak));
}

/** Undoes a change: the replaced files back from their backups, the appends cut off, the new names removed. */
async function rollBack(i: Intent, flush: (dirs: string[]) => Promise<void>): Promise<void> {
  for (const a of [...i.appends].reverse()) {
    const size = (await lstat(a.path).catch(() => undefined))?.size;
    if (size !== undefined && size > a.at) await truncate(a.path, a.at);
  }
  for (const p of [...i.puts].reverse()) {
    if (await there(p.bak)) {
      // Renaming a link of the same file is a no-op that keeps both names: the backup goes after.
      await rename(p.bak, p.path);
      await gone(p.bak);
    } else if (!p.existed && !(await there(p.tmp))) await gone(p.path);
    await gone(p.tmp);
  }
  for (const l of [...i.links].reverse()) {
    const [a, b] = await Promise.all([lstat(l.tmp).catch(() => undefined), lstat(l.path).catch(() => undefined)]);
    // The target is this commit's own when it is its temporary's link, or the temporary is gone (linked, then removed).
    if (b && (!a || a.ino === b.ino)) await gone(l.path);
    await gone(l.tmp);
  }
  await flush([...i.puts, ...i.links, ...i.appends].map((x) => x.path));
}

/**
 * Finishes a pending commit as one unit, under the store lock: completed when it was committed,
 * undone otherwise; then its record is removed, and that removal flushed before any later
 * commit can change a name it lists.
 */
export async function recoverCommit(p: PendingCommit, flushDir: (dir: string) => Promise<void>): Promise<"completed" | "undone"> {
  const flush = (paths: string[]) => Promise.all([...new Set(paths.map((x) => dirname(x)))].map(flushDir)).then(() => {});
  const i = p.intent;
  try {
    if (i && p.state === "C") await rollForward(i, flush);
    else if (i && p.state === "A") await rollBack(i, flush);
    else if (i) for (const x of [...i.puts, ...i.links]) await gone(x.tmp);
  } catch (err) {
    if (err instanceof Error && err.name === "MtlsError") throw err;
    throw fsError(err, p.path, "recover the interrupted commit of");
  }
  await gone(p.path);
  await flushDir(dirname(p.path));
  return p.state === "C" ? "completed" : "undone";
}

/** The files of a pending commit that are its own temporaries and backups (doctor leaves them to recovery). */
export function intentFiles(p: PendingCommit): Set<string> {
  const i = p.intent;
  return new Set(i ? [...i.puts.flatMap((x) => [x.tmp, x.bak]), ...i.links.map((x) => x.tmp)] : []);
}
