// Whether the audit log ends inside a line, read with one byte: `audit verify` says so (#21: the
// command that shows the log loads no more than it did, fs/promises included).
import { readSync } from "node:fs";
import { journalFile } from "./keys.js";
import type { Storage } from "./storage.js";
import { withStoreFile } from "./store-file.js";

/**
 * Whether a storage's audit file ends inside a line: an append cut short by a crash (the next
 * writer moves it aside) or damage. One byte read: the chain check sees complete lines only.
 */
export function auditTornTail(storage: Pick<Storage, "localPath">): boolean {
  const path = storage.localPath(journalFile.audit);
  if (!path) return false;
  return withStoreFile(
    path,
    (fd, st) => {
      if (!st.isFile() || st.size === 0) return false;
      const last = Buffer.alloc(1);
      readSync(fd, last, 0, 1, st.size - 1);
      return last[0] !== 0x0a;
    },
    () => false,
  );
}
