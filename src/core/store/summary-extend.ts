// A summary brought up to date after the journal only grew (#21): issuing certificates appends
// lines, and rebuilding the summary of 100,000 certificates for each append took ~1.6 s of CPU.
// The summary names the bytes of complete lines it covers and their SHA-256; when the journal is
// the same file, at least that long, and those bytes hash the same, the new lines are summarised
// and added to a copy of the summary (its element texts stay where they are). Anything else, a
// new line for a certificate already summarised (a revocation), a rotation, a cell wider than its
// column, is left to a full rebuild. The result is byte for byte the summary a rebuild would
// write (doctor compares exactly that).
import { createHash } from "node:crypto";
import { closeSync, constants, fstatSync, openSync, type Stats } from "node:fs";
import {
  fileSource,
  type IndexRow,
  type IndexView,
  readFresh,
  readTrailer,
  rowsOfLines,
  TRAILER,
  type Trailer,
  viewOf,
  writeNewFile,
  writeSummaryParts,
} from "./index-summary.js";
import { countLines, keepsGroupWhole, partsOfRows, type SummaryParts } from "./summary-build.js";

/** The summary at `path` with its trailer and view, when it is this format's (for any journal version). */
function openAny(path: string): { fd: number; trailer: Trailer; view: IndexView } | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  const src = fileSource(fd, fstatSync(fd).size);
  const trailer = src.size >= TRAILER ? readTrailer(readFresh(src, src.size - TRAILER, TRAILER), undefined, src.size) : undefined;
  const view = trailer && viewOf(src, trailer.stamp);
  if (trailer && view) return { fd, trailer, view };
  closeSync(fd);
  return undefined;
}

/** The parts of the summary in `view` (its element texts stay in its file). */
function partsOf(view: IndexView, trailer: Trailer): SummaryParts {
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

/** The serial of each row: its first cell, which the summary holds as it is (a serial is plain hex). */
function serialsOf(base: SummaryParts): Set<string> {
  const out = new Set<string>();
  const w = base.columnWidths[3] as number;
  for (let i = 0; i < base.notAfterMs.length; i++) {
    const from = i > 0 ? (base.cellEnd[4 * i - 1] as number) + w - (base.cellWidth[4 * i - 1] as number) + 2 : 0;
    out.add(base.cells.toString("latin1", from, base.cellEnd[4 * i] as number));
  }
  return out;
}

/**
 * Writes to the new file `tmp` the summary of `journal` (version `stamp`, file `st`) made by
 * adding its new lines to the summary at `path`; the new file's descriptor, or undefined when
 * that summary cannot simply be extended (see the top of this file) and must be rebuilt.
 */
export function extendSummary(path: string, tmp: string, journal: Buffer, name: string, st: Stats, stamp: string): number | undefined {
  const old = openAny(path);
  if (!old) return undefined;
  try {
    const { covered, lines, hash } = old.trailer.facts;
    if (old.trailer.stamp.split(" ")[1] !== String(st.ino) || journal.length < covered) return undefined;
    const hasher = createHash("sha256").update(journal.subarray(0, covered));
    if (hasher.copy().digest("hex") !== hash) return undefined;
    const added = rowsOfLines(journal, covered, lines, name);
    const rows = added.rows;
    // A line for a serial already summarised (or two for one serial) changes a row in place, and a
    // time in another form than mtls writes makes statusRowsOf keep all its partner's rows, which
    // the summary's status rows no longer hold: rebuild.
    if (added.records !== rows.length || rows.some(keepsGroupWhole)) return undefined;
    const base = partsOf(old.view, old.trailer);
    const known = serialsOf(base);
    if (rows.some((r) => known.has(r.serial))) return undefined;
    const end = journal.lastIndexOf(0x0a) + 1;
    hasher.update(journal.subarray(covered, end));
    const facts = { covered: end, lines: lines + countLines(journal, covered, end), hash: hasher.digest("hex") };
    return writeExtended(old, tmp, { base, rows, journal, facts, stamp });
  } finally {
    closeSync(old.fd);
  }
}

/** The old summary's element texts copied from its open file (never by name: #13), then the new rows' and the columns. */
function writeExtended(
  old: { fd: number },
  tmp: string,
  x: { base: SummaryParts; rows: IndexRow[]; journal: Buffer; facts: SummaryParts["facts"]; stamp: string },
): number | undefined {
  return writeNewFile(tmp, (put) => {
    const src = fileSource(old.fd, x.base.jsonLength);
    const chunk = Buffer.allocUnsafeSlow(4 << 20);
    for (let from = 0; from < x.base.jsonLength; from += chunk.length) {
      const len = Math.min(chunk.length, x.base.jsonLength - from);
      src.readInto(from, len, chunk, 0);
      put(chunk.subarray(0, len));
    }
    const parts = partsOfRows(x.rows, x.journal, put, x.base);
    if (!parts) return false;
    writeSummaryParts({ ...parts, facts: x.facts }, x.stamp, put);
    return true;
  });
}
