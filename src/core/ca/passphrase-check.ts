import type { Pki } from "../session.js";
import { loadCaCerts, provePassphrase } from "./material.js";

/**
 * True when `passphrase` opens the key that signs partner certificates. Lets a prompt ask again
 * after a typo instead of failing the whole command once the answers were given.
 */
export async function verifyCaPassphrase(pki: Pki, passphrase: string): Promise<boolean> {
  const ca = await loadCaCerts(pki.storage, await pki.config());
  try {
    await provePassphrase(pki.storage, ca, async () => passphrase);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_PASSPHRASE_WRONG") return false;
    throw err;
  }
}
