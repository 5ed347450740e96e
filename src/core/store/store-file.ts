// How every store file is opened for reading. A leaf (node:fs only), so that the modules the
// writer itself needs (commit-intent.ts) read their files the same way as the rest of the store.
import { closeSync, constants, fstatSync, lstatSync, openSync, type Stats, statSync } from "node:fs";
import { dirname } from "node:path";

/** The open flags of a store file read: never through a link planted in its place (#13), and never blocking on a FIFO. */
export const STORE_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/**
 * Opens a store file (STORE_READ) and hands `use` the descriptor with the file's fstat, so that
 * what is judged (a regular file, its size, its mode) is what is read; closes it after. When the
 * file cannot be opened (ENOENT: it is missing), `unopened` answers instead, or throws.
 */
export function withStoreFile<T, U = never>(path: string, use: (fd: number, st: Stats) => T, unopened: (err: NodeJS.ErrnoException) => U): T | U {
  let fd: number;
  try {
    fd = openSync(path, STORE_READ);
  } catch (err) {
    return unopened(err as NodeJS.ErrnoException);
  }
  try {
    return use(fd, fstatSync(fd));
  } finally {
    closeSync(fd);
  }
}

/**
 * A store path's lstat (stat with `follow`), undefined when nothing is there. `throwIfNoEntry:
 * false` spares only ENOENT: a path through a file (a --pki naming a file) fails with ENOTDIR,
 * and there is nothing there either.
 */
export function statIfThere(path: string, opts: { follow?: boolean } = {}): Stats | undefined {
  try {
    return (opts.follow ? statSync : lstatSync)(path, { throwIfNoEntry: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw err;
  }
}

/** The file that stands where a directory of `path` should be (the cause of an ENOTDIR), if one does. */
export function fileInPathOf(path: string): string | undefined {
  for (let p = path; ; p = dirname(p)) {
    const st = statIfThere(p, { follow: true });
    if (st) return st.isDirectory() ? undefined : p;
    if (dirname(p) === p) return undefined;
  }
}
