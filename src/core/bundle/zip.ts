// A small zip writer and a small, strict reader for the bundles we write. The reader refuses what
// a delivery bundle never contains: ZIP64, encryption, symlinks, names that climb out of the
// target directory. The writer replaces archiver, which took ~25 ms of CPU just to load, a third
// of `partner export`'s budget over Node's start-up (#21), to write five stored files.
import { inputError } from "../errors.js";

/** node:zlib on first use: `mtls inspect` imports the reader for bundles and mostly reads PEM files (#21). */
const zlib = () => process.getBuiltinModule("node:zlib");

export interface ZipEntry {
  name: string;
  data: Buffer;
  /** Unix permission bits, e.g. 0o600 for a private key. */
  mode: number;
}

// DOS date and time have no time zone; a fixed 2020-01-01 00:00 makes the bytes reproducible.
const DOS_DATE = ((2020 - 1980) << 9) | (1 << 5) | 1;
const DOS_TIME = 0;
const UNIX = 3;
const VERSION = 20; // 2.0: what a stored entry needs (APPNOTE 4.4.3)

/**
 * A deterministic zip (APPNOTE 6.3): entries sorted by name, fixed timestamps, stored (not
 * deflated, so the bytes do not depend on the zlib version; PEM files gain little from
 * compression anyway), Unix modes in the external attributes.
 */
export async function makeZip(entries: ZipEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const name = Buffer.from(e.name, "utf8");
    if (e.data.length >= 0xffffffff || offset >= 0xffffffff) throw new Error("zip: entries past 4 GiB need ZIP64");
    const crc = zlib().crc32(e.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(VERSION, 4);
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(DOS_TIME, 10);
    local.writeUInt16LE(DOS_DATE, 12);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const dir = Buffer.alloc(46);
    dir.writeUInt32LE(0x02014b50, 0);
    dir.writeUInt16LE((UNIX << 8) | VERSION, 4);
    dir.writeUInt16LE(VERSION, 6);
    dir.writeUInt16LE(0x0800, 8);
    dir.writeUInt16LE(DOS_TIME, 12);
    dir.writeUInt16LE(DOS_DATE, 14);
    dir.writeUInt32LE(crc, 16);
    dir.writeUInt32LE(e.data.length, 20);
    dir.writeUInt32LE(e.data.length, 24);
    dir.writeUInt16LE(name.length, 28);
    dir.writeUInt32LE(((0o100000 | (e.mode & 0o777)) << 16) >>> 0, 38);
    dir.writeUInt32LE(offset, 42);
    parts.push(local, name, e.data);
    central.push(dir, name);
    offset += 30 + name.length + e.data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

function corrupt(why: string): Error {
  return inputError("ERR_BUNDLE_ZIP", `the bundle's zip is invalid: ${why}`, "ask the home party to send it again");
}

/** Control, zero-width and bidi formatting characters: no file we write has them, and they make a name print as another. */
const HIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** Is this entry name safe to create under a target directory? */
export function unsafeName(name: string): string | undefined {
  if (name === "" || name.length > 255) return "empty or overlong name";
  if (name.includes("\\") || name.includes("\0")) return "backslash or NUL in the name";
  if (name.startsWith("/") || /^[a-zA-Z]:/.test(name)) return "absolute path";
  if (name.split("/").some((part) => part === ".." || part === ".")) return "'..' or '.' path segment";
  if (name.split("/").includes("")) return "empty path segment";
  if (HIDDEN_CHARS.test(name)) return "control or invisible character in the name";
  return undefined;
}

/** The spelling under which file systems that ignore case and Unicode normalization (macOS, Windows) store a name. */
const folded = (name: string): string => name.normalize("NFC").toLowerCase();

/**
 * Why two of these (safe) names would be written to the same place, if they would: the same name
 * twice (which one a reader keeps differs from reader to reader), two names equal but for case or
 * normalization, or a file that another name needs as its directory.
 */
export function nameClash(names: readonly string[]): string | undefined {
  const seen = new Map<string, string>();
  for (const name of names) {
    const other = seen.get(folded(name));
    if (other === name) return `${JSON.stringify(name)} appears twice`;
    if (other !== undefined) return `${JSON.stringify(other)} and ${JSON.stringify(name)} differ only in case or normalization`;
    seen.set(folded(name), name);
  }
  for (const name of names) {
    const parts = name.split("/");
    for (let i = 1; i < parts.length; i++) {
      const file = seen.get(folded(parts.slice(0, i).join("/")));
      if (file !== undefined) return `${JSON.stringify(file)} is a file, and ${JSON.stringify(name)} needs it as a directory`;
    }
  }
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
        data = zlib().inflateRawSync(raw, { maxOutputLength: Math.max(size, 1) });
      } catch {
        throw corrupt(`${name} does not inflate`);
      }
    } else throw corrupt(`${name} uses compression method ${method}`);
    if (data.length !== size || zlib().crc32(data) !== crc) throw corrupt(`${name} fails its CRC or size check`);
    out.push({ name, data, mode: unixMode & 0o777 });
  }
  return out;
}
