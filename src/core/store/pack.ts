// Certificate packs of the directory store (#21): a transaction that creates many certificates
// (a batch) writes them, with their chain files, into one file under certs/packs/, flushed once,
// before the index append that commits them, instead of flushing two files per certificate.
// After the commit the per-serial files are written from it without a flush of their own: the
// pack is the durable copy. A reader that finds a per-serial file absent reads the pack, and
// `mtls doctor --fix` writes a missing or damaged per-serial file again from it.
//
// Format: JSON Lines, one {"key":"certs/<serial>.pem","data":"<PEM text>"} per file. A line cut
// short (a crash while the pack was written, before any index entry could name it) is ignored.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { StoreReader } from "./storage.js";

/** Where packs live, as a store key prefix. */
export const PACK_DIR = "certs/packs";

/** Transactions creating at least this many certificates write a pack. */
export const PACK_MIN_CERTS = 2;

const PACKABLE = /^certs\/([0-9a-f]+)(?:\.chain)?\.pem$/;

/** Whether a blob key is a per-serial certificate or chain file, which a pack may hold. */
export const isPackable = (key: string): boolean => PACKABLE.test(key);

/** The serial of a packable key. */
export const packedSerial = (key: string): string | undefined => PACKABLE.exec(key)?.[1];

/** A pack's key: named after its first certificate, whose serial no other pack can hold. */
export const packKey = (firstSerial: string): string => `${PACK_DIR}/${firstSerial}.pack`;

export interface PackEntry {
  key: string;
  data: string;
}

export function encodePack(entries: readonly PackEntry[]): string {
  return entries.map((e) => `${JSON.stringify({ key: e.key, data: e.data })}\n`).join("");
}

/** The entries of a pack's complete, well-formed lines. */
export function decodePack(text: string): PackEntry[] {
  const out: PackEntry[] = [];
  for (const line of text.slice(0, text.lastIndexOf("\n") + 1).split("\n")) {
    if (!line) continue;
    try {
      const e = JSON.parse(line) as Partial<PackEntry>;
      if (typeof e.key === "string" && typeof e.data === "string" && isPackable(e.key)) out.push({ key: e.key, data: e.data });
    } catch {}
  }
  return out;
}

/** Every pack of the store at `root`: its file name and entries. */
export async function readPacks(root: string): Promise<Array<{ file: string; entries: PackEntry[] }>> {
  const dir = join(root, PACK_DIR);
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [] as string[];
    throw err;
  });
  const out: Array<{ file: string; entries: PackEntry[] }> = [];
  for (const name of names.filter((n) => n.endsWith(".pack")).sort()) {
    const file = join(dir, name);
    out.push({ file, entries: decodePack(await readFile(file, "utf8")) });
  }
  return out;
}

/** The data a pack holds for `key`, if any (serials are unique: a key is in at most one pack). */
export async function readPacked(root: string, key: string): Promise<string | undefined> {
  for (const p of await readPacks(root)) for (const e of p.entries) if (e.key === key) return e.data;
  return undefined;
}

/** Every pack of a store, read through its storage: key and entries. */
export async function packsOf(store: Pick<StoreReader, "get" | "list">): Promise<Array<{ key: string; entries: PackEntry[] }>> {
  const out: Array<{ key: string; entries: PackEntry[] }> = [];
  for (const key of await store.list(`${PACK_DIR}/`)) {
    if (!key.endsWith(".pack")) continue;
    const bytes = await store.get(key);
    if (bytes) out.push({ key, entries: decodePack(new TextDecoder().decode(bytes)) });
  }
  return out;
}

/**
 * Whether `key`'s per-serial file is cut short (a prefix of what a pack holds, empty included):
 * what a crash after a batch's commit can leave, and doctor writes again from the pack.
 */
export async function packHoldsWhole(store: Pick<StoreReader, "get" | "list">, key: string): Promise<boolean> {
  if (!isPackable(key)) return false;
  const bytes = await store.get(key);
  const have = bytes ? new TextDecoder().decode(bytes) : "";
  for (const p of await packsOf(store)) for (const e of p.entries) if (e.key === key) return e.data !== have && e.data.startsWith(have);
  return false;
}
