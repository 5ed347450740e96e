// A new store, made whole or not at all: `ca init` builds a directory store in a scratch
// directory by one transaction, then moves it into place, so a failure leaves nothing behind. Any other storage (the database) is built in place by that one
// transaction, which commits all of it or none.
import { chmod, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { conflictError, fsError } from "../errors.js";
import { DirectoryStorage } from "./directory.js";
import { type DurableStepHook, ensureDir, exists } from "./fs.js";
import type { Storage } from "./storage.js";
import { fileInPathOf } from "./store-file.js";

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
    if (code === "ENOTDIR")
      throw conflictError("ERR_PKI_NOT_DIRECTORY", `${fileInPathOf(dir) ?? dir} exists and is not a directory`, "point --pki at a new or empty directory");
    throw fsError(err, dir, "read");
  }
  if (entries.length > 0) throw conflictError("ERR_PKI_NOT_EMPTY", `${dir} exists and is not empty`, "point --pki at a new or empty directory");
}

/**
 * A scratch store for `target`, with the store's directories made. Its name comes from mkdtemp:
 * a predictable name in a shared parent directory could be a link planted there to receive the
 * CA keys. An existing (empty) target may be a mount point, which rename(2) cannot replace; the
 * store is then built inside it and its entries moved up one by one, config.json (what makes the
 * directory a CA) last.
 */
export async function newStoreBeside(target: Storage, opts: { onDurableStep?: DurableStepHook } = {}): Promise<NewStore> {
  // config.json is put exclusively (see initCa): a CA made meanwhile by another process fails the commit.
  if (!(target instanceof DirectoryStorage)) return { storage: target, place: async () => {}, discard: async () => {} };
  const final = target.location;
  await ensureDir(dirname(final));
  const inside = (await stat(final).catch(() => undefined))?.isDirectory() === true;
  const tmpDir = await mkdtemp(inside ? join(final, ".init-") : join(dirname(final), `.${basename(final)}.init-`)).catch((err) =>
    Promise.reject(fsError(err, final, "create")),
  );
  await chmod(tmpDir, 0o755);
  // Built inside the target: refuse when another `ca init` builds there too (its scratch), so
  // that two never move their entries over each other's.
  if (inside)
    try {
      await claimTarget(final, tmpDir, true);
    } catch (err) {
      await rm(tmpDir, { recursive: true, force: true });
      throw err;
    }
  await Promise.all([
    ensureDir(join(tmpDir, "ca")),
    ensureDir(join(tmpDir, "private"), 0o700),
    ensureDir(join(tmpDir, "certs")),
    ensureDir(join(tmpDir, "crl")),
  ]);
  const moved: string[] = [];
  const removeScratch = () => rm(tmpDir, { recursive: true, force: true }).catch(() => {});
  return {
    storage: new DirectoryStorage(tmpDir, opts.onDurableStep ? { onDurableStep: opts.onDurableStep } : {}),
    place: inside
      ? async () => {
          await claimTarget(final, tmpDir, false);
          await moveEntries(tmpDir, final, moved).catch((err) => Promise.reject(fsError(err, final, "create")));
          // The store's root as a new one gets it (the target may have been made world-writable).
          await chmod(final, 0o755).catch((err) => Promise.reject(fsError(err, final, "create")));
        }
      : // rename(2) onto an empty directory replaces it; onto a non-empty one it fails (checked before).
        () => rename(tmpDir, final).catch((err) => Promise.reject(fsError(err, final, "create"))),
    discard: async () => {
      for (const name of moved) await rm(join(final, name), { recursive: true, force: true }).catch(() => {});
      await removeScratch();
    },
  };
}

/**
 * Whether `final` holds nothing but our scratch directory: another `ca init`'s scratch is a
 * conflict while claiming (`strict`); at placing, only something else is (the other one saw ours
 * and stepped back, or will).
 */
async function claimTarget(final: string, scratch: string, strict: boolean): Promise<void> {
  const others = (await readdir(final)).filter((n) => n !== basename(scratch) && (strict || !n.startsWith(".init-")));
  if (others.length === 0) return;
  const busy = others.every((n) => n.startsWith(".init-"));
  throw conflictError(
    busy ? "ERR_CA_INIT_BUSY" : "ERR_PKI_NOT_EMPTY",
    busy ? `another \`mtls ca init\` is creating a CA in ${final}` : `${final} is no longer empty`,
    busy ? "let it finish, or remove the stale .init-* directory left by one that crashed" : "point --pki at a new or empty directory",
  );
}

/** Moves the built store's entries into `final`, config.json last, recording each for discard. */
async function moveEntries(scratch: string, final: string, moved: string[]): Promise<void> {
  const names = (await readdir(scratch)).sort((a, b) => Number(a === "config.json") - Number(b === "config.json"));
  for (const name of names) {
    await rename(join(scratch, name), join(final, name));
    moved.push(name);
  }
  await rm(scratch, { recursive: true, force: true });
}
