// Reading blobs for the checks: the bytes under a key as a Buffer (undefined when there is
// none), through the doctor's transaction.
import type { StoreReader } from "../store/storage.js";

export async function bytesOf(store: StoreReader, key: string): Promise<Buffer | undefined> {
  const b = await store.get(key);
  return b && Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export async function textOf(store: StoreReader, key: string): Promise<string | undefined> {
  return (await bytesOf(store, key))?.toString("utf8");
}
