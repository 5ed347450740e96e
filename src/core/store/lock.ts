import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { link, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { envError, fsError } from "../errors.js";

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

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

async function readLock(path: string): Promise<{ info?: LockInfo; ageMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([readFile(path, "utf8"), stat(path)]);
    const ageMs = Date.now() - st.mtimeMs;
    try {
      return { info: JSON.parse(text) as LockInfo, ageMs };
    } catch {
      return { ageMs };
    }
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` while holding the PKI's exclusive lock (a `.lock` file created with O_EXCL).
 * A lock left by a process that died on this host is detected by its pid and taken over; a
 * half-written lock file is considered stale after 10 s. Waits with jittered back-off.
 */
export async function withLock<T>(lockPath: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const nonce = randomBytes(8).toString("hex");
  const mine: LockInfo = { pid: process.pid, host: hostname(), nonce, since: new Date().toISOString(), purpose: opts.purpose ?? "mtls" };
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let delay = 10;
  for (;;) {
    try {
      const fh = await open(lockPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await fh.writeFile(JSON.stringify(mine));
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fsError(err, lockPath, "create lock");
    }
    const held = await readLock(lockPath);
    if (held && isStale(held)) {
      await takeOver(lockPath, held.info?.nonce);
      continue;
    }
    if (Date.now() > deadline) {
      const by = held?.info ? `pid ${held.info.pid} on ${held.info.host} (${held.info.purpose}) since ${held.info.since}` : "another process";
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

function isStale(held: { info?: LockInfo; ageMs: number }): boolean {
  if (!held.info) return held.ageMs > 10_000;
  return held.info.host === hostname() && !isAlive(held.info.pid);
}

/**
 * Moves a stale lock aside. Two processes may judge the same lock stale at once; the one whose
 * rename picked up a *different* (fresh) lock puts it back with link(2), which cannot clobber.
 */
async function takeOver(lockPath: string, staleNonce: string | undefined): Promise<void> {
  const aside = `${lockPath}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return; // someone else moved it first
  }
  const moved = await readLock(aside);
  if (moved?.info && moved.info.nonce !== staleNonce) await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
}
