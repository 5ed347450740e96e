// A new store, made whole or not at all: `ca init` builds it in a scratch directory next to the
// target by one transaction, then renames it into place, so a failure leaves nothing behind.
import { readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { conflictError, fsError, usageError } from "../errors.js";
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

const dirOf = (target: Storage): string => {
  if (!(target instanceof DirectoryStorage))
    throw usageError(
      "ERR_USAGE",
      `${target.location} is not a directory: a CA is created in a directory store`,
      "create the database store with `mtls store init`",
    );
  return target.location;
};

/** Refuses a target that already holds a CA, or anything else. */
export async function checkNewStoreTarget(target: Storage): Promise<void> {
  const dir = dirOf(target);
  if (await exists(join(dir, "config.json")))
    throw conflictError("ERR_CA_EXISTS", `a CA already exists in ${dir}`, "use another --pki directory; mtls never overwrites a CA");
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
  const final = dirOf(target);
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
