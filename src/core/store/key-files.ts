import { unlink } from "node:fs/promises";
import { fsError } from "../errors.js";
import type { Storage } from "./storage.js";

/**
 * Removes a CA key file whose key now lives in a token (`ca key import-to-token
 * --remove-file-key`), after the commit that recorded the token key: a crash in between leaves
 * the file, the state the user gets without the flag. Returns why it failed, or undefined.
 */
export async function removeKeyFile(storage: Pick<Storage, "localPath" | "where">, key: string): Promise<string | undefined> {
  const path = storage.localPath(key);
  if (path === undefined) return `${storage.where(key)} is not a file this storage can remove`;
  try {
    await unlink(path);
    return undefined;
  } catch (err) {
    return fsError(err, path, "remove").message;
  }
}
