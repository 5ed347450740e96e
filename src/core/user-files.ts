// Files outside the store: what the user names (--out, a bundle to open, a gateway's output
// directory, the demo's scratch directory) and the CRL publish directory a web server reads.
// Core modules reach the file system through here (user input through input.ts, templates
// through templates.ts), never directly, so "store data goes through the storage" stays
// checkable (test/unit/architecture.test.ts): no store file is reached from here by path,
// because no core module outside store/ knows one.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from "node:fs";
import { access, readFile, stat, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { conflictError, envError, fsError } from "./errors.js";

/** Plain file operations, for the user's own files and scratch directories only (never a store's). */
export { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
export { createExclusive, type DurableStepHook, ensureDir, ensureDurableDir, exists, fsyncPath, writeFileAtomic } from "./store/fs.js";
export { fileInPathOf } from "./store/store-file.js";

/** A user's file, whole; undefined when it does not exist (any other failure is an error naming it). */
export async function readOptionalFile(path: string): Promise<Buffer | undefined> {
  let fd: number | undefined;
  try {
    // Synchronous: a published CRL is small, and `status` reads each one; the promise API would
    // load fs/promises and its streams (~1.5 ms) and wait on the thread pool for each. Opened
    // without blocking and read only when a regular file: a FIFO planted in the web server's
    // directory must not hang the command.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) throw envError("ERR_NOT_A_FILE", `${path} is not a regular file`, "replace it with the file mtls publishes there");
    return readFileSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((err as { code?: string }).code === "ERR_NOT_A_FILE") throw err;
    throw fsError(err, path, "read");
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A user's file, whole; a missing or unreadable one is an error naming it. */
export async function readUserFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw fsError(err, path, "read");
  }
}

/** Removes a file mtls wrote for the user (an undo after a failed commit); absence is fine. */
export const removeFile = (path: string): Promise<void> => unlink(path).catch(() => {});

/** Whether a path the user gave names an existing directory. */
export const isDirectory = (path: string): Promise<boolean> =>
  stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * Checks a file the user named for output before the command changes anything, so that a bad
 * path fails with the store as it was: its directory exists and takes files, and it is not a
 * directory itself. True when a file is there already (replacing it is the caller's decision).
 */
export async function checkOutputFile(path: string): Promise<boolean> {
  let there: Stats | undefined;
  try {
    there = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOTDIR") throw envError("ERR_NOT_A_DIRECTORY", `cannot write ${path}: ${dirname(path)} is not a directory`);
    if (code !== "ENOENT") throw fsError(err, path, "write");
  }
  if (there?.isDirectory()) throw fsError(Object.assign(new Error("is a directory"), { code: "EISDIR" }), path, "write");
  try {
    // The file is replaced by a rename into its directory: the directory is what must be writable.
    await access(dirname(path), constants.W_OK);
  } catch (err) {
    throw fsError(err, path, "write");
  }
  return there !== undefined;
}

/** checkOutputFile for a file that may replace an existing one only with `force` (otherwise exit 4). */
export async function checkNewOutput(path: string, force: boolean | undefined): Promise<void> {
  if ((await checkOutputFile(path)) && !force) throw conflictError("ERR_EXISTS", `${path} already exists`, "pass --force to overwrite it");
}

/** Checks a directory the command will write a file of its own naming into, before it changes anything. */
export async function checkOutputDir(dir: string): Promise<void> {
  try {
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    await access(dir, constants.W_OK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") throw envError("ERR_NOT_A_DIRECTORY", `cannot write into ${dir}: it is not a directory`);
    throw fsError(err, dir, "write into");
  }
}
