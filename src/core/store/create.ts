// A new store, made whole or not at all: `ca init` builds a directory store in a scratch
// directory next to the target by one transaction, then renames it into place, so a failure
// leaves nothing behind. Any other storage (the database) is built in place by that one
// transaction, which commits all of it or none.
import { readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { conflictError, fsError } from "../errors.js";
import { DirectoryStorage } from "./directory.js";
import { type DurableStepHook, ensureDir, exists } from "./fs.js";
import type { Storage } from "./storage.js";

export interface NewStore {
  /** The scratch store to build in (one transaction). */
  storage: Storage;
  /** Moves the built store into place. */
  place(): Promise<void>;
  /** Removes the scratch store (after a failure). */
  discard(): Promise<void>;
}

const EXISTS_HINT = "use another store (--pki or --store); mtls never overwrites a CA";

/** Refuses a target that already holds a CA, or (a directory) anything else. */
export async function checkNewStoreTarget(target: Storage): Promise<void> {
  if (!(target instanceof DirectoryStorage)) {
    if (await target.exists()) throw conflictError("ERR_CA_EXISTS", `a CA already exists in ${target.location}`, EXISTS_HINT);
    return;
  }
  const dir = target.location;
  if (await exists(join(dir, "config.json"))) throw conflictError("ERR_CA_EXISTS", `a CA already exists in ${dir}`, EXISTS_HINT);
  let entries: string[] = [];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    throw fsError(err, dir, "read");
  }
  if (entries.length > 0) throw conflictError("ERR_PKI_NOT_EMPTY", `${dir} exists and is not empty`, "point --pki at a new or empty directory");
}

/** A scratch store next to `target`, with the store's directories made. */
export async function newStoreBeside(target: Storage, opts: { onDurableStep?: DurableStepHook } = {}): Promise<NewStore> {
  // config.json is put exclusively (see initCa): a CA made meanwhile by another process fails the commit.
  if (!(target instanceof DirectoryStorage)) return { storage: target, place: async () => {}, discard: async () => {} };
  const final = target.location;
  await ensureDir(dirname(final));
  const tmpDir = join(dirname(final), `.${basename(final)}.init-${process.pid}`);
  const discard = () => rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  await rm(tmpDir, { recursive: true, force: true });
  await ensureDir(tmpDir, 0o755);
  await Promise.all([
    ensureDir(join(tmpDir, "ca")),
    ensureDir(join(tmpDir, "private"), 0o700),
    ensureDir(join(tmpDir, "certs")),
    ensureDir(join(tmpDir, "crl")),
  ]);
  return {
    storage: new DirectoryStorage(tmpDir, opts.onDurableStep ? { onDurableStep: opts.onDurableStep } : {}),
    // rename(2) onto an empty directory replaces it; onto a non-empty one it fails (checked before).
    place: () => rename(tmpDir, final).catch((err) => Promise.reject(fsError(err, final, "create"))),
    discard,
  };
}
