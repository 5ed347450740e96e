// A summary brought up to date after the journal only grew (#21): issuing certificates appends
// lines, and rebuilding the summary of 100,000 certificates for each append took ~1.6 s of CPU.
// The summary names the bytes of complete lines it covers and their SHA-256; when the journal is
// the same file, at least that long, and those bytes hash the same, the new lines are summarised
// and added to a copy of the summary (its element texts stay where they are). A revocation of a
// certificate the summary has revises its row (summary-revise.ts). Anything else, another change
// to a summarised certificate, a rotation, a cell wider than its column, is left to a full
// rebuild. The result is byte for byte the summary a rebuild would write (doctor compares
// exactly that).
import { createHash, type Hash } from "node:crypto";
import type { Stats } from "node:fs";
import {
  type IndexRow,
  type IndexView,
  type JournalFacts,
  openSummaryFile,
  readFresh,
  readTrailer,
  rowsOfLines,
  type Source,
  TRAILER,
  type Trailer,
  viewOf,
  writeNewFile,
  writeSummaryParts,
} from "./index-summary.js";
import { countLines, keepsGroupWhole, partsOfRows, type SummaryParts } from "./summary-build.js";
import { type ElementSplice, revision } from "./summary-revise.js";

/** A summary of this format (for any journal version), as read from its source. */
export interface OldSummary {
  src: Source;
  trailer: Trailer;
  view: IndexView;
}

/** The summary in `src` with its trailer and view, when it is this format's (for any journal version). */
export function oldSummary(src: Source): OldSummary | undefined {
  const trailer = src.size >= TRAILER ? readTrailer(readFresh(src, src.size - TRAILER, TRAILER), undefined, src.size) : undefined;
  const view = trailer && viewOf(src, trailer.stamp);
  return trailer && view ? { src, trailer, view } : undefined;
}

/** The summary at `path`, opened (close its source), when it is this format's. */
export function openAny(path: string): OldSummary | undefined {
  const src = openSummaryFile(path);
  const old = src && oldSummary(src);
  if (!old) src?.close();
  return old;
}

/** The parts of the summary in `view` (its element texts stay in its file). */
export function partsOf(view: IndexView, trailer: Trailer): SummaryParts {
  const cells = view.cells();
  const bytes = Buffer.alloc(cells.length);
  cells.read(0, cells.length, bytes, 0);
  return {
    notAfterMs: view.notAfterMs,
    partnerOf: view.partnerOf,
    flags: view.flags,
    partners: [...view.partners],
    statusRows: [...view.statusRows],
    pieceLen: view.json().pieceLen,
    cellEnd: cells.end,
    cellWidth: cells.width,
    cells: bytes,
    columnWidths: [...cells.columnWidths],
    jsonLength: trailer.lens.json,
    facts: trailer.facts,
  };
}

/** Each row's serial and its index: its first cell, which the summary holds as it is (a serial is plain hex). */
export function serialsOf(base: SummaryParts): Map<string, number> {
  const out = new Map<string, number>();
  const w = base.columnWidths[3] as number;
  for (let i = 0; i < base.notAfterMs.length; i++) {
    const from = i > 0 ? (base.cellEnd[4 * i - 1] as number) + w - (base.cellWidth[4 * i - 1] as number) + 2 : 0;
    out.set(base.cells.toString("latin1", from, base.cellEnd[4 * i] as number), i);
  }
  return out;
}

/** The old element texts are copied in pieces of this size. */
const PIECE = 4 << 20;

/** What adding a journal's new lines to a summary takes: its revised rows' new elements, then the new rows. */
export interface Extension {
  base: SummaryParts;
  splices: ElementSplice[];
  rows: IndexRow[];
  facts: JournalFacts;
}

/** The records of a journal's lines after those a summary covers, and the hash of the lines it covers, to go on with. */
export interface Added {
  rows: IndexRow[];
  hasher: Hash;
}

/**
 * The lines `journal` added since a summary whose trailer says `facts` was made, when it only
 * grew (the lines the summary covers hash as they did) and they can simply be added (see the top
 * of this file); undefined when the summary must be rebuilt. Needs nothing of the summary but
 * its trailer: a storage that fetches summaries asks this before it fetches the rest.
 * `verified`: the hash of the lines it covers, already found equal to the trailer's.
 */
export function addedLines(facts: JournalFacts, journal: Buffer, name: string, verified?: Hash): Added | undefined {
  const { covered, lines, hash } = facts;
  if (journal.length < covered) return undefined;
  const hasher = verified ?? createHash("sha256").update(journal.subarray(0, covered));
  if (!verified && hasher.copy().digest("hex") !== hash) return undefined;
  const added = rowsOfLines(journal, covered, lines, name);
  // A line for a serial already summarised (two for one serial here) changes a row in place, and
  // a time in another form than mtls writes makes statusRowsOf keep all its partner's rows, which
  // the summary's status rows no longer hold: rebuild.
  if (added.records !== added.rows.length || added.rows.some(keepsGroupWhole)) return undefined;
  return { rows: added.rows, hasher };
}

/**
 * What adding the new lines of `journal` to `old` takes (`added`: addedLines for its trailer),
 * or undefined when `old` cannot simply be extended and the summary must be rebuilt.
 */
export function extensionOf(old: OldSummary, journal: Buffer, name: string, added = addedLines(old.trailer.facts, journal, name)): Extension | undefined {
  if (!added) return undefined;
  const parts = partsOf(old.view, old.trailer);
  const known = serialsOf(parts);
  // A new line for a serial the summary has changes its row: revised where it is, or rebuilt.
  const changed = added.rows.filter((r) => known.has(r.serial));
  const revised = changed.length > 0 ? revision(old.src, parts, changed, known, journal) : { base: parts, splices: [] };
  if (!revised) return undefined;
  const { covered, lines } = old.trailer.facts;
  const end = journal.lastIndexOf(0x0a) + 1;
  added.hasher.update(journal.subarray(covered, end));
  return {
    ...revised,
    rows: added.rows.filter((r) => !known.has(r.serial)),
    facts: { covered: end, lines: lines + countLines(journal, covered, end), hash: added.hasher.digest("hex") },
  };
}

/**
 * Writes through `put` the summary `x` makes of `old` (version `stamp`): its element texts copied
 * from its source (a revised row's new element in place of its old one), then the new rows' and
 * the columns. False when a new row does not fit (see partsOfRows): the summary must be rebuilt,
 * and what was put is to be dropped. The old texts pass through one buffer, used again for each
 * piece: a `put` that keeps what it is given copies it.
 */
export function writeExtension(old: OldSummary, x: Extension, journal: Buffer, stamp: string, put: (b: Buffer) => void): boolean {
  const piece = Buffer.allocUnsafeSlow(Math.min(PIECE, old.trailer.lens.json));
  const copy = (from: number, to: number) => {
    for (let at = from; at < to; at += piece.length) {
      const len = Math.min(piece.length, to - at);
      old.src.readInto(at, len, piece, 0);
      put(piece.subarray(0, len));
    }
  };
  let at = 0;
  for (const s of x.splices) {
    copy(at, s.from);
    put(s.bytes);
    at = s.to;
  }
  copy(at, old.trailer.lens.json);
  const parts = partsOfRows(x.rows, journal, put, x.base);
  if (!parts) return false;
  writeSummaryParts({ ...parts, facts: x.facts }, stamp, put);
  return true;
}

/**
 * Writes to the new file `tmp` the summary of `journal` (version `stamp`, file `st`) made by
 * adding its new lines to `old` (`verified`: the hash of the lines it covers, found equal);
 * the new file's descriptor, or undefined when it cannot simply be extended and must be rebuilt.
 */
export function extendFrom(old: OldSummary, tmp: string, journal: Buffer, name: string, st: Stats, stamp: string, verified?: Hash): number | undefined {
  // Another file's summary (the journal replaced, not appended to) is no base.
  if (old.trailer.stamp.split(" ")[1] !== String(st.ino)) return undefined;
  const x = extensionOf(old, journal, name, addedLines(old.trailer.facts, journal, name, verified));
  // The old summary is read through its open descriptor, never by name again (#13).
  return x && writeNewFile(tmp, (put) => writeExtension(old, x, journal, stamp, put));
}

/** extendFrom the summary at `path`, when it is this format's. */
export function extendSummary(path: string, tmp: string, journal: Buffer, name: string, st: Stats, stamp: string): number | undefined {
  const old = openAny(path);
  if (!old) return undefined;
  try {
    return extendFrom(old, tmp, journal, name, st, stamp);
  } finally {
    old.src.close();
  }
}
