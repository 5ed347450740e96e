// The index summary (index.jsonl.summary): a sidecar of the index journal laid out so that `list`,
// `list --json` and `status` over 100,000 certificates build no object per certificate (#21).
// Parsing the 48 MB journal as JSON took ~0.6 s; decoding even a compact text summary into 100,000
// row objects, and pretty-printing 100,000 records, kept those commands at 5–19× `node -e 0`.
// So the summary holds what the commands print, already rendered, and the few numbers their
// choices depend on:
//   - per certificate, columns: notAfter (ms), revoked/server flags, the partner's number;
//   - per certificate, the table cells (serial, partner, subject, notAfter's date), made safe for
//     a terminal, with their widths;
//   - per certificate, its `list --json` element as text, cut around the two values that depend on
//     the time of the run (`status`, `daysLeft`), made safe as the --json writer makes it;
//   - the few rows `status` judges partners, servers and CAs by (statusRowsOf).
// It is a cache and nothing more: the journal stays the source of truth. The summary names the
// journal's size, inode and mtime it was derived from; any append, compaction or repair of the
// journal makes it stale, and the next reader rebuilds it from the journal, unless the journal
// lost records the summary holds (summary-damage.ts): that summary stays. It is flushed before
// it takes its name (never a valid trailer over pages lost in a crash) and never written under
// the lock. `doctor` derives it from the
// journal again and compares bytes.
//
// File layout: [element texts][columns A][columns B][trailer: one text line of TRAILER bytes].
// The trailer is last so that the file is written front to back as the journal is read.
import { type Hash, randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, type Stats, unlinkSync, writeSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { directoryError, envError, fsError } from "../errors.js";
import { notAFile, STORE_READ } from "./fs.js";
import type { CertRecord } from "./index-file.js";
import { checkCertRecord, corruptError, parseRecord } from "./records.js";
import { type SummaryParts, summaryParts } from "./summary-build.js";
import { coveredPrefix, damageOf, type IndexDamage, statusesOf } from "./summary-damage.js";
import { extendFrom, type OldSummary, openAny } from "./summary-extend.js";

/** This machine's byte order, as os.endianness() names it, without loading node:os (#21). */
const ENDIANNESS = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? "LE" : "BE";

/** What status needs of a certificate record (and, from the journal, where its line is). */
export type IndexRow = Pick<
  CertRecord,
  "serial" | "partnerId" | "subject" | "notAfter" | "issuedAt" | "issuer" | "status" | "kind" | "supersedes" | "overlapUntil"
> & {
  /** The byte offset and length of the record's (last) line in index.jsonl (rows read from the journal have them). */
  at?: number;
  len?: number;
};

/** A time in another form than mtls writes (core/time.ts iso): statusRowsOf keeps its partner's rows whole. */
export const oddTimes = (r: Pick<IndexRow, "notAfter" | "issuedAt">) => r.notAfter.length !== 20 || r.issuedAt.length !== 20;

// 6: the cells and --json pieces, escaped when written (display-text.ts), escape every invisible
// character too; a summary of an earlier format may hold them raw, so the next reader replaces it.
// 7: the status rows kept every certificate of a partner still valid when its latest was issued.
// 8: they no longer do (a partner is judged by its newest certificate): a summary of 7 is larger
// than status needs, and every reader of a fleet's summary paid for it.
const FORMAT_VERSION = 8;
const FORMAT = `mtls-index-summary ${FORMAT_VERSION}`;
const ANY_FORMAT = "mtls-index-summary ";
export const TRAILER = 512;

/** Row flags. DAYS_FIRST: the record had a `daysLeft` key before `status` (the element's values come the other way round). */
export const REVOKED = 1;
export const SERVER = 2;
export const DAYS_FIRST = 4;

/** The indentation of the `list --json` elements the summary holds (`result.certificates[i]`). */
export const ELEMENT_INDENT = "      ";
/** What the writer puts between two elements; each element's first piece begins with it. */
export const ELEMENT_SEPARATOR = `,\n${ELEMENT_INDENT}`;

export const summaryPath = (indexPath: string): string => `${indexPath}.summary`;

/** The journal version a summary was derived from: any write to the journal changes it. */
export function stampOf(st: Stats | undefined): string {
  return st ? `${st.size} ${st.ino} ${st.mtimeMs}` : "absent";
}

/**
 * The table cells of every row (serial, partner, subject, notAfter's date), each followed by the
 * spaces that pad it to its column's widest cell (columnWidths) and two more, row after row: a
 * table of all the rows copies each row's cells as one run of bytes.
 */
export interface IndexCells {
  /** Byte end of the text of cell c of row r at [4r + c]; its padding follows, then the next cell. */
  end: Uint32Array;
  /** Columns each cell takes. */
  width: Uint32Array;
  columnWidths: readonly number[];
  /** The byte length of all the cells. */
  length: number;
  /** Reads `len` bytes of the cells from byte `from` into `into` at `at`. */
  read(from: number, len: number, into: Buffer, at: number): void;
}

/** The text of cell c of row i (for tests and the slow paths; the table copies runs of cells). */
export function cellTextOf(cells: IndexCells, i: number, c: number): string {
  const pad = (j: number) => (cells.columnWidths[j % 4] as number) - (cells.width[j] as number) + 2;
  const j = 4 * i + c;
  const from = j > 0 ? (cells.end[j - 1] as number) + pad(j - 1) : 0;
  const buf = Buffer.alloc((cells.end[j] as number) - from);
  cells.read(from, buf.length, buf, 0);
  return buf.toString("utf8");
}

/**
 * The rows' `list --json` elements: row r's text is P0 V1 P1 V2 P2, where the pieces' byte lengths
 * are pieceLen[3r..3r+2] (laid out one after another, row after row) and V1, V2 are the quoted
 * status and the daysLeft number (the other way round when the row has DAYS_FIRST). P0 begins
 * with ELEMENT_SEPARATOR, so that one row's P2 and the next row's P0 are one run of bytes.
 */
export interface IndexJson {
  pieceLen: Uint32Array;
  /** The byte length of all the texts. */
  length: number;
  /** Reads `len` bytes of the element texts from byte `from` into `into` at `at`: bytes load made readable, when there is load. */
  read(from: number, len: number, into: Buffer, at: number): void;
  /** See Source.load: the element texts of a summary fetched as they are read. */
  load?(ranges: Ranges, keepFrom?: number): Promise<void> | undefined;
}

/** The index as list and status read it (see the top of this file). Close it when done. */
export interface IndexView {
  readonly count: number;
  readonly notAfterMs: Float64Array;
  readonly flags: Uint8Array;
  readonly partnerOf: Uint32Array;
  readonly partners: readonly string[];
  /** The rows status judges partners, servers and CAs by, in issue order (statusRowsOf). */
  readonly statusRows: readonly IndexRow[];
  cells(): IndexCells;
  json(): IndexJson;
  close(): void;
  /** The journal lost records its summary holds (summary-damage.ts): this view is of what is left. */
  readonly damage?: IndexDamage;
}

// Partner ids and status rows are text: a value holding a tab, newline or "%" is percent-encoded.
const SPECIAL = /[%\t\n\r]/;
const enc = (s: string) => (SPECIAL.test(s) ? s.replace(/[%\t\n\r]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`) : s);
const dec = (s: string) => (s.includes("%") ? s.replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))) : s);
const ROW_FIELDS = 10;

export function encodeRows(rows: readonly IndexRow[]): string {
  let out = "";
  for (const r of rows)
    out += `${r.serial}\t${enc(r.partnerId)}\t${r.notAfter}\t${r.status === "revoked" ? "r" : "v"}\t${r.kind === "server" ? "s" : ""}\t${enc(r.subject)}\t${r.issuedAt}\t${enc(r.issuer)}\t${r.supersedes ?? ""}\t${r.overlapUntil ?? ""}\n`;
  return out;
}

/** The rows of encodeRows' text; undefined when it is damaged. */
export function decodeRows(text: string): IndexRow[] | undefined {
  const rows: IndexRow[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const f = line.split("\t").map(dec);
    if (f.length !== ROW_FIELDS) return undefined;
    const row: IndexRow = {
      serial: f[0] as string,
      partnerId: f[1] as string,
      subject: f[5] as string,
      notAfter: f[2] as string,
      issuedAt: f[6] as string,
      issuer: f[7] as string,
      status: f[3] === "r" ? "revoked" : "valid",
    };
    if (f[4] === "s") row.kind = "server";
    if (f[8]) row.supersedes = f[8];
    if (f[9]) row.overlapUntil = f[9];
    rows.push(row);
  }
  return rows;
}

export const toRow = (r: CertRecord, at: number, len: number): IndexRow => {
  const row: IndexRow = {
    serial: r.serial,
    partnerId: r.partnerId,
    subject: r.subject,
    notAfter: r.notAfter,
    issuedAt: r.issuedAt,
    issuer: r.issuer,
    status: r.status,
    at,
    len,
  };
  if (r.kind === "server") row.kind = "server";
  if (r.supersedes) row.supersedes = r.supersedes;
  if (r.overlapUntil) row.overlapUntil = r.overlapUntil;
  return row;
};

/**
 * The rows of the journal's complete lines, the last line per serial winning (as parseIndex),
 * each with its line's place. A damaged line fails exactly as readIndex does.
 */
export function rowsOfJournal(buf: Buffer, path: string): IndexRow[] {
  return rowsOfLines(buf, 0, 0, path).rows;
}

/** rowsOfJournal of the complete lines from byte `from` on (line `firstLine` + 1); `records`: how many lines held one. */
export function rowsOfLines(buf: Buffer, from: number, firstLine: number, path: string): { rows: IndexRow[]; records: number } {
  const end = buf.lastIndexOf(0x0a) + 1;
  const bySerial = new Map<string, IndexRow>();
  let lineNo = firstLine;
  let records = 0;
  for (let start = from; start < end; ) {
    const nl = buf.indexOf(0x0a, start);
    const line = buf.toString("utf8", start, nl);
    lineNo++;
    if (line.trim() !== "") {
      const parsed = parseRecord<CertRecord>(line, checkCertRecord);
      if ("bad" in parsed) throw corruptError(path, lineNo, parsed.bad);
      records++;
      const prev = bySerial.get(parsed.record.serial);
      const row = toRow(parsed.record, start, nl - start);
      // Records stay in issue order: a later line for a serial replaces its row in place.
      if (prev) Object.assign(prev, row, { kind: row.kind, supersedes: row.supersedes, overlapUntil: row.overlapUntil });
      else bySerial.set(row.serial, row);
    }
    start = nl + 1;
  }
  const rows = [...bySerial.values()];
  for (const r of rows) for (const k of ["kind", "supersedes", "overlapUntil"] as const) if (r[k] === undefined) delete r[k];
  return { rows, records };
}

const pad8 = (n: number) => (n + 7) & ~7;

/** Where each section is, from the counts in the trailer. */
type Lens = { json: number; partners: number; status: number; cells: number };

function layoutOf(n: number, lens: Lens) {
  const a = 8 * n + 4 * n + pad8(n) + pad8(lens.partners) + pad8(lens.status);
  const b = 44 * n + lens.cells;
  return { a, b, size: lens.json + a + b + TRAILER };
}

/**
 * What a summary covers of its journal: the bytes of its complete lines, how many lines those
 * are, and their SHA-256 (an append leaves them as they were; see summary-extend.ts).
 */
export interface JournalFacts {
  covered: number;
  lines: number;
  hash: string;
}

/** The trailer line naming the journal version and the sections' sizes. */
function trailerOf(stamp: string, n: number, lens: Lens, widths: readonly number[], facts: JournalFacts): Buffer {
  const line = [FORMAT, stamp, n, lens.json, lens.partners, lens.status, lens.cells, widths.join(","), facts.covered, facts.lines, facts.hash, ENDIANNESS].join(
    "\t",
  );
  return Buffer.from(`${line.padEnd(TRAILER - 1, " ")}\n`, "latin1");
}

export interface Trailer {
  stamp: string;
  n: number;
  lens: Lens;
  widths: number[];
  facts: JournalFacts;
}

const trailerFields = (t: Buffer): string[] => t.toString("latin1").trimEnd().split("\t");
const ourFormat = (f: readonly string[]): boolean => f[0] === FORMAT && f[f.length - 1] === ENDIANNESS;

/** Whether a trailer is of this release's format and this machine's byte order (whatever it says besides). */
export const ofThisFormat = (t: Buffer): boolean => ourFormat(trailerFields(t));

/** Whether a trailer is of an earlier format than this release's: one a release that reads it no longer writes. */
export function ofEarlierFormat(t: Buffer): boolean {
  const m = /^mtls-index-summary ([1-9][0-9]{0,5})$/.exec(trailerFields(t)[0] ?? "");
  return m !== null && Number(m[1]) < FORMAT_VERSION;
}

/** The trailer's counts when it is this format's, for journal version `stamp` (any, when undefined) and a file of `size` bytes. */
export function readTrailer(t: Buffer, stamp: string | undefined, size: number): Trailer | undefined {
  const f = trailerFields(t);
  if (f.length !== 12 || !ourFormat(f) || (stamp !== undefined && f[1] !== stamp)) return undefined;
  const [n, json, partners, status, cells] = f.slice(2, 7).map(Number) as [number, number, number, number, number];
  const lens = { json, partners, status, cells };
  const widths = (f[7] as string).split(",").map(Number);
  const [covered, lines] = [Number(f[8]), Number(f[9])];
  const numbers = [n, json, partners, status, cells, covered, lines, ...widths];
  if (!numbers.every((x) => Number.isSafeInteger(x) && x >= 0) || widths.length !== 4 || !/^[0-9a-f]{64}$/.test(f[10] as string)) return undefined;
  const facts = { covered, lines, hash: f[10] as string };
  return layoutOf(n, lens).size === size ? { stamp: f[1] as string, n, lens, widths, facts } : undefined;
}

/** Writes a summary's sections: the element texts as they come, then the columns and the trailer. */
export function writeSummaryParts(parts: SummaryParts, stamp: string, emit: (b: Buffer) => void): void {
  const n = parts.notAfterMs.length;
  const partners = Buffer.from(parts.partners.map(enc).join("\n"));
  const status = Buffer.from(encodeRows(parts.statusRows));
  const lens = { json: parts.jsonLength, partners: partners.length, status: status.length, cells: parts.cells.length };
  const zeros = (k: number) => Buffer.alloc(pad8(k) - k);
  const view = (a: Float64Array | Uint32Array | Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  emit(view(parts.notAfterMs));
  emit(view(parts.partnerOf));
  emit(Buffer.concat([view(parts.flags), zeros(n)]));
  emit(Buffer.concat([partners, zeros(partners.length)]));
  emit(Buffer.concat([status, zeros(status.length)]));
  emit(view(parts.pieceLen));
  emit(view(parts.cellEnd));
  emit(view(parts.cellWidth));
  emit(parts.cells);
  emit(trailerOf(stamp, n, lens, parts.columnWidths, parts.facts));
}

/** Byte ranges of a summary: [from, length]. */
export type Ranges = ReadonlyArray<readonly [number, number]>;

/** A summary's bytes, read at an offset: from its file, from memory, or fetched (a database's chunks). */
export interface Source {
  size: number;
  readInto(from: number, len: number, into: Buffer, at: number): void;
  /**
   * Only a source that fetches its bytes when asked has it: makes `ranges` readable, and may let
   * go of the bytes wholly before `keepFrom` (a reader that goes forward). Undefined when they
   * are readable already.
   */
  load?(ranges: Ranges, keepFrom?: number): Promise<void> | undefined;
  close(): void;
}

export function fileSource(fd: number, size: number): Source {
  return {
    size,
    readInto(from, len, into, at) {
      for (let n = 0; n < len; ) {
        const got = readSync(fd, into, at + n, len - n, from + n);
        if (got === 0) throw damaged();
        n += got;
      }
    },
    close: () => closeSync(fd),
  };
}

export function memorySource(bytes: Buffer): Source {
  return {
    size: bytes.length,
    readInto(from, len, into, at) {
      bytes.copy(into, at, from, from + len);
    },
    close() {},
  };
}

/** `len` bytes at `from` in a buffer of their own (offset 0: the columns are viewed as typed arrays in place). */
export function readFresh(src: Source, from: number, len: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(len);
  src.readInto(from, len, buf, 0);
  return buf;
}

const u32 = (b: Buffer, at: number, n: number) => new Uint32Array(b.buffer, b.byteOffset + at, n);

/** What a reader of the view will use besides the columns every view reads: the table's cells, or the --json texts. */
export type IndexPart = "cells" | "json";

/**
 * The byte ranges of a summary of `size` bytes whose trailer is `trailer` that viewOf reads for
 * `parts` (the trailer, the columns, and what `parts` adds): what a storage that fetches a
 * summary over the network fetches before it builds the view (`texts: false`: all but the
 * element texts, which such a storage fetches as they are read). Undefined for a trailer that is
 * not a summary's of this size.
 */
export function regionsOf(trailer: Buffer, size: number, parts: readonly IndexPart[], o: { texts?: boolean } = {}): Array<[number, number]> | undefined {
  const t = readTrailer(trailer, undefined, size);
  if (!t) return undefined;
  const { a } = layoutOf(t.n, t.lens);
  const out: Array<[number, number]> = [
    [size - TRAILER, TRAILER],
    [t.lens.json, a],
  ];
  if (parts.length) out.push([t.lens.json + a, 44 * t.n]);
  if (parts.includes("cells")) out.push([t.lens.json + a + 44 * t.n, t.lens.cells]);
  if (parts.includes("json") && o.texts !== false) out.push([0, t.lens.json]);
  return out;
}

/** The view of a summary in `src` for journal version `stamp`; undefined when it is another's or damaged. */
export function viewOf(src: Source, stamp: string): IndexView | undefined {
  if (src.size < TRAILER) return undefined;
  const t = readTrailer(readFresh(src, src.size - TRAILER, TRAILER), stamp, src.size);
  if (!t) return undefined;
  const { n, lens } = t;
  const { a } = layoutOf(n, lens);
  const A = readFresh(src, lens.json, a);
  const flagsAt = 12 * n;
  const partnersAt = flagsAt + pad8(n);
  const statusAt = partnersAt + pad8(lens.partners);
  const partnersText = A.toString("utf8", partnersAt, partnersAt + lens.partners);
  const partners = n === 0 && lens.partners === 0 ? [] : partnersText.split("\n").map(dec);
  const statusRows = decodeRows(A.toString("utf8", statusAt, statusAt + lens.status));
  const partnerOf = u32(A, 8 * n, n);
  if (!statusRows || partnerOf.some((p) => p >= partners.length)) return undefined;
  let B: Buffer | undefined;
  const columnsB = () => {
    B ??= readFresh(src, lens.json + a, 44 * n);
    return B;
  };
  const cells = (): IndexCells => {
    const bytes = columnsB();
    const end = u32(bytes, 12 * n, 4 * n);
    const width = u32(bytes, 28 * n, 4 * n);
    // Every cell and its padding inside the section, in order: a damaged summary fails here, before anything is printed.
    let at = 0;
    const [w0, w1, w2, w3] = t.widths as [number, number, number, number];
    for (let j = 0; j < end.length; j += 4)
      for (let c = 0; c < 4; c++) {
        const e = end[j + c] as number;
        const w = c === 0 ? w0 : c === 1 ? w1 : c === 2 ? w2 : w3;
        if (e < at || (width[j + c] as number) > w) throw damaged();
        at = e + w - (width[j + c] as number) + 2;
      }
    if (at !== lens.cells) throw damaged();
    const from = lens.json + a + 44 * n;
    return { end, width, columnWidths: t.widths, length: lens.cells, read: (f, len, into, to) => src.readInto(from + f, len, into, to) };
  };
  const json = (): IndexJson => {
    const pieceLen = u32(columnsB(), 0, 3 * n);
    let total = 0;
    for (let i = 0; i < pieceLen.length; i++) total += pieceLen[i] as number;
    if (total !== lens.json) throw damaged();
    const read = (from: number, len: number, into: Buffer, at: number) => src.readInto(from, len, into, at);
    // The element texts come first in a summary: their offsets are the source's.
    return src.load ? { pieceLen, length: total, read, load: src.load.bind(src) } : { pieceLen, length: total, read };
  };
  return {
    count: n,
    notAfterMs: new Float64Array(A.buffer, A.byteOffset, n),
    flags: new Uint8Array(A.buffer, A.byteOffset + flagsAt, n),
    partnerOf,
    partners,
    statusRows,
    cells,
    json,
    close: () => src.close(),
  };
}

const damaged = () =>
  envError("ERR_STORE_CORRUPT", "the index summary is damaged: its cells do not add up", "`mtls doctor --fix` rebuilds it from index.jsonl, which is intact");

/** A summary element that is not the JSON object it was written as. */
export const damagedElement = (cause: unknown) =>
  envError("ERR_STORE_CORRUPT", "the index summary is damaged: an element is not JSON", "`mtls doctor --fix` rebuilds it from index.jsonl", cause);

/** A summary built from the journal's bytes, held in memory (a store without a summary file, or one that cannot be written). */
export function summaryInMemory(journal: Buffer, name: string, stamp: string): Buffer {
  const chunks: Buffer[] = [];
  const parts = summaryParts(journal, name, (b) => chunks.push(b));
  writeSummaryParts(parts, stamp, (b) => chunks.push(Buffer.from(b)));
  return Buffer.concat(chunks);
}

/** The view of the index journal `journal` (all of it), built in memory. */
export function viewOfJournal(journal: Buffer, name: string): IndexView {
  return builtView(memorySource(summaryInMemory(journal, name, "memory")), "memory");
}

/** The view of a summary just built: one that does not read back is mtls's bug, said as such. */
export function builtView(src: Source, stamp: string): IndexView {
  const view = viewOf(src, stamp);
  if (!view) throw new Error("an index summary mtls has just built does not read back");
  return view;
}

/**
 * A new file at `tmp` (never one planted there), written front to back by `write` through the
 * `put` it is given: its descriptor, or undefined when `write` gives up (false). The file is
 * removed again when writing fails or gives up.
 */
export function writeNewFile(tmp: string, write: (put: (b: Buffer) => void) => boolean): number | undefined {
  const fd = openSync(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  let done = false;
  try {
    let at = 0;
    done = write((b) => {
      for (let n = 0; n < b.length; ) n += writeSync(fd, b, n, b.length - n, at + n);
      at += b.length;
    });
    return done ? fd : undefined;
  } finally {
    if (!done) {
      closeSync(fd);
      unlinkSync(tmp);
    }
  }
}

const tempNameOf = (path: string) => join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);

/**
 * Writes the summary of `journal` into a new file next to `path`: `old` (the summary there, the
 * hash of the lines it covers `verified` equal) extended by the journal's new lines
 * (summary-extend.ts), else `fresh` (the summary already built in memory), else built anew. Its
 * descriptor and name, or undefined when the directory takes no file (read-only, full: it is
 * only a cache).
 */
function buildFile(
  path: string,
  journal: Buffer,
  name: string,
  stamp: string,
  st: Stats | undefined,
  from: { old: OldSummary; verified: Hash } | { fresh?: Buffer },
): { fd: number; tmp: string } | undefined {
  try {
    const tmp = tempNameOf(path);
    const fd = st && "old" in from ? extendFrom(from.old, tmp, journal, name, st, stamp, from.verified) : undefined;
    if (fd !== undefined) return { fd, tmp };
  } catch (err) {
    if ((err as { name?: string }).name === "MtlsError" || !(err as NodeJS.ErrnoException).code) throw err;
    // A directory that takes no file: built anew below, which finds out the same way.
  }
  const tmp = tempNameOf(path);
  try {
    const fd = writeNewFile(tmp, (put) => {
      if ("fresh" in from && from.fresh) put(from.fresh);
      else writeSummaryParts(summaryParts(journal, name, put), stamp, put);
      return true;
    });
    return fd === undefined ? undefined : { fd, tmp };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code && (err as { name?: string }).name !== "MtlsError") return undefined; // no file here: read-only, full
    throw err;
  }
}

/**
 * The summary file at `path` to read (its source closes it), when a file is there and not a link
 * (#13). Anything else is no summary: a directory opens (open(2) allows it) but its first read
 * would throw before the close; doctor names it.
 */
export function openSummaryFile(path: string): Source | undefined {
  let fd: number;
  try {
    fd = openSync(path, STORE_READ);
  } catch {
    return undefined;
  }
  const st = fstatSync(fd);
  if (st.isFile()) return fileSource(fd, st.size);
  closeSync(fd);
  return undefined;
}

/** The summary file when it is there and derived from journal version `stamp`. */
function openCurrent(path: string, stamp: string): IndexView | undefined {
  const src = openSummaryFile(path);
  const view = src && viewOf(src, stamp);
  if (!view) src?.close();
  return view;
}

/**
 * The index as list and status read it: from the summary when it matches the journal, else
 * built from the journal (and written for the next reader when the journal did not change while
 * it was read). The journal is opened first and the summary checked against that open file: an
 * append or a compaction after it leaves what this reader shows consistent with one version.
 * A damaged journal fails exactly as readIndex does.
 */
export async function openIndexView(indexPath: string): Promise<IndexView> {
  let fd: number | undefined;
  try {
    fd = openSync(indexPath, STORE_READ);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fsError(err, indexPath, "read");
  }
  try {
    const st = fd === undefined ? undefined : fstatSync(fd);
    if (st?.isDirectory()) throw directoryError(indexPath);
    if (st && !st.isFile()) throw notAFile(indexPath);
    const stamp = stampOf(st);
    const path = summaryPath(indexPath);
    const current = openCurrent(path, stamp);
    if (current) return current;
    const journal = Buffer.alloc(st?.size ?? 0);
    if (fd !== undefined) for (let n = 0; n < journal.length; ) n += readSync(fd, journal, n, journal.length - n, n) || journal.length;
    return await summarised(path, journal, indexPath, stamp, st);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The view of `journal` (version `stamp`, file `st`) whose summary at `path` is not current,
 * written there for the next reader. Never over a summary that shows the journal lost records
 * (summary-damage.ts): that one stays, as the evidence, and this view is built in memory.
 */
async function summarised(path: string, journal: Buffer, indexPath: string, stamp: string, st: Stats | undefined): Promise<IndexView> {
  const old = openAny(path);
  try {
    const verified = old && coveredPrefix(old, journal);
    let fresh: Buffer | undefined;
    if (old && !verified) {
      // Built in memory first: whether the journal lost records is read from what it has now.
      fresh = summaryInMemory(journal, indexPath, stamp);
      const view = builtView(memorySource(fresh), stamp);
      const damage = damageOf(old, journal, indexPath, statusesOf(view));
      // A journal that grew since it was read may have a newer reader's summary beside it already.
      if (damage) return stampOf(await statOrUndefined(indexPath)) === stamp ? { ...view, damage } : view;
    }
    const built = buildFile(path, journal, indexPath, stamp, st, verified ? { old: old as OldSummary, verified } : { fresh });
    if (!built) return fresh ? builtView(memorySource(fresh), stamp) : viewOfJournal(journal, indexPath);
    // Only a journal that did not change while it was read may be summarised under its stamp.
    if (st && stampOf(await statOrUndefined(indexPath)) === stamp) {
      // Flushed before it takes the name: after a crash the name holds a whole summary or the old
      // one, never one with a valid trailer over pages that never reached the disk. Rare: only a
      // rebuild or an extension pays it.
      fsyncSync(built.fd);
      renameOrDrop(built.tmp, path);
    } else unlinkSync(built.tmp);
    return builtView(fileSource(built.fd, fstatSync(built.fd).size), stamp);
  } finally {
    old?.src.close();
  }
}

/**
 * The summary is a cache: when it cannot take its name (a directory there, which doctor names),
 * this reader's view, read from the open file, is whole all the same; the next reader builds again.
 */
function renameOrDrop(tmp: string, path: string): void {
  try {
    renameSync(tmp, path);
  } catch {
    unlinkSync(tmp);
  }
}

const statOrUndefined = (path: string) =>
  stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });

async function readBuffer(path: string): Promise<Buffer> {
  return readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return Buffer.alloc(0);
    throw err;
  });
}

/** checkSummary's answer for a directory (or anything but a file) where the summary belongs. */
export const NOT_A_FILE = "is not a file: move it away (the next command writes the summary again)";

/**
 * For doctor: a summary that claims to match the journal but says something else (edited,
 * damaged) is a problem; a stale one, or one of another format version, is not (the next reader
 * rebuilds it). What it should hold is derived from the journal again here, byte for byte.
 */
export async function checkSummary(indexPath: string): Promise<string | undefined> {
  let fd: number;
  try {
    fd = openSync(summaryPath(indexPath), STORE_READ);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return NOT_A_FILE;
    const src = fileSource(fd, st.size);
    const stamp = stampOf(await statOrUndefined(indexPath));
    const tail = readFresh(src, Math.max(0, src.size - TRAILER), Math.min(src.size, TRAILER)).toString("latin1");
    // Another format version (its trailer last, or format 2's header first) is only stale.
    const head = readFresh(src, 0, Math.min(src.size, ANY_FORMAT.length)).toString("latin1");
    if (!tail.startsWith(FORMAT)) return tail.startsWith(ANY_FORMAT) || head === ANY_FORMAT ? undefined : "is not an index summary mtls wrote";
    if (tail.split("\t")[1] !== stamp) return undefined;
    if (!viewOf(src, stamp)) return "is damaged";
    // The summary the journal gives, compared piece by piece as it is made: never both whole in memory.
    let at = 0;
    let same = true;
    const compare = (b: Buffer) => {
      same &&= at + b.length <= src.size && readFresh(src, at, b.length).equals(b);
      at += b.length;
    };
    writeSummaryParts(summaryParts(await readBuffer(indexPath), indexPath, compare), stamp, compare);
    return same && at === src.size ? undefined : "does not match index.jsonl";
  } finally {
    closeSync(fd);
  }
}

/** For doctor --fix: writes the summary of the journal as it is now (best effort: it is a cache). */
export async function rebuildSummary(indexPath: string): Promise<void> {
  try {
    (await openIndexView(indexPath)).close();
  } catch {
    // A damaged journal is doctor's other finding; the next reader fails on it as readIndex does.
  }
}
