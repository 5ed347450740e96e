// Certificate packs of the directory store (#21): a transaction that creates many certificates
// (a batch) writes them, with their chain files, into one file under certs/packs/, created with
// O_EXCL and flushed once before the index append that commits them, instead of creating and
// flushing two files per certificate. The pack is the only copy: no per-serial file is written
// for a packed certificate (store format PACK_FORMAT_VERSION, config.ts). Every read of
// certs/<serial>.pem or .chain.pem goes through DirectoryStorage.get, which falls back to the
// packs when the file is absent (PackIndex below). Stores of earlier formats may also hold
// per-serial files written from their packs; a file, when present, wins.
//
// Format: JSON Lines, one {"key":"certs/<serial>.pem","data":"<PEM text>"} per file. A line cut
// short (a crash while the pack was written, before any index entry could name it) is ignored.
import { readdirSync, readFileSync, readSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileVersion } from "./fs.js";
import type { StoreReader } from "./storage.js";
import { withStoreFile } from "./store-file.js";

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

const KEY_PREFIX = Buffer.from('{"key":"');
/** A pack is opened without following a link planted in its place (#13). */

/**
 * Where each packed file is, per storage instance: built on the first read that misses a
 * per-serial file, by reading each pack once, and kept while certs/packs/ is unchanged (packs
 * are only ever created whole or moved away as a whole, each of which changes the directory).
 * It holds positions, not contents, so a store of 100,000 packed certificates costs a few MB.
 * Synchronous reads on purpose: one lookup is a few small reads, where the thread pool's round
 * trips would cost more than the reads themselves.
 */
export class PackIndex {
  private version = "";
  private readonly files = new Map<string, Map<string, { start: number; end: number }>>();

  constructor(private readonly dir: string) {}

  /** What a pack holds for `key`, if any (serials are unique: a key is in at most one pack). */
  get(key: string): string | undefined {
    this.refresh();
    for (const [file, entries] of this.files) {
      const at = entries.get(key);
      if (!at) continue;
      const line = readSlice(join(this.dir, file), at.start, at.end);
      const entry = line ? decodePack(`${line}\n`)[0] : undefined;
      if (entry?.key === key) return entry.data;
    }
    return undefined;
  }

  private refresh(): void {
    const version = fileVersion(this.dir);
    if (version === this.version) return;
    this.version = version;
    let names: string[] = [];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith(".pack"));
    } catch {}
    for (const file of this.files.keys()) if (!names.includes(file)) this.files.delete(file);
    for (const file of names) if (!this.files.has(file)) this.files.set(file, indexPack(join(this.dir, file)));
  }
}

function readSlice(path: string, start: number, end: number): string | undefined {
  return withStoreFile(
    path,
    (fd, st) => {
      if (!st.isFile()) return undefined;
      const buf = Buffer.alloc(end - start);
      const n = readSync(fd, buf, 0, buf.length, start);
      return buf.subarray(0, n).toString("utf8");
    },
    () => undefined,
  );
}

/** The byte range of each complete line of a pack, by the key it names. */
function indexPack(path: string): Map<string, { start: number; end: number }> {
  const out = new Map<string, { start: number; end: number }>();
  let bytes: Buffer | undefined;
  try {
    bytes = withStoreFile(
      path,
      (fd, st) => (st.isFile() ? readFileSync(fd) : undefined),
      () => undefined,
    );
  } catch {}
  if (!bytes) return out;
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(0x0a, start);
    if (nl < 0) break; // a line cut short
    if (bytes.subarray(start, start + KEY_PREFIX.length).equals(KEY_PREFIX)) {
      const close = bytes.indexOf(0x22, start + KEY_PREFIX.length);
      const key = bytes.toString("utf8", start + KEY_PREFIX.length, close);
      if (close > 0 && close < nl && isPackable(key)) out.set(key, { start, end: nl });
    }
    start = nl + 1;
  }
  return out;
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

/**
 * Writes every packed file that has no per-serial file of its own into the store tree at `root`:
 * for a copy of a directory store going to a storage that reads no packs (store migrate).
 */
export async function writePackedFiles(root: string): Promise<void> {
  const dir = join(root, PACK_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.endsWith(".pack"))) {
    for (const e of decodePack(await readFile(join(dir, name), "utf8"))) {
      await writeFile(join(root, e.key), e.data, { flag: "wx", mode: 0o644 }).catch((err: NodeJS.ErrnoException) =>
        err.code === "EEXIST" ? undefined : Promise.reject(err),
      );
    }
  }
}
