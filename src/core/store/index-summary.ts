// A compact summary of the index (index.jsonl.summary): per live certificate the few fields that
// `list` and `status` show, as tab-separated text. Parsing the 48 MB journal of a 100,000
// certificate PKI as JSON took ~0.6 s and most of 275 MiB; the summary is ~10 MB of plain
// fields. It is a cache and nothing more (#21): the journal stays the source of truth, the
// summary names the journal's size, inode and mtime it was derived from, and any append,
// compaction or repair of the journal makes it stale, so the next reader rebuilds it from the
// journal. It is written without fsync (losing it costs one rebuild) and never under the lock.
// `doctor` compares it with the journal.
import { randomBytes } from "node:crypto";
import { constants, type Stats } from "node:fs";
import { open, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type CertRecord, readIndexSnapshot } from "./index-file.js";

/** What list and status need of a certificate record. */
export type IndexRow = Pick<CertRecord, "serial" | "partnerId" | "subject" | "notAfter" | "status" | "kind">;

const FORMAT = "mtls-index-summary 1";

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
    out += `${r.serial}\t${enc(r.partnerId)}\t${r.notAfter}\t${r.status === "revoked" ? "r" : "v"}\t${r.kind === "server" ? "s" : ""}\t${enc(r.subject)}\n`;
  return out;
}

/** The rows of a summary derived from journal version `stamp`; undefined when it is another's or damaged. */
export function decodeSummary(text: string, stamp: string): IndexRow[] | undefined {
  const nl = text.indexOf("\n");
  const [format, head, count] = text.slice(0, nl).split("\t");
  if (format !== FORMAT || head !== stamp) return undefined;
  const rows: IndexRow[] = [];
  let at = nl + 1;
  while (at < text.length) {
    const end = text.indexOf("\n", at);
    if (end < 0) return undefined;
    const f = text.slice(at, end).split("\t");
    if (f.length !== 6) return undefined;
    const row: IndexRow = {
      serial: f[0] as string,
      partnerId: dec(f[1] as string),
      subject: dec(f[5] as string),
      notAfter: f[2] as string,
      status: f[3] === "r" ? "revoked" : "valid",
    };
    if (f[4] === "s") row.kind = "server";
    rows.push(row);
    at = end + 1;
  }
  return rows.length === Number(count) ? rows : undefined;
}

const toRow = (r: CertRecord): IndexRow => {
  const row: IndexRow = { serial: r.serial, partnerId: r.partnerId, subject: r.subject, notAfter: r.notAfter, status: r.status };
  if (r.kind === "server") row.kind = "server";
  return row;
};

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
  const path = summaryPath(indexPath);
  const before = stampOf(await statOrUndefined(indexPath));
  const cached = await readNoFollow(path);
  const rows = cached === undefined ? undefined : decodeSummary(cached, before);
  if (rows) return rows;
  const fresh = (await readIndexSnapshot(indexPath)).records.map(toRow);
  // Only a journal that did not change while it was read may be summarised under its stamp.
  if (before !== "absent" && stampOf(await statOrUndefined(indexPath)) === before) await writeSummary(path, encodeSummary(before, fresh));
  return fresh;
}

/**
 * For doctor: a summary that claims to match the journal but says something else (edited,
 * damaged) is a problem; a stale one is not (the next reader rebuilds it). `records` are the
 * journal's live records, as the caller already read them.
 */
export async function checkSummary(indexPath: string, records: readonly CertRecord[]): Promise<string | undefined> {
  const text = await readNoFollow(summaryPath(indexPath));
  if (text === undefined) return undefined;
  const stamp = stampOf(await statOrUndefined(indexPath));
  const head = text.slice(0, text.indexOf("\n")).split("\t");
  if (head[0] !== FORMAT) return "is not an index summary mtls wrote";
  if (head[1] !== stamp) return undefined;
  const rows = decodeSummary(text, stamp);
  if (!rows) return "is damaged";
  return encodeSummary(stamp, records.map(toRow)) === encodeSummary(stamp, rows) ? undefined : "does not match index.jsonl";
}
