import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { link, open, stat, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { envError, fsError, MtlsError } from "../errors.js";

interface LockInfo {
  pid: number;
  host: string;
  nonce: string;
  since: string;
  purpose: string;
}

export interface LockOptions {
  /** Give up after this long (milliseconds). */
  timeoutMs?: number;
  /** What holds the lock, shown to whoever waits for it ("partner issue"). */
  purpose?: string;
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

export interface HeldLock {
  info?: LockInfo;
  ageMs: number;
  /** Identifies this very lock file: a new lock at the same path has another inode. */
  ino: number;
}

export async function readLock(path: string): Promise<HeldLock | undefined> {
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      // Content and inode from one open file, so they describe the same lock.
      const [text, st] = await Promise.all([fh.readFile("utf8"), fh.stat()]);
      const ageMs = Date.now() - st.mtimeMs;
      try {
        return { info: JSON.parse(text) as LockInfo, ageMs, ino: st.ino };
      } catch {
        return { ageMs, ino: st.ino };
      }
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/**
 * Who holds a lock, from the fields its record has: pid and host decide whether it is stale, so
 * they are there whenever someone waits; what it does and since when may be missing from a record
 * an older release or a person wrote.
 */
export function describeHolder(info: Partial<LockInfo>): string {
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const [host, purpose, since] = [text(info.host), text(info.purpose), text(info.since)];
  return [`pid ${info.pid}`, host && `on ${host}`, purpose && `(${purpose})`, since && `since ${since}`].filter(Boolean).join(" ");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` while holding the PKI's exclusive lock (a `.lock` file created with O_EXCL).
 * A lock left by a process that died on this host is detected by its pid and taken over, as is
 * an unreadable one (see isStale). Waits with jittered back-off.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const nonce = randomBytes(8).toString("hex");
  const mine: LockInfo = { pid: process.pid, host: hostname(), nonce, since: new Date().toISOString(), purpose: opts.purpose ?? "mtls" };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let delay = 10;
  for (;;) {
    if (await tryCreate(lockPath, mine)) break;
    const held = await readLock(lockPath);
    if (held && isStale(held)) {
      await breakStale(lockPath, held);
      continue;
    }
    if (Date.now() > deadline) {
      const by = held?.info ? describeHolder(held.info) : "another process";
      throw envError("ERR_LOCKED", `the PKI is locked by ${by}`, `wait for it to finish; if that process is gone, remove ${lockPath}`);
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    const held = await readLock(lockPath);
    if (held?.info?.nonce === nonce) await unlink(lockPath).catch(() => {});
  }
}

/**
 * Creates the lock complete or not at all: the record is written to a private file first and
 * linked into place with link(2), which fails with EEXIST when the lock is held. So a lock file
 * never exists empty or half-written, even when the disk is full (#13).
 */
async function tryCreate(lockPath: string, mine: LockInfo): Promise<boolean> {
  const tmp = `${lockPath}.${mine.nonce}`;
  try {
    await writeFile(tmp, JSON.stringify(mine), { mode: 0o600, flag: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW }).catch(
      (err: NodeJS.ErrnoException) => Promise.reject(NOT_WRITABLE.has(err.code ?? "") ? notWritable(lockPath, err) : err),
    );
    await link(tmp, lockPath);
    return true;
  } catch (err) {
    if (err instanceof MtlsError) throw err;
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fsError(err, lockPath, "create lock");
    return false;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/**
 * Why a new file cannot be made in the store's directory: a read-only mount (a backup), or a store
 * this user may read but not change. Only the lock's own record is judged by these: link(2)
 * fails with EPERM on file systems without hard links, which is no sign of a read-only store.
 */
const NOT_WRITABLE = new Set(["EROFS", "EACCES", "EPERM"]);

/** The lock of a store nobody here can write to: a check may read it without one (doctor does). */
function notWritable(lockPath: string, err: NodeJS.ErrnoException): MtlsError {
  const store = dirname(lockPath);
  const readOnly = err.code === "EROFS";
  return envError(
    "ERR_STORE_READ_ONLY",
    `cannot lock the store ${store}: ${readOnly ? "it is on a read-only file system" : "this user cannot write to it"}`,
    readOnly ? "remount it writable to change it" : "run the command as a user who may write to the store, or remount it writable",
    err,
  );
}

export type LockState = { held: false } | { held: true; stale: boolean; info?: LockInfo };

/**
 * Whether the lock is held and, if so, by a live holder: the liveness rule withLock itself
 * applies (doctor reports with it rather than a second implementation).
 */
export async function lockState(lockPath: string): Promise<LockState> {
  let held = await readLock(lockPath);
  // A holder that released its lock and exited between the read and the check of its pid looks
  // dead: its lock is only stale if it is still the one at the path (else judge what is there now).
  while (held && isStale(held)) {
    const now = await readLock(lockPath);
    if (now?.ino === held.ino) break;
    held = now;
  }
  if (!held) return { held: false };
  return {
    held: true,
    stale: isStale(held),
    ...(held.info && typeof held.info.pid === "number" && typeof held.info.host === "string" ? { info: held.info } : {}),
  };
}

/**
 * A lock is stale when its holder no longer runs on this host. A lock whose record cannot be
 * read is stale at once: mtls links only complete records into place, so no live mtls holds
 * an empty or garbled one (a crash of an older release, or a disk error, left it).
 */
function isStale(held: { info?: LockInfo; ageMs: number }): boolean {
  if (!held.info || typeof held.info.pid !== "number" || typeof held.info.host !== "string") return true;
  return held.info.host === hostname() && !isAlive(held.info.pid);
}

/**
 * Removes a stale lock, unless it has been replaced meanwhile: between reading a lock and
 * judging its holder dead, that holder may have released it and a live process taken a new one.
 * Breakers take turns under a second lock file and re-check the inode and nonce before the
 * unlink; nobody else removes a dead holder's lock, so the re-check cannot go out of date and
 * the lock path is never empty while a live process holds it.
 */
export async function breakStale(lockPath: string, stale: HeldLock): Promise<void> {
  const breaker = `${lockPath}.break`;
  try {
    await (await open(breaker, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)).close();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fsError(err, breaker, "create lock");
    // Another process is breaking the lock; a breaker that died mid-way leaves this file behind.
    const st = await stat(breaker).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > 10_000) await unlink(breaker).catch(() => {});
    return;
  }
  try {
    const now = await readLock(lockPath);
    if (now && now.ino === stale.ino && now.info?.nonce === stale.info?.nonce && isStale(now)) await unlink(lockPath).catch(() => {});
  } finally {
    await unlink(breaker).catch(() => {});
  }
}
