// A compact summary of the index (index.jsonl.summary): per live certificate the few fields that
// `list` and `status` show, as tab-separated text. Parsing the 48 MB journal of a 100,000
// certificate PKI as JSON took ~0.6 s and most of 275 MiB; the summary is ~10 MB of plain
// fields. It is a cache and nothing more (#21): the journal stays the source of truth, the
// summary names the journal's size, inode and mtime it was derived from, and any append,
// compaction or repair of the journal makes it stale, so the next reader rebuilds it from the
// journal. It is written without fsync (losing it costs one rebuild) and never under the lock.
// `doctor` compares it with the journal. Each row also names where its record's line is in the
// journal (byte offset and length), so `list --json` reads only the records it prints, one at a
// time, and status judges partners (rotation fields included) without parsing the journal.
import { randomBytes } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from "node:fs";
import { open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { CertRecord } from "./index-file.js";
import { checkCertRecord, corruptError, parseRecord } from "./records.js";

/** What list and status need of a certificate record, and where its line is in the journal. */
export type IndexRow = Pick<
  CertRecord,
  "serial" | "partnerId" | "subject" | "notAfter" | "issuedAt" | "issuer" | "status" | "kind" | "supersedes" | "overlapUntil"
> & {
  /** The byte offset and length of the record's (last) line in index.jsonl (rows of the summary have them). */
  at?: number;
  len?: number;
};

const FORMAT = "mtls-index-summary 2";
const FIELDS = 12;

export const summaryPath = (indexPath: string): string => `${indexPath}.summary`;

/** The journal version a summary was derived from: any write to the journal changes it. */
function stampOf(st: Stats | undefined): string {
  return st ? `${st.size} ${st.ino} ${st.mtimeMs}` : "absent";
}

// Fields are separated by tabs, rows by newlines: a value holding either (or a "%") is
// percent-encoded. Partner ids, serials and times never do; a subject may.
const SPECIAL = /[%\t\n\r]/;
const enc = (s: string) => (SPECIAL.test(s) ? s.replace(/[%\t\n\r]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`) : s);
const dec = (s: string) => (s.includes("%") ? s.replace(/%([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16))) : s);

export function encodeSummary(stamp: string, rows: readonly IndexRow[]): string {
  let out = `${FORMAT}\t${stamp}\t${rows.length}\n`;
  for (const r of rows)
    out += `${r.serial}\t${enc(r.partnerId)}\t${r.notAfter}\t${r.status === "revoked" ? "r" : "v"}\t${r.kind === "server" ? "s" : ""}\t${enc(r.subject)}\t${r.issuedAt}\t${enc(r.issuer)}\t${r.supersedes ?? ""}\t${r.overlapUntil ?? ""}\t${r.at}\t${r.len}\n`;
  return out;
}

/** The rows of a summary derived from journal version `stamp`; undefined when it is another's or damaged. */
export function decodeSummary(text: string, stamp: string): IndexRow[] | undefined {
  const nl = text.indexOf("\n");
  const [format, head, count] = text.slice(0, nl).split("\t");
  if (format !== FORMAT || head !== stamp) return undefined;
  const rows: IndexRow[] = [];
  const f: string[] = new Array(FIELDS);
  let at = nl + 1;
  // Fields are cut with indexOf rather than split: at 100,000 rows the per-row array and the
  // regex test per field were most of the decode (#21).
  const hasEscapes = text.includes("%", at);
  while (at < text.length) {
    const end = text.indexOf("\n", at);
    if (end < 0) return undefined;
    let from = at;
    for (let i = 0; i < FIELDS - 1; i++) {
      const tab = text.indexOf("\t", from);
      if (tab < 0 || tab > end) return undefined;
      f[i] = text.slice(from, tab);
      from = tab + 1;
    }
    const last = text.slice(from, end);
    if (last.includes("\t")) return undefined;
    f[FIELDS - 1] = last;
    const row: IndexRow = {
      serial: f[0] as string,
      partnerId: hasEscapes ? dec(f[1] as string) : (f[1] as string),
      subject: hasEscapes ? dec(f[5] as string) : (f[5] as string),
      notAfter: f[2] as string,
      issuedAt: f[6] as string,
      issuer: hasEscapes ? dec(f[7] as string) : (f[7] as string),
      status: f[3] === "r" ? "revoked" : "valid",
      at: Number(f[10]),
      len: Number(f[11]),
    };
    if (f[4] === "s") row.kind = "server";
    if (f[8]) row.supersedes = f[8];
    if (f[9]) row.overlapUntil = f[9];
    rows.push(row);
    at = end + 1;
  }
  return rows.length === Number(count) ? rows : undefined;
}

const toRow = (r: CertRecord, at: number, len: number): IndexRow => {
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
  const end = buf.lastIndexOf(0x0a) + 1;
  const bySerial = new Map<string, IndexRow>();
  let lineNo = 0;
  for (let start = 0; start < end; ) {
    const nl = buf.indexOf(0x0a, start);
    const line = buf.toString("utf8", start, nl);
    lineNo++;
    if (line.trim() !== "") {
      const parsed = parseRecord<CertRecord>(line, checkCertRecord);
      if ("bad" in parsed) throw corruptError(path, lineNo, parsed.bad);
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
  return rows;
}

async function readBuffer(path: string): Promise<Buffer> {
  return readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return Buffer.alloc(0);
    throw err;
  });
}

const statOrUndefined = (path: string) =>
  stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });

/** The summary's text; undefined when there is none, or a link was planted in its place (#13). */
async function readNoFollow(path: string): Promise<string | undefined> {
  try {
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return await fh.readFile("utf8");
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

/** Writes the summary next to the journal (temp file + rename, so a reader never sees half of one). */
async function writeSummary(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
  try {
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      await fh.writeFile(text);
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch {
    // A read-only PKI directory, a full disk: the summary is only a cache.
    await unlink(tmp).catch(() => {});
  }
}

/**
 * The index's live certificates, in issue order, with only the fields list and status show:
 * from the summary when it matches the journal, else from the journal (which rebuilds the
 * summary). A damaged journal fails exactly as readIndex does.
 */
export async function readIndexRows(indexPath: string): Promise<IndexRow[]> {
  const view = await openIndexView(indexPath);
  view.close();
  return view.rows;
}

export interface IndexView {
  rows: IndexRow[];
  /** A row's whole record, read from the journal version the rows came from. */
  record(row: Pick<IndexRow, "serial" | "at" | "len">): CertRecord;
  close(): void;
}

/**
 * The rows, and a reader of their records that goes through a window of the journal, so that
 * printing 100,000 records never holds the journal or its parsed records whole. The journal is
 * opened first and the summary checked against that open file: an append after it only adds
 * lines past the rows' offsets, and a compaction (a rename) leaves the open file as it was.
 */
export async function openIndexView(indexPath: string): Promise<IndexView> {
  let fd: number | undefined;
  try {
    fd = openSync(indexPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const st = fd === undefined ? undefined : fstatSync(fd);
  const stamp = stampOf(st);
  const path = summaryPath(indexPath);
  const cached = await readNoFollow(path);
  let rows = cached === undefined ? undefined : decodeSummary(cached, stamp);
  if (!rows) {
    const buf = Buffer.alloc(st?.size ?? 0);
    if (fd !== undefined) for (let n = 0; n < buf.length; ) n += readSync(fd, buf, n, buf.length - n, n) || buf.length;
    rows = rowsOfJournal(buf, indexPath);
    // Only a journal that did not change while it was read may be summarised under its stamp.
    if (st && stampOf(await statOrUndefined(indexPath)) === stamp) await writeSummary(path, encodeSummary(stamp, rows));
  }
  const WINDOW = 1 << 20;
  let win = Buffer.alloc(0);
  let from = 0;
  return {
    rows,
    record(row) {
      if (fd === undefined || row.at === undefined || row.len === undefined) throw corruptError(indexPath, undefined, `no record for ${row.serial}`);
      if (row.at < from || row.at + row.len > from + win.length) {
        win = Buffer.alloc(Math.max(WINDOW, row.len));
        win = win.subarray(0, readSync(fd, win, 0, win.length, row.at));
        from = row.at;
      }
      return recordOfLine(win.toString("utf8", row.at - from, row.at - from + row.len), row, indexPath);
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/** The record on a row's line: it must be there, and be that serial's. */
export function recordOfLine(line: string, row: Pick<IndexRow, "serial">, indexName: string): CertRecord {
  const parsed = parseRecord<CertRecord>(line, checkCertRecord);
  if ("bad" in parsed || parsed.record.serial !== row.serial)
    throw corruptError(indexName, undefined, `the record of ${row.serial} is not where the summary says`);
  return parsed.record;
}

/**
 * For doctor: a summary that claims to match the journal but says something else (edited,
 * damaged) is a problem; a stale one is not (the next reader rebuilds it). The rows it should
 * hold are derived from the journal again here.
 */
export async function checkSummary(indexPath: string, _records?: readonly CertRecord[]): Promise<string | undefined> {
  const text = await readNoFollow(summaryPath(indexPath));
  if (text === undefined) return undefined;
  const stamp = stampOf(await statOrUndefined(indexPath));
  const head = text.slice(0, text.indexOf("\n")).split("\t");
  if (head[0] !== FORMAT) return head[0]?.startsWith("mtls-index-summary ") ? undefined : "is not an index summary mtls wrote";
  if (head[1] !== stamp) return undefined;
  const rows = decodeSummary(text, stamp);
  if (!rows) return "is damaged";
  return encodeSummary(stamp, rowsOfJournal(await readBuffer(indexPath), indexPath)) === encodeSummary(stamp, rows) ? undefined : "does not match index.jsonl";
}
