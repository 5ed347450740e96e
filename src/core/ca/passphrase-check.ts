import { openStore } from "../store/store.js";
import { loadCaCerts, provePassphrase } from "./material.js";

/**
 * True when `passphrase` opens the key that signs partner certificates. Lets a prompt ask again
 * after a typo instead of failing the whole command once the answers were given.
 */
export async function verifyCaPassphrase(pkiDir: string, passphrase: string): Promise<boolean> {
  const { layout, config } = await openStore(pkiDir);
  const ca = await loadCaCerts(layout, config);
  try {
    await provePassphrase(layout, ca, async () => passphrase);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_PASSPHRASE_WRONG") return false;
    throw err;
  }
}
