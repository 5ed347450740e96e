// The directory storage over a database store's working copy. Each of the session's
// transactions (pki.transact) commits to the working copy and then, before it returns, to the
// database: a command's result is shown only once the database holds it. Files outside the
// store (--out, --out-key, a bundle, the CRL publish directory) are written after the database
// commit, so a certificate is never handed out that the database does not record.
import { resolve, sep } from "node:path";
import { DirectoryStorage, type DirectoryStorageOptions, DirectoryTransaction } from "../directory.js";
import { writeFileAtomic } from "../fs.js";

export class WorkingCopyStorage extends DirectoryStorage {
  constructor(
    dir: string,
    opts: DirectoryStorageOptions,
    /** Writes the working copy's changes to the database and commits them. */
    readonly checkpoint: () => Promise<void>,
    /** For a following session (see follow.ts): takes the database's lock around each transaction. */
    private readonly lockWith?: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {
    super(dir, opts);
  }

  override lock<T>(purpose: string, fn: () => Promise<T>): Promise<T> {
    return this.lockWith ? this.lockWith(() => super.lock(purpose, fn)) : super.lock(purpose, fn);
  }

  override begin(): DirectoryTransaction {
    return new WorkingCopyTransaction(this);
  }
}

class WorkingCopyTransaction extends DirectoryTransaction {
  private readonly outside: Array<{ path: string; data: string | Uint8Array; opts: { mode?: number; exclusive?: boolean } }> = [];

  constructor(private readonly copy: WorkingCopyStorage) {
    super(copy);
  }

  override putFile(path: string, data: string | Uint8Array, opts: { mode?: number; exclusive?: boolean } = {}): void {
    const inside = resolve(path).startsWith(this.copy.layout.root + sep);
    if (inside) super.putFile(path, data, opts);
    else this.outside.push({ path, data, opts });
  }

  override async commit(): Promise<void> {
    await super.commit();
    await this.copy.checkpoint();
    for (const f of this.outside)
      await writeFileAtomic(f.path, f.data, {
        ...(f.opts.mode !== undefined ? { mode: f.opts.mode } : {}),
        ...(f.opts.exclusive ? { exclusive: true } : {}),
        step: this.copy.durableStep,
      });
  }
}
