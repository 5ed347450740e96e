// Zip writing through archiver (its one adapter, loaded lazily) and a small, strict reader for
// the bundles we write. The reader refuses what a delivery bundle never contains: ZIP64,
// encryption, symlinks, names that climb out of the target directory.
import { buffer } from "node:stream/consumers";
import { crc32, inflateRawSync } from "node:zlib";
import { inputError } from "../errors.js";

export interface ZipEntry {
  name: string;
  data: Buffer;
  /** Unix permission bits, e.g. 0o600 for a private key. */
  mode: number;
}

/** DOS timestamps have no time zone; archiver writes them in UTC, so a fixed date is reproducible. */
const FIXED_DATE = new Date("2020-01-01T00:00:00Z");

/**
 * A deterministic zip: entries sorted by name, fixed timestamps, stored (not deflated, so the
 * bytes do not depend on the zlib version; PEM files gain little from compression anyway).
 */
export async function makeZip(entries: ZipEntry[]): Promise<Buffer> {
  const { ZipArchive } = await import("archiver");
  const archive = new ZipArchive({ store: true });
  // Attach the consumer before finalize(): awaiting finalize() first deadlocks once the content
  // exceeds the stream's buffer (libraries.md §5).
  const out = buffer(archive);
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    archive.append(e.data, { name: e.name, date: FIXED_DATE, mode: e.mode });
  }
  await archive.finalize();
  return out;
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

function corrupt(why: string): Error {
  return inputError("ERR_BUNDLE_ZIP", `the bundle's zip is invalid: ${why}`, "ask the home party to send it again");
}

/** Is this entry name safe to create under a target directory? */
export function unsafeName(name: string): string | undefined {
  if (name === "" || name.length > 255) return "empty or overlong name";
  if (name.includes("\\") || name.includes("\0")) return "backslash or NUL in the name";
  if (name.startsWith("/") || /^[a-zA-Z]:/.test(name)) return "absolute path";
  if (name.split("/").some((part) => part === ".." || part === ".")) return "'..' or '.' path segment";
  return undefined;
}

/** Reads every file of a zip into memory, verifying sizes and CRCs. `maxBytes` caps the total. */
export function readZip(zip: Buffer, maxBytes = 64 * 1024 * 1024): ZipEntry[] {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65_535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt("no end of central directory");
  const count = zip.readUInt16LE(eocd + 10);
  const cdSize = zip.readUInt32LE(eocd + 12);
  let at = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || at === 0xffffffff || at + cdSize > eocd) throw corrupt("ZIP64 or bad central directory offset");
  const out: ZipEntry[] = [];
  let total = 0;
  for (let n = 0; n < count; n++) {
    if (at + 46 > zip.length || zip.readUInt32LE(at) !== 0x02014b50) throw corrupt("bad central directory entry");
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressed = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLen = zip.readUInt16LE(at + 28);
    const extraLen = zip.readUInt16LE(at + 30);
    const commentLen = zip.readUInt16LE(at + 32);
    const madeBy = zip.readUInt16LE(at + 4) >> 8;
    const external = zip.readUInt32LE(at + 38);
    const local = zip.readUInt32LE(at + 42);
    const name = zip.subarray(at + 46, at + 46 + nameLen).toString("utf8");
    at += 46 + nameLen + extraLen + commentLen;
    if (flags & 0x1) throw corrupt(`${name} is encrypted`);
    const unixMode = madeBy === 3 ? external >>> 16 : 0;
    const type = unixMode & S_IFMT;
    if (name.endsWith("/") || type === S_IFDIR) continue;
    if (type !== 0 && type !== S_IFREG) throw corrupt(`${name} is not a regular file (symlink or device)`);
    if (local + 30 > zip.length || zip.readUInt32LE(local) !== 0x04034b50) throw corrupt(`bad local header for ${name}`);
    const dataAt = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    if (dataAt + compressed > zip.length) throw corrupt(`${name} is truncated`);
    total += size;
    if (total > maxBytes) throw corrupt(`more than ${maxBytes} bytes uncompressed`);
    const raw = zip.subarray(dataAt, dataAt + compressed);
    let data: Buffer;
    if (method === 0) data = Buffer.from(raw);
    else if (method === 8) {
      try {
        data = inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) });
      } catch {
        throw corrupt(`${name} does not inflate`);
      }
    } else throw corrupt(`${name} uses compression method ${method}`);
    if (data.length !== size || crc32(data) !== crc) throw corrupt(`${name} fails its CRC or size check`);
    out.push({ name, data, mode: unixMode & 0o777 });
  }
  return out;
}
