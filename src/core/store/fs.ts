import { randomBytes } from "node:crypto";
import { close as closeCb, constants, fsync as fsyncCb, open as openCb, readFileSync, write as writeCb } from "node:fs";
import { copyFile, link, mkdir, open, readdir, rename, stat, truncate, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { conflictError, directoryError, envError, fsError } from "../errors.js";
import { encodeIntent, type Intent, recoverCommit, setIntentState, there } from "./commit-intent.js";
import { isAlive } from "./lock.js";
import { statIfThere, withStoreFile } from "./store-file.js";

const tmpName = (path: string, tag: string) => join(dirname(path), `.${basename(path)}.${tag}-${process.pid}-${randomBytes(4).toString("hex")}`);

/** The exact shape of tmpName's names: `.<name>.<tmp|bak>-<pid>-<8 hex>`. */
const TEMP_NAME = /^\.(.+)\.(tmp|bak)-([1-9][0-9]{0,9})-([0-9a-f]{8})$/;

/**
 * The temporary that `name` (a bare file name, never a path) is, if mtls wrote it: what it
 * stands in for, and the pid of its writer. Only these are ever removed by `doctor --fix`.
 */
export function parseTempName(name: string): { target: string; tag: "tmp" | "bak"; pid: number } | undefined {
  const m = TEMP_NAME.exec(name);
  if (!m) return undefined;
  return { target: m[1] as string, tag: m[2] as "tmp" | "bak", pid: Number(m[3]) };
}

/**
 * Test-only fault injection: runs before every durable step (a rename, an exclusive create, a
 * journal append, a removal while a failed commit is undone) so a test can kill the process at
 * each one in turn. The CLI passes one to
 * openPki only under its test flag; the directory storage hands it to every writer.
 */
export type DurableStepHook = (what: string, path: string) => void;

/** A directory's names flushed, for a StoreWriter's commit (an error names the directory). */
const flushDir = (dir: string) => fsyncPath(dir).catch((e) => Promise.reject(fsError(e, dir, "flush")));

/** The directories of `staged` flushed, each once, at once. */
const flushDirsOf = (staged: readonly { path: string }[]) => Promise.all([...new Set(staged.map((s) => dirname(s.path)))].map(flushDir));

/** Flushes a file or a directory (the names in it) to disk. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a new file next to `path`, flushed to disk. O_EXCL also refuses a planted symlink. */
async function writeTemp(path: string, data: string | Uint8Array, mode: number, tmp = tmpName(path, "tmp")): Promise<string> {
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode); // the umask must not widen or narrow what we asked for
    await fh.sync();
  } catch (err) {
    // A full disk must not leave a 0-byte temporary behind (#13).
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  return tmp;
}

export interface WriteOptions {
  mode?: number;
  /** Test-only: see DurableStepHook. */
  step?: DurableStepHook | undefined;
  /** Fail with a conflict error when the file exists (no silent overwrite). */
  exclusive?: boolean;
}

/**
 * Atomic replace: temp file + fsync + rename + directory fsync, so a reader (a gateway loading a
 * CRL, a concurrent `mtls list`) sees the old file or the new one, never half of one. rename(2)
 * replaces a symlink at `path` rather than following it.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: WriteOptions = {}): Promise<void> {
  const mode = opts.mode ?? 0o644;
  let tmp: string | undefined;
  await removeStaleTemps(path);
  try {
    tmp = await writeTemp(path, data, mode);
    opts.step?.("rename", path);
    if (opts.exclusive) {
      // link(2) fails with EEXIST instead of replacing: an atomic "create if absent".
      await link(tmp, path);
      await unlink(tmp);
    } else {
      await rename(tmp, path);
    }
    tmp = undefined;
    await fsyncPath(dirname(path));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw conflictError("ERR_EXISTS", `${path} already exists`, "pass --force to overwrite it");
    throw fsError(err, path, "write");
  } finally {
    if (tmp) await unlink(tmp).catch(() => {});
  }
}

/**
 * The temporaries of `path` that a killed writer left beside it, removed once their writer is gone.
 * Outside the store nothing else ever would (`doctor --fix` cleans only the store), and a hidden
 * `.x.key.tmp-…` holds what was to be written: a private key, for --out-key.
 */
async function removeStaleTemps(path: string): Promise<void> {
  const dir = dirname(path);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const t = parseTempName(name);
    if (t?.tag !== "tmp" || t.target !== basename(path) || t.pid === process.pid || isAlive(t.pid)) continue;
    await unlink(join(dir, name)).catch(() => {});
  }
}

export async function ensureDir(path: string, mode = 0o755): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode });
  } catch (err) {
    throw fsError(err, path, "create directory");
  }
}

/**
 * ensureDir for what must survive a crash (the store's directories, generated keys): each
 * directory it makes is flushed into its parent before anything is written into it, as a file's
 * name is before anything refers to it.
 */
export async function ensureDurableDir(path: string, mode = 0o755): Promise<void> {
  let first: string | undefined;
  try {
    first = await mkdir(path, { recursive: true, mode });
  } catch (err) {
    throw fsError(err, path, "create directory");
  }
  if (first === undefined) return;
  const top = resolve(first);
  for (let d = resolve(path); ; d = dirname(d)) {
    await flushDir(dirname(d));
    if (d === top || dirname(d) === d) break;
  }
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The length in bytes of a journal's complete lines, read from its end: where the next append
 * goes (anything after the last newline is a torn write, overwritten). 0 for a missing file.
 */
export async function completeLength(path: string): Promise<number> {
  let fh: import("node:fs/promises").FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw fsError(err, path, "read");
  }
  try {
    const size = (await fh.stat()).size;
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - 64 * 1024);
      const buf = Buffer.alloc(end - start);
      await fh.read(buf, 0, buf.length, start);
      const nl = buf.lastIndexOf(0x0a);
      if (nl >= 0) return start + nl + 1;
      end = start;
    }
    return 0;
  } finally {
    await fh.close();
  }
}

/**
 * A journal's complete lines: the text up to its last newline (anything after it is an append
 * cut short by a crash, which the next writer trims) and that text's length in bytes.
 * A missing journal is an empty one.
 */
// Store files are read synchronously (#21): a command reads a handful, and each readFile of
// fs/promises is four round trips through the thread pool (open, stat, read, close), ~0.3 ms
// of CPU against ~0.05 ms; a command that reads only keeps fs/promises unloaded (~1 ms more).

export { STORE_READ } from "./store-file.js";

/**
 * A store file, whole; undefined when it does not exist. Opened without blocking and read only
 * when it is a regular file: a FIFO in its place would otherwise hang the command, under the
 * store lock when a writer reads it.
 */
export function readStoreFile(path: string, what = "read"): Buffer | undefined {
  const unopened = (err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw fsError(err, path, what);
  };
  try {
    return withStoreFile(
      path,
      (fd, st) => {
        if (st.isDirectory()) throw directoryError(path);
        if (!st.isFile()) throw notAFile(path);
        return readFileSync(fd);
      },
      unopened,
    );
  } catch (err) {
    if (err instanceof Error && err.name === "MtlsError") throw err;
    throw fsError(err, path, what);
  }
}

/** A store file that is something else (a FIFO, a directory, a device). */
export const notAFile = (path: string) => envError("ERR_NOT_A_FILE", `${path} is not a regular file`, "move it away and restore the file from your backup");

export async function readJournal(path: string): Promise<{ text: string; validBytes: number }> {
  const raw = readStoreFile(path);
  if (raw === undefined) return { text: "", validBytes: 0 };
  // Cut as bytes (a newline byte is never part of another character): measuring the text's
  // bytes again was ~50 ms of every command that reads a journal of 100,000 lines (#21).
  const validBytes = raw.lastIndexOf(0x0a) + 1;
  return { text: raw.toString("utf8", 0, validBytes), validBytes };
}

export async function readText(path: string, what = "read"): Promise<string> {
  const raw = readStoreFile(path, what);
  if (raw === undefined) throw fsError(Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: "ENOENT" }), path, what);
  return raw.toString("utf8");
}

interface Staged {
  path: string;
  data: string | Uint8Array;
  mode: number;
  exclusive: boolean;
  /** For appends: the length of the file's intact content (anything after it is a torn write). */
  appendAt?: number;
  /**
   * A file outside the store (writeOutside): made durable once the store's new files and their
   * directories are, and before anything else changes.
   */
  outside?: boolean;
  /** For a file outside that replaced one: the link holding the old version until the commit ends. */
  old?: string;
  /** A new file that appears only at the commit point, linked from its temporary (createAtCommit). */
  atCommit?: boolean;
}

const call = <T>(fn: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> =>
  new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value as T))));

/**
 * A new file (O_EXCL, no link followed), written and flushed; its directory is not flushed here.
 * Callback fs on purpose: a FileHandle's open, write, sync and close through fs/promises cost
 * twice the CPU of the same calls here, ~0.18 against ~0.1 ms per small file (1,000 keys of a
 * batch, #21).
 */
export async function createExclusive(path: string, data: string | Uint8Array, mode: number, step: DurableStepHook | undefined): Promise<void> {
  let fd: number;
  step?.("create", path);
  try {
    fd = await call<number>((cb) => openCb(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode, cb));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") throw conflictError("ERR_EXISTS", `${path} already exists`);
    throw fsError(err, path, "write");
  }
  try {
    // No fchmod: a new file gets `mode` narrowed by the umask, never widened, so keys stay private.
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length; ) at += await call<number>((cb) => writeCb(fd, bytes, at, bytes.length - at, null, cb));
    await call<void>((cb) => fsyncCb(fd, cb));
  } catch (err) {
    await call<void>((cb) => closeCb(fd, cb)).catch(() => {});
    await unlink(path).catch(() => {});
    throw fsError(err, path, "write");
  }
  await call<void>((cb) => closeCb(fd, cb));
}

/** Runs `fn` over `items` with at most `limit` in flight; the first failure wins once all settle. */
export async function parallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      await fn(item).catch((err) => {
        failure ??= err;
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

/** Makes `path` (empty) unless it exists; never follows a link planted at the name. */
async function touch(path: string, mode: number): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, mode);
  await fh.close();
}

/** Appends at `at` (dropping a torn tail first) and flushes; undo by truncating back to `at`. */
async function appendAt(path: string, data: string | Uint8Array, at: number, mode: number): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, mode);
  try {
    await fh.truncate(at);
    await fh.write(typeof data === "string" ? Buffer.from(data) : data, 0, undefined, at);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Stages several file writes and applies them all or none. A commit of new files and appends
 * only: the new files written and flushed first, then the appends in order, the index's last,
 * which commits the change (a crash before it leaves only unreferenced files, which `mtls doctor`
 * reports). A commit that replaces files (or makes a new name appear at its commit point) first
 * writes its intent record (commit-intent.ts) with every new version as a temporary beside it;
 * flipping the record to "committed" is then the commit point, and a crash on either side of it
 * is undone or completed as one unit by the next writer or `doctor --fix`. A name is flushed once,
 * before anything that refers to it.
 */
export class StoreWriter {
  private readonly staged: Staged[] = [];

  /** `intent`: where the store keeps its intent record (see commit-intent.ts). */
  constructor(
    private readonly intent: { root: string; path: string },
    private readonly step?: DurableStepHook,
  ) {}

  put(path: string, data: string | Uint8Array, mode = 0o644): this {
    this.staged.push({ path, data, mode, exclusive: false });
    return this;
  }

  /** Like put, but the file must not exist yet (certificate archive entries). */
  create(path: string, data: string | Uint8Array, mode = 0o644): this {
    this.staged.push({ path, data, mode, exclusive: true });
    return this;
  }

  /**
   * A file outside the store (a certificate or key the user named), written atomically beside its
   * name once every create and its directory is durable, and itself durable before the replaced
   * files and appends: whatever a crash leaves outside, the certificate it holds is in the store,
   * where `mtls doctor` finds it. `exclusive`: never over an existing file. Removed again when
   * the commit fails (it would hold a certificate never recorded); a file it replaced gets its old
   * version back (commit).
   */
  writeOutside(path: string, data: string | Uint8Array, mode: number, exclusive: boolean): this {
    this.staged.push({ path, data, mode, exclusive, outside: true });
    return this;
  }

  /**
   * A new file that must not exist before the commit point, nor after a crash before it (a new CA's
   * key and certificate): written to a temporary, linked to its name once committed.
   */
  createAtCommit(path: string, data: string | Uint8Array, mode = 0o644): this {
    this.staged.push({ path, data, mode, exclusive: true, atCommit: true });
    return this;
  }

  /**
   * Appends to a journal file whose intact content is `at` bytes long. Appends run after every
   * other staged write, in order: the index append is the commit point of a change.
   */
  append(path: string, data: string | Uint8Array, at: number, mode = 0o644): this {
    this.staged.push({ path, data, mode, exclusive: false, appendAt: at });
    return this;
  }

  async commit(): Promise<void> {
    const replaced = this.staged.some((s) => s.atCommit || (!s.exclusive && !s.outside && s.appendAt === undefined));
    const kept = () => this.staged.flatMap((s) => (s.old ? [{ path: s.path, old: s.old }] : []));
    try {
      if (replaced) await new IntentCommit(this.staged, this.step, this.intent).run();
      else await this.commitPlain();
    } catch (err) {
      // Undoing the commit removed the files it wrote outside: their old versions go back. One
      // still there belongs to a commit that stands (finished, or to be finished by the next writer).
      for (const k of kept()) {
        if (await there(k.path)) await dropOld([k]);
        else await putBackOld([k]);
      }
      throw err;
    }
    await dropOld(kept());
  }

  /** New files and appends only: undone by removing the files and cutting the appends back. */
  private async commitPlain(): Promise<void> {
    const done: Array<{ path: string; truncateTo?: number }> = [];
    const creates = this.staged.filter((s) => s.exclusive && !s.outside);
    const outside = this.staged.filter((s) => s.outside);
    const appends = this.staged.filter((s) => s.appendAt !== undefined);
    try {
      // New names (certificate archive entries): written in place with O_EXCL, several at once.
      // A crash may leave one half-written, but nothing refers to it until the index append.
      await parallel(creates, 16, async (s) => {
        await createExclusive(s.path, s.data, s.mode, this.step);
        done.push({ path: s.path });
      });
      // Their names must be as durable as their content before an append can refer to them.
      await flushDirsOf(creates);
      await writeOutsideFiles(outside, this.step, (path) => done.push({ path }));
      await appendAll(appends, [], this.step, (d) => done.push(d));
    } catch (err) {
      for (const d of done.reverse()) {
        if (d.truncateTo !== undefined) await truncate(d.path, d.truncateTo).catch(() => {});
        else await unlink(d.path).catch(() => {});
      }
      throw err;
    }
  }
}

/**
 * The files outside the store, in order, each durable (content and name) before the next; `wrote`
 * learns each one written, and a file it replaced keeps its old version in `old` until the commit ends.
 */
async function writeOutsideFiles(outside: Staged[], step: DurableStepHook | undefined, wrote: (path: string) => void): Promise<void> {
  for (const s of outside) {
    const old = await writeReplacing(s.path, s.data, { mode: s.mode, exclusive: s.exclusive, step });
    if (old) s.old = old;
    wrote(s.path);
  }
}

/**
 * Writes a file the user named (writeFileAtomic), keeping the version it replaces as a hard link
 * beside it, made before the rename: a failed commit puts it back (putBackOld), a successful one
 * drops it (dropOld). Returns that link's path, when a file was replaced. A crash may leave the
 * link behind; it holds what the user had there, never a certificate of this command.
 */
export async function writeReplacing(path: string, data: string | Uint8Array, opts: WriteOptions): Promise<string | undefined> {
  const old = opts.exclusive ? undefined : await keepOld(path);
  try {
    await writeFileAtomic(path, data, opts);
  } catch (err) {
    // The old version back, should the write have failed after its rename (a rename onto another
    // link of the same file does nothing, and the link then goes).
    if (old) await putBackOld([{ path, old }]).then(() => unlink(old).catch(() => {}));
    throw err;
  }
  return old;
}

async function keepOld(path: string): Promise<string | undefined> {
  const old = tmpName(path, "bak");
  try {
    await link(path, old);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    // A file system without hard links: a copy (content and mode) does as well.
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EMLINK") throw fsError(err, path, "back up");
    await copyFile(path, old, constants.COPYFILE_EXCL).catch((e) => Promise.reject(fsError(e, path, "back up")));
  }
  return old;
}

/** After a failed commit: each replaced file's old version renamed back over the new one, best effort. */
export async function putBackOld(kept: readonly { path: string; old: string }[]): Promise<void> {
  for (const k of kept) await rename(k.old, k.path).catch(() => {});
  for (const dir of new Set(kept.map((k) => dirname(k.path)))) await fsyncPath(dir).catch(() => {});
}

/** After a commit: the replaced files' old versions removed. */
export async function dropOld(kept: readonly { path: string; old: string }[]): Promise<void> {
  for (const k of kept) await unlink(k.old).catch(() => {});
}

/**
 * The appends, after the journals an append starts are made (so that their names too are durable
 * before the appends, and nothing can fail after the index append, which commits a plain change)
 * and the directories of `renamed` are flushed.
 */
async function appendAll(
  appends: readonly Staged[],
  renamed: readonly { path: string }[],
  step: DurableStepHook | undefined,
  done: (d: { path: string; truncateTo: number }) => void,
): Promise<void> {
  const starts = appends.filter((s) => s.appendAt === 0);
  for (const s of starts) await touch(s.path, s.mode).catch((e) => Promise.reject(fsError(e, s.path, "create")));
  await flushDirsOf([...renamed, ...starts]);
  for (const s of appends) {
    const at = s.appendAt as number;
    done({ path: s.path, truncateTo: at });
    step?.("append", s.path);
    await appendAt(s.path, s.data, at, s.mode).catch((e) => Promise.reject(fsError(e, s.path, "append to")));
  }
}

/** Staged data as a Buffer: a string encoded, bytes viewed in place (not copied). */
const asBuffer = (data: string | Uint8Array) => (typeof data === "string" ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength));

/** One commit under an intent record (see StoreWriter). */
class IntentCommit {
  private readonly creates: Staged[];
  private readonly outside: Staged[];
  private readonly files: Staged[];
  private readonly links: Staged[];
  private readonly appends: Staged[];
  private record: Intent | undefined;
  /** In-place creates made so far: removed again when the commit fails in this process. */
  private readonly created: string[] = [];

  constructor(
    staged: readonly Staged[],
    private readonly step: DurableStepHook | undefined,
    private readonly where: { root: string; path: string },
  ) {
    this.creates = staged.filter((s) => s.exclusive && !s.outside && !s.atCommit);
    this.outside = staged.filter((s) => s.outside);
    // A file put twice (config.json with a raised format) is written once, in its last version.
    const puts = staged.filter((s) => !s.exclusive && !s.outside && s.appendAt === undefined);
    this.files = puts.filter((s, i) => !puts.slice(i + 1).some((t) => t.path === s.path));
    this.links = staged.filter((s) => s.atCommit);
    this.appends = staged.filter((s) => s.appendAt !== undefined);
  }

  async run(): Promise<void> {
    const record = await this.prepare();
    this.step?.("commit", this.where.path);
    try {
      await setIntentState(this.where.path, "C");
    } catch (err) {
      await this.discard();
      throw fsError(err, this.where.path, "write");
    }
    try {
      await this.apply(record);
    } catch (err) {
      // Committed, but this process cannot finish it: undone here from the backups, as a crash
      // now would be completed instead (the intent record says which). When even the mark
      // cannot be written, the record still says committed: the next writer completes it.
      const aborted = await setIntentState(this.where.path, "A").then(
        () => true,
        () => false,
      );
      if (!aborted)
        throw envError(
          "ERR_COMMIT_PENDING",
          `the change is committed but could not be finished (${(err as Error).message}); the next command that writes to the store completes it`,
          "mend the cause, then run `mtls doctor --fix`",
          err,
        );
      await recoverCommit({ path: this.where.path, state: "A", intent: record }, flushDir)
        .then(() => this.removeCreated())
        .catch(() => {});
      throw err;
    }
    for (const p of record.puts) await unlink(p.bak).catch(() => {});
    // The backups' removal durable before the record's: after a power cut a backup never
    // outlives the record that accounts for it.
    await flushDirsOf(record.puts.map((p) => ({ path: p.bak })));
    await unlink(this.where.path).catch((e) => Promise.reject(fsError(e, this.where.path, "remove")));
    await flushDir(this.where.root);
  }

  /** The record, the new files and every temporary, all durable: nothing existing changed yet. */
  private async prepare(): Promise<Intent> {
    for (const l of this.links) if (await there(l.path)) throw conflictError("ERR_EXISTS", `${l.path} already exists`);
    const record: Intent = {
      puts: await Promise.all(
        this.files.map(async (s) => ({ path: s.path, tmp: tmpName(s.path, "tmp"), bak: tmpName(s.path, "bak"), existed: await there(s.path) })),
      ),
      links: this.links.map((s) => ({ path: s.path, tmp: tmpName(s.path, "tmp") })),
      appends: this.appends.map((s) => ({ path: s.path, at: s.appendAt as number, data: asBuffer(s.data).toString("base64") })),
    };
    this.record = record;
    // Written before any other file, so that whatever a crash leaves is named in it.
    let fh: import("node:fs/promises").FileHandle;
    try {
      fh = await open(this.where.path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw fsError(err, this.where.path, "write");
      throw envError("ERR_COMMIT_PENDING", `${this.where.path} holds an interrupted commit`, "run `mtls doctor --fix`, which finishes it");
    }
    try {
      const intentError = (e: unknown) => Promise.reject(fsError(e, this.where.path, "write"));
      await fh.writeFile(encodeIntent(this.where.root, record)).catch(intentError);
      const temps = [...this.files.map((s, i) => [s, record.puts[i]?.tmp] as const), ...this.links.map((s, i) => [s, record.links[i]?.tmp] as const)];
      await Promise.all([
        fh.sync().catch(intentError),
        parallel(this.creates, 16, async (s) => {
          await createExclusive(s.path, s.data, s.mode, this.step);
          this.created.push(s.path);
        }),
        parallel(temps, 4, async ([s, tmp]) => {
          await writeTemp(s.path, s.data, s.mode, tmp).catch((e) => Promise.reject(fsError(e, s.path, "write")));
        }),
      ]);
      await flushDirsOf([...this.creates, ...this.files, ...this.links, { path: this.where.path }]);
      await writeOutsideFiles(this.outside, this.step, (path) => this.created.push(path));
    } catch (err) {
      await fh.close().catch(() => {});
      await this.discard();
      throw err;
    }
    await fh.close();
    return record;
  }

  /** A commit that never reached its commit point, removed: the temporaries, the new files, the record. */
  private async discard(): Promise<void> {
    for (const t of [...(this.record?.puts ?? []), ...(this.record?.links ?? [])]) await unlink(t.tmp).catch(() => {});
    await this.removeCreated();
    await unlink(this.where.path).catch(() => {});
  }

  /**
   * The files this commit made, newest first, one after the other: the user's copies outside the
   * store go before the store's certificate files, so that a crash while undoing never leaves a
   * certificate outside that the store holds no trace of.
   */
  private async removeCreated(): Promise<void> {
    for (const p of [...this.created].reverse()) {
      this.step?.("remove", p);
      await unlink(p).catch(() => {});
    }
  }

  /** After the commit point: the new names linked, the replaced files renamed over (each old version kept as its backup), the appends. */
  private async apply(record: Intent): Promise<void> {
    for (const l of record.links) {
      this.step?.("link", l.path);
      await link(l.tmp, l.path).catch((e) => Promise.reject(fsError(e, l.path, "write")));
      await unlink(l.tmp).catch(() => {});
    }
    for (const p of record.puts) {
      if (p.existed) await link(p.path, p.bak).catch((e) => Promise.reject(fsError(e, p.path, "back up")));
      this.step?.("rename", p.path);
      await rename(p.tmp, p.path).catch((e) => Promise.reject(fsError(e, p.path, "write")));
    }
    await appendAll(this.appends, [...this.files, ...this.links], this.step, () => {});
  }
}

/**
 * Which version of a file this is (inode, size, mtime), "-" when absent: how long-running readers
 * (the revocation server) notice a store file replaced or appended to. Synchronous on purpose: it
 * costs microseconds, where an async stat's thread-pool round trip was half an OCSP answer's time.
 */
export function fileVersion(path: string): string {
  const s = statIfThere(path, { follow: true });
  return s ? `${s.ino}:${s.size}:${s.mtimeMs}` : "-";
}
