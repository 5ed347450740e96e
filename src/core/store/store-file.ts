// How every store file is opened for reading. A leaf (node:fs only), so that the modules the
// writer itself needs (commit-intent.ts) read their files the same way as the rest of the store.
import { closeSync, constants, fstatSync, openSync, type Stats } from "node:fs";

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
