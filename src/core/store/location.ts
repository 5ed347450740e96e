// Where a PKI lives: a directory (the embedded default, and the backup format) or a PostgreSQL
// database shared by a team (#16). Chosen by `--store` / MTLS_STORE; `--pki` stays the
// directory option it always was.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { usageError } from "../errors.js";

export type StoreLocation =
  | { kind: "directory"; path: string }
  | {
      kind: "postgres";
      /** The URL as given (it may carry a password only when it came from the environment). */
      url: string;
      /** The same without password: the only form that is ever printed. */
      display: string;
    };

/** Query parameters that carry a secret in libpq's URLs (`?password=` is another way to write the password). */
const SECRET_PARAMS = ["password", "sslpassword"];

/** Whether the URL carries a password, in its user information or its query. */
export function urlHasSecret(url: URL): boolean {
  return url.password !== "" || SECRET_PARAMS.some((p) => url.searchParams.has(p));
}

/** Whether `value` is a URL that carries a password (anything else, a path included, does not). */
export function textHasUrlSecret(value: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return false;
  try {
    return urlHasSecret(new URL(value));
  } catch {
    // Not a URL the parser reads, but it may still hold user:password@.
    return /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(value) || /[?&](ssl)?password=/i.test(value);
  }
}

/** The URL with any password removed, for messages and output. */
export function redactUrl(url: URL): string {
  const u = new URL(url.href);
  u.password = "";
  for (const p of SECRET_PARAMS) u.searchParams.delete(p);
  return u.href;
}

/**
 * Parses a store location. `postgres://` and `postgresql://` URLs are a database store; `file:`
 * URLs and plain paths (relative to `cwd`) are a directory store. A password in a URL typed on
 * the command line is refused: the process list and shell history would show it.
 */
export function parseStoreLocation(value: string, opts: { cwd: string; fromArgv: boolean }): StoreLocation {
  if (/^postgres(ql)?:\/\//i.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw usageError("ERR_STORE_URL", "the store URL is not a valid postgres:// URL", "use postgres://user@host:5432/database");
    }
    if (urlHasSecret(url) && opts.fromArgv)
      throw usageError(
        "ERR_SECRET_IN_ARGV",
        "the database password is not accepted in --store (other users can read it in the process list and your shell history)",
        "remove it from the URL and set PGPASSWORD, use a .pgpass file, or pass --store-password-file <file>",
      );
    if (!url.hostname && !url.searchParams.get("host"))
      throw usageError("ERR_STORE_URL", `the store URL ${redactUrl(url)} names no host`, "use postgres://user@host:5432/database");
    return { kind: "postgres", url: url.href, display: redactUrl(url) };
  }
  if (/^file:/i.test(value)) {
    const path = value.startsWith("file://") ? fileURLToPath(value) : value.slice("file:".length);
    return { kind: "directory", path: resolve(opts.cwd, path) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value))
    throw usageError("ERR_STORE_URL", `unsupported store "${value.split(":")[0]}:"`, "use a directory path, file:<path> or postgres://user@host:5432/database");
  return { kind: "directory", path: resolve(opts.cwd, value) };
}
