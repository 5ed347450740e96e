// `mtls store migrate`: a store moves between a directory and a database, both ways, byte for
// byte (files, modes, journals, the audit chain). The directory form is the backup format.
import { cp, mkdir, readdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { conflictError, envError, fsError, usageError } from "../../errors.js";
import { DirectoryStorage } from "../directory.js";
import { exists } from "../fs.js";
import { layoutOf } from "../layout.js";
import type { StoreLocation } from "../location.js";
import { withLock } from "../lock.js";
import { writePackedFiles } from "../pack.js";
import { openSqlCopy } from "./session.js";

export interface MigrateParams {
  from: StoreLocation;
  to: StoreLocation;
  /** The database password from --store-password-file, if any. */
  password?: string;
  tmpRoot: string;
}

export interface MigrateResult {
  from: string;
  to: string;
  files: number;
  certificates: number;
  auditRecords: number;
}

/** Copies a store tree without its lock files and intent record; modes and bytes as they are. */
async function copyTree(src: string, dest: string): Promise<void> {
  await cp(src, dest, {
    recursive: true,
    errorOnExist: true,
    force: false,
    verbatimSymlinks: true,
    filter: (s) => !/\/(\.(notify\.)?lock(\.[^/]*)?|\.commit)$/.test(s) || dirname(s) !== src,
  }).catch((err) => Promise.reject(fsError(err, dest, "copy the store to")));
}

async function countTree(dir: string): Promise<Omit<MigrateResult, "from" | "to">> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = entries.filter((e) => e.isFile()).length;
  const certificates = entries.filter((e) => e.isFile() && e.parentPath === join(dir, "certs") && /^[0-9a-f]+\.pem$/.test(e.name)).length;
  const audit = await readFile(join(dir, "audit.log"), "utf8").catch(() => "");
  return { files, certificates, auditRecords: audit.split("\n").filter((l) => l !== "").length };
}

/**
 * Directory → database: the directory, read under its own lock, becomes the rows of an empty
 * database store in one transaction. Database → directory: a new (or empty) directory receives
 * the store, read in one transaction under the database's lock; it appears whole or not at all.
 */
export async function migrateStore(p: MigrateParams): Promise<MigrateResult> {
  const { from, to } = p;
  if (from.kind === to.kind)
    throw usageError(
      "ERR_USAGE",
      `--from and --to are both ${from.kind === "directory" ? "directories" : "databases"}`,
      "migrate between a directory and a postgres:// URL",
    );
  const pw = p.password !== undefined ? { password: p.password } : {};
  if (from.kind === "directory" && to.kind === "postgres") {
    if (!(await exists(layoutOf(from.path).config))) throw envError("ERR_NO_PKI", `no PKI found at ${from.path}`, "point --from at a PKI directory");
    return await withLock(
      layoutOf(from.path).lock,
      async () => {
        const s = await openSqlCopy({ url: to.url, display: to.display, tmpRoot: p.tmpRoot, ...pw });
        try {
          if ((await readdir(s.workdir)).length > 0)
            throw conflictError(
              "ERR_STORE_NOT_EMPTY",
              `the database store ${to.display} already holds a PKI`,
              "migrate into an empty database; mtls never merges two stores",
            );
          // The directory as one whole: a commit a crash interrupted is finished first.
          await new DirectoryStorage(from.path).recoverCommit();
          await rm(s.workdir, { recursive: true });
          await copyTree(from.path, s.workdir);
          // The database store reads certificates by key only: a batch's come out of their pack.
          await writePackedFiles(s.workdir);
          const counts = await countTree(s.workdir);
          await s.commit();
          return { from: from.path, to: to.display, ...counts };
        } catch (err) {
          await s.rollback();
          throw err;
        }
      },
      { purpose: "store migrate" },
    );
  }
  if (from.kind !== "postgres" || to.kind !== "directory") throw new Error("unreachable");
  const dest = to.path;
  const there = await readdir(dest).catch((err) => ((err as NodeJS.ErrnoException).code === "ENOENT" ? undefined : Promise.reject(fsError(err, dest, "read"))));
  if (there && there.length > 0) throw conflictError("ERR_PKI_NOT_EMPTY", `${dest} exists and is not empty`, "migrate into a new or empty directory");
  const s = await openSqlCopy({ url: from.url, display: from.display, tmpRoot: p.tmpRoot, ...pw });
  try {
    if (!(await exists(layoutOf(s.workdir).config)))
      throw envError("ERR_NO_PKI", `no PKI found in ${from.display}`, "run `mtls ca init --store <url>` or migrate a directory into it first");
    // Copied next to the destination and renamed into place: never a half-copied PKI there.
    await mkdir(dirname(dest), { recursive: true });
    const staging = join(dirname(dest), `.${basename(dest)}.migrate-${process.pid}`);
    await copyTree(s.workdir, staging);
    try {
      if (there) await rm(dest, { recursive: true });
      await rename(staging, dest);
    } catch (err) {
      await rm(staging, { recursive: true, force: true });
      throw fsError(err, dest, "create");
    }
    return { from: from.display, to: dest, ...(await countTree(dest)) };
  } finally {
    await s.rollback();
  }
}
