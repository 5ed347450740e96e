/** Process exit codes. Stable: scripts depend on them (README "Exit codes"). */
export const Exit = {
  OK: 0,
  CHECK_FAILED: 1,
  USAGE: 2,
  INPUT: 3,
  CONFLICT: 4,
  ENV: 5,
  INTERNAL: 70,
  CANCELLED: 130,
} as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

export type ErrorCode = `ERR_${string}`;

/**
 * The one error type the core throws on purpose. `message` names what failed and the offending
 * value; `hint` says what to do next. Neither may ever contain a secret.
 */
export class MtlsError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly exit: ExitCode,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "MtlsError";
  }
}

export const usageError = (code: ErrorCode, message: string, hint?: string) => new MtlsError(code, message, Exit.USAGE, hint);
export const inputError = (code: ErrorCode, message: string, hint?: string, cause?: unknown) => new MtlsError(code, message, Exit.INPUT, hint, { cause });
export const conflictError = (code: ErrorCode, message: string, hint?: string) => new MtlsError(code, message, Exit.CONFLICT, hint);
export const envError = (code: ErrorCode, message: string, hint?: string, cause?: unknown) => new MtlsError(code, message, Exit.ENV, hint, { cause });

/** Maps Node's file-system errors to environment errors that name the path. */
export function fsError(err: unknown, path: string, doing: string): MtlsError {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") return envError("ERR_NOT_FOUND", `cannot ${doing} ${path}: no such file or directory`, undefined, err);
  if (code === "EACCES" || code === "EPERM")
    return envError("ERR_PERMISSION", `cannot ${doing} ${path}: permission denied`, "check the file's owner and mode", err);
  if (code === "ENOSPC") return envError("ERR_DISK_FULL", `cannot ${doing} ${path}: no space left on device`, undefined, err);
  if (code === "ELOOP")
    return envError(
      "ERR_SYMLINK",
      `cannot ${doing} ${path}: it is a symbolic link, and mtls does not write through links`,
      "replace the link with the real file (someone may have planted it)",
      err,
    );
  if (code === "EISDIR") return envError("ERR_IS_DIRECTORY", `cannot ${doing} ${path}: it is a directory`, undefined, err);
  if (code === "ENOTDIR") return envError("ERR_NOT_DIRECTORY", `cannot ${doing} ${path}: a part of its path is a file, not a directory`, undefined, err);
  return envError("ERR_IO", `cannot ${doing} ${path}: ${(err as Error)?.message ?? String(err)}`, undefined, err);
}

/**
 * The error for a store file that is a directory. open(2) of a directory for reading succeeds on
 * Linux: without this, the first read fails with a raw EISDIR far from the path's name.
 */
export const directoryError = (path: string): MtlsError => fsError(Object.assign(new Error("is a directory"), { code: "EISDIR" }), path, "read");
