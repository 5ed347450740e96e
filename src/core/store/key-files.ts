import type { Storage } from "./storage.js";

/**
 * Removes a CA key file whose key now lives in a token (`ca key import-to-token
 * --remove-file-key`), after the commit that recorded the token key: a crash in between leaves
 * the file, the state the user gets without the flag. Returns why it failed, or undefined.
 */
export async function removeKeyFile(storage: Pick<Storage, "remove">, key: string): Promise<string | undefined> {
  try {
    await storage.remove(key);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
