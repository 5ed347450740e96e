// Building the index summary (index-summary.ts) from the journal: every record parsed and checked
// once, its `list --json` element and table cells rendered once, for every later run to copy (#21).
import { createHash, randomBytes } from "node:crypto";
import { displayWidth, isPlain, safeJson, safeValue } from "../display-text.js";
import type { CertRecord } from "./index-file.js";
import { DAYS_FIRST, ELEMENT_INDENT, ELEMENT_SEPARATOR, type IndexRow, type JournalFacts, oddTimes, REVOKED, rowsOfJournal, SERVER } from "./index-summary.js";

export interface SummaryParts {
  notAfterMs: Float64Array;
  partnerOf: Uint32Array;
  flags: Uint8Array;
  partners: string[];
  statusRows: IndexRow[];
  pieceLen: Uint32Array;
  cellEnd: Uint32Array;
  cellWidth: Uint32Array;
  /** The rows' table cells, each padded to its column's widest cell and two spaces (cellEnd: where each cell's text ends). */
  cells: Buffer;
  /** The widest cell of each column. */
  columnWidths: number[];
  jsonLength: number;
  facts: JournalFacts;
}

const CHUNK = 1 << 20;

/**
 * The summary's columns of the journal `journal` (named `name` in errors), its element texts
 * passed to `emitJson` in order as they are rendered. A damaged journal fails as readIndex does.
 */
export function summaryParts(journal: Buffer, name: string, emitJson: (b: Buffer) => void): SummaryParts {
  const rows = rowsOfJournal(journal, name);
  const covered = journal.lastIndexOf(0x0a) + 1;
  const facts = { covered, lines: countLines(journal, 0, covered), hash: createHash("sha256").update(journal.subarray(0, covered)).digest("hex") };
  return partsOfRows(rows, journal, emitJson, emptyParts(facts)) as SummaryParts;
}

export const countLines = (buf: Buffer, from: number, to: number): number => {
  let n = 0;
  for (let at = buf.indexOf(0x0a, from); at >= 0 && at < to; at = buf.indexOf(0x0a, at + 1)) n++;
  return n;
};

const emptyParts = (facts: JournalFacts): SummaryParts => ({
  notAfterMs: new Float64Array(0),
  partnerOf: new Uint32Array(0),
  flags: new Uint8Array(0),
  partners: [],
  statusRows: [],
  pieceLen: new Uint32Array(0),
  cellEnd: new Uint32Array(0),
  cellWidth: new Uint32Array(0),
  cells: Buffer.alloc(0),
  columnWidths: [0, 0, 0, 0],
  jsonLength: 0,
  facts,
});

function grown<T extends Float64Array | Uint32Array | Uint8Array>(a: T, by: number): T {
  const out = new (a.constructor as new (n: number) => T)(a.length + by);
  out.set(a);
  return out;
}

/**
 * `base` with `rows` (whose lines are in `journal`) added after its rows, their element texts
 * passed to `emitJson`. Undefined when a new cell is wider than its column's widest, which
 * would change every row's padding: only a summary of no rows is then built anew.
 */
export function partsOfRows(rows: readonly IndexRow[], journal: Buffer, emitJson: (b: Buffer) => void, base: SummaryParts): SummaryParts | undefined {
  const n0 = base.notAfterMs.length;
  const n = n0 + rows.length;
  const p: SummaryParts = {
    ...base,
    notAfterMs: grown(base.notAfterMs, rows.length),
    partnerOf: grown(base.partnerOf, rows.length),
    flags: grown(base.flags, rows.length),
    partners: [...base.partners],
    statusRows: statusRowsOf([...base.statusRows, ...rows]),
    pieceLen: grown(base.pieceLen, 3 * rows.length),
    cellEnd: grown(base.cellEnd, 4 * rows.length),
    cellWidth: grown(base.cellWidth, 4 * rows.length),
    columnWidths: [...base.columnWidths],
  };
  const partnerNo = new Map<string, number>(p.partners.map((id, i) => [id, i]));
  const element = elementCutter();
  let json = "";
  const cellTexts = new Array<string>(4 * (n - n0));
  for (let i = n0; i < n; i++) {
    const row = rows[i - n0] as IndexRow;
    const at = row.at as number;
    const record = JSON.parse(journal.toString("utf8", at, at + (row.len as number))) as CertRecord;
    p.notAfterMs[i] = Date.parse(row.notAfter);
    p.flags[i] = (row.status === "revoked" ? REVOKED : 0) | (row.kind === "server" ? SERVER : 0);
    let no = partnerNo.get(row.partnerId);
    if (no === undefined) {
      no = p.partners.push(row.partnerId) - 1;
      partnerNo.set(row.partnerId, no);
    }
    p.partnerOf[i] = no;
    const [p0, p1, p2, daysFirst] = element(record);
    if (daysFirst) p.flags[i] = (p.flags[i] as number) | DAYS_FIRST;
    p.pieceLen[3 * i] = Buffer.byteLength(p0);
    p.pieceLen[3 * i + 1] = Buffer.byteLength(p1);
    p.pieceLen[3 * i + 2] = Buffer.byteLength(p2);
    json += p0 + p1 + p2;
    if (json.length >= CHUNK) {
      p.jsonLength += emitString(json, emitJson);
      json = "";
    }
    const raw = [row.serial, row.partnerId, row.subject, row.notAfter.slice(0, 10)];
    for (let c = 0; c < 4; c++) {
      const r = raw[c] as string;
      const cell = isPlain(r) ? r : safeValue(r);
      cellTexts[4 * (i - n0) + c] = cell;
      const w = displayWidth(cell);
      p.cellWidth[4 * i + c] = w;
      if (w > (p.columnWidths[c] as number)) p.columnWidths[c] = w;
    }
  }
  if (json) p.jsonLength += emitString(json, emitJson);
  if (n0 > 0 && p.columnWidths.some((w, c) => w !== base.columnWidths[c])) return undefined;
  p.cells = Buffer.concat([base.cells, paddedCells(cellTexts, p, 4 * n0, base.cells.length)]);
  return p;
}

/** The cells (cell `first` on) row after row, each followed by the spaces that pad it to its column's widest cell and two. */
function paddedCells(texts: readonly string[], p: SummaryParts, first: number, offset: number): Buffer {
  let out = "";
  let bytes = offset;
  for (let k = 0; k < texts.length; k++) {
    const j = first + k;
    const cell = texts[k] as string;
    bytes += isPlain(cell) ? cell.length : Buffer.byteLength(cell);
    p.cellEnd[j] = bytes;
    const pad = (p.columnWidths[j % 4] as number) - (p.cellWidth[j] as number) + 2;
    out += cell + " ".repeat(pad);
    bytes += pad;
  }
  return Buffer.from(out);
}

function emitString(s: string, emit: (b: Buffer) => void): number {
  const b = Buffer.from(s);
  emit(b);
  return b.length;
}

/**
 * The --json element of a record as the writer prints it (`JSON.stringify(Object.assign(record,
 * { status, daysLeft }), null, 2)`, indented for its place, made safe), cut where the two values
 * of the run go. The values are placed as tokens no record can hold (random per build) and
 * found again; a record that somehow holds one fails loudly rather than print wrong text.
 */
export function elementCutter(): (r: CertRecord) => [string, string, string, boolean] {
  const id = randomBytes(16).toString("hex");
  const tokS = `@status-${id}@`;
  const tokD = `@days-${id}@`;
  const qs = `"${tokS}"`;
  const qd = `"${tokD}"`;
  return (record) => {
    const text = safeJson(JSON.stringify(Object.assign(record, { status: tokS, daysLeft: tokD }), null, 2).replaceAll("\n", `\n${ELEMENT_INDENT}`));
    const s = text.indexOf(qs);
    const d = text.indexOf(qd);
    if (s < 0 || d < 0 || text.indexOf(qs, s + 1) >= 0 || text.indexOf(qd, d + 1) >= 0) throw new Error(`the --json text of ${record.serial} could not be cut`);
    const [first, firstLen, second, secondLen] = s < d ? [s, qs.length, d, qd.length] : [d, qd.length, s, qs.length];
    return [ELEMENT_SEPARATOR + text.slice(0, first), text.slice(first + firstLen, second), text.slice(second + secondLen), d < s];
  };
}

export const isRotating = (r: IndexRow) => r.supersedes !== undefined || r.overlapUntil !== undefined;

/** A row whose partner's rows statusRowsOf keeps whole. */
export const keepsGroupWhole = (r: IndexRow) => isRotating(r) || oddTimes(r);

/**
 * The rows status needs to judge every partner, server and CA exactly as it would from all rows
 * (#21), in issue order:
 * - every server certificate (each is judged on its own);
 * - per partner that ever rotated, or whose times are not in the plain form (string order is
 *   time order only for one form): all its certificates;
 * - per other partner: the first newest certificate, the first newest unrevoked one and the first
 *   latest issued one. assessPartner looks only at these: its newest certificate, the newest
 *   valid one (the newest unrevoked, when that has not expired: any other valid one is older),
 *   and whether any was issued after an offboarding;
 * - per partner: its first certificate, which dates a partner known only from its certificates
 *   (`partner list`);
 * - per issuer: the unrevoked certificate that expires last (whether the CA still has valid ones).
 */
export function statusRowsOf(rows: readonly IndexRow[]): IndexRow[] {
  const keep = new Set<IndexRow>();
  const groups = new Map<string, IndexRow[]>();
  const lastByIssuer = new Map<string, IndexRow>();
  for (const r of rows) {
    if (r.kind === "server") keep.add(r);
    else {
      const g = groups.get(r.partnerId);
      if (g) g.push(r);
      else groups.set(r.partnerId, [r]);
    }
    const last = lastByIssuer.get(r.issuer);
    if (r.status !== "revoked" && (!last || Date.parse(r.notAfter) > Date.parse(last.notAfter))) lastByIssuer.set(r.issuer, r);
  }
  for (const r of lastByIssuer.values()) keep.add(r);
  const first = (g: readonly IndexRow[], better: (a: IndexRow, b: IndexRow) => boolean, ok: (r: IndexRow) => boolean = () => true) => {
    let best: IndexRow | undefined;
    for (const r of g) if (ok(r) && (!best || better(r, best))) best = r;
    if (best) keep.add(best);
  };
  for (const g of groups.values()) {
    keep.add(g[0] as IndexRow);
    if (g.some(keepsGroupWhole)) {
      for (const r of g) keep.add(r);
      continue;
    }
    first(g, (a, b) => a.notAfter > b.notAfter);
    first(
      g,
      (a, b) => a.notAfter > b.notAfter,
      (r) => r.status !== "revoked",
    );
    first(g, (a, b) => a.issuedAt > b.issuedAt);
  }
  return rows.filter((r) => keep.has(r)).map(({ at: _a, len: _l, ...r }) => r);
}
