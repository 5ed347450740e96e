// The index's summary on a database store (schema version 2, #21), as the directory store keeps
// index.jsonl.summary: stored in chunks for the index journal's generation (which the schema's
// triggers raise with every change to the journal's lines), read chunk by chunk for the parts a
// reader uses (the columns always; the cells for `list`, the element texts for `list --json`),
// and made by the first reader after a change, which stores it for the next: the last one with
// the journal's new lines added when the journal only grew, else built from all its lines.
import { conflictError, envError, type MtlsError } from "../../errors.js";
import {
  builtView,
  type IndexPart,
  type IndexView,
  memorySource,
  ofEarlierFormat,
  ofThisFormat,
  type Ranges,
  readFresh,
  readTrailer,
  regionsOf,
  type Source,
  summaryInMemory,
  TRAILER,
  viewOf,
} from "../index-summary.js";
import { addedLines, extensionOf, oldSummary, writeExtension } from "../summary-extend.js";
import type { CopyRow } from "./copy-binary.js";
import type { SqlClient } from "./pg.js";

/** A chunk's size: a reader fetches the chunks holding the parts it reads. */
const CHUNK = 1 << 20;

const stampOf = (generation: string) => `database index generation ${generation}`;

/** The chunks holding bytes [from, from + len). */
function chunksOf(from: number, len: number, chunk: number): number[] {
  const out: number[] = [];
  for (let seq = Math.floor(from / chunk); seq * chunk < from + len; seq++) out.push(seq);
  return out;
}

/** A stored summary, as the chunks fetched so far (the view reads only within those), and more as they are asked for (Source.load). */
function chunkSource(size: number, chunk: number, chunks: Map<number, Buffer>, texts?: LazyTexts): Source {
  return {
    size,
    readInto(from, len, into, at) {
      for (let done = 0; done < len; ) {
        const seq = Math.floor((from + done) / chunk);
        const part = chunks.get(seq);
        const offset = from + done - seq * chunk;
        if (!part && texts) throw new Error(`index summary bytes at ${from + done} read before they were loaded`);
        if (!part || offset >= part.length)
          throw envError("ERR_STORE_CORRUPT", "the index summary in the database is damaged: a chunk is missing", "`mtls doctor --fix` removes it");
        done += part.copy(into, at + done, offset, Math.min(part.length, offset + len - done));
      }
    },
    ...(texts ? { load: (ranges: Ranges, keepFrom?: number) => texts.load(ranges, keepFrom) } : {}),
    close() {},
  };
}

/** Chunks a reader going forward gets with those it asks for. */
const AHEAD = 2;

/**
 * The element texts of a stored summary, fetched as a reader asks for them (Source.load), a few
 * chunks to a statement: `list --json` holds a few chunks at once, and no statement stays open
 * while the document is written (a slow reader, `| less`, would hold a snapshot and a backend,
 * and meet statement_timeout). The summary is of one generation of the journal and never
 * changes; a keeper deletes it only once two newer ones are stored (keepSqlSummary), and a reader
 * that finds chunks gone (that, `doctor --fix`, or damage) says so. Exported for its tests.
 */
export class LazyTexts {
  constructor(
    private readonly db: SqlClient,
    private readonly stored: Stored,
    /** The last chunk holding element texts. */
    private readonly last: number,
    private readonly chunks: Map<number, Buffer>,
  ) {}

  load(ranges: Ranges, keepFrom?: number): Promise<void> | undefined {
    const chunk = this.stored.chunk;
    // Chunks wholly before keepFrom (an offset in the texts, which come first) hold only texts.
    if (keepFrom !== undefined) for (const seq of this.chunks.keys()) if ((seq + 1) * chunk <= keepFrom) this.chunks.delete(seq);
    const need = [...new Set(ranges.flatMap(([from, len]) => chunksOf(from, len, chunk)))].filter((s) => !this.chunks.has(s));
    if (need.length === 0) return undefined;
    if (keepFrom !== undefined) {
      // A reader going forward will want the next ones.
      let top = 0;
      for (const seq of need) if (seq > top) top = seq;
      for (let seq = top + 1; seq <= Math.min(this.last, top + AHEAD); seq++) if (!this.chunks.has(seq)) need.push(seq);
    }
    return this.fetch(need);
  }

  private async fetch(need: number[]): Promise<void> {
    const { generation, size, chunk } = this.stored;
    await fetchChunks(this.db, generation, need, this.chunks);
    // Gone, or stored again under its generation (a damaged one replaced) in another length.
    if (!need.every((seq) => this.chunks.get(seq)?.length === Math.min(chunk, size - seq * chunk))) throw changedWhileRead();
  }
}

// A store changed under a command, as a CA rollover's step reports it: a conflict (exit 4).
const changedWhileRead = () =>
  conflictError(
    "ERR_STORE_CHANGED",
    "the index summary in the database was replaced or removed while it was read",
    "run the command again; if it happens every time, run `mtls doctor`",
  );

/** A bigint's text as the database gave it and numbers mtls computed: COPY takes them only as literals. */
function checkKey(generation: string, seqs: readonly number[]): void {
  if (!/^-?[0-9]{1,19}$/.test(generation) || !seqs.every(Number.isSafeInteger)) throw new Error(`bad summary chunk key ${generation}`);
}

function chunkRow([seq, data]: CopyRow): [number, Buffer] {
  if (seq?.length !== 4 || !data)
    throw envError("ERR_STORE_CORRUPT", "the index summary in the database is damaged: a chunk is unreadable", "`mtls doctor --fix` removes it");
  return [seq.readInt32BE(0), data];
}

async function fetchChunks(db: SqlClient, generation: string, seqs: readonly number[], into: Map<number, Buffer>): Promise<void> {
  const missing = seqs.filter((s) => !into.has(s));
  if (missing.length === 0) return;
  checkKey(generation, missing);
  // In COPY's binary format: as text (query()'s only way) they were base64, which the server
  // took ~240 ms to encode for 80 MB of chunks, and the client as long to decode.
  const rows = await db.copyRows(
    `SELECT seq, data FROM mtls.index_summary_chunks WHERE generation = ${generation} AND seq = ANY('{${missing.join(",")}}'::int[])`,
  );
  for (const row of rows) into.set(...chunkRow(row));
}

/**
 * The stored summary's view for `parts` when it is whole; else whether it is this release's
 * (damaged, built from another generation's journal, or of an earlier format: to be replaced)
 * or a later release's (left to the release that reads it, lest two releases sharing a store
 * rewrite it on every run).
 */
async function storedView(
  db: SqlClient,
  generation: string,
  size: number,
  chunk: number,
  parts: readonly IndexPart[],
): Promise<{ view: IndexView } | { ours: boolean }> {
  if (!plausible({ generation, size, chunk })) return { ours: true };
  const chunks = new Map<number, Buffer>();
  await fetchChunks(db, generation, chunksOf(size - TRAILER, TRAILER, chunk), chunks);
  const src = chunkSource(size, chunk, chunks);
  let trailer: Buffer;
  try {
    trailer = readFresh(src, size - TRAILER, TRAILER);
  } catch {
    return { ours: true };
  }
  // The element texts (`list --json`, `partner show`) are fetched as they are read.
  const regions = regionsOf(trailer, size, parts, { texts: false });
  const t = readTrailer(trailer, undefined, size);
  // An earlier format's is this release's to replace: an earlier release reads only its own.
  if (!regions || !t) return { ours: ofThisFormat(trailer) || ofEarlierFormat(trailer) };
  const needed = [...new Set(regions.flatMap(([from, len]) => chunksOf(from, len, chunk)))];
  await fetchChunks(db, generation, needed, chunks);
  if (!needed.every((s) => chunks.has(s))) return { ours: true };
  const texts =
    parts.includes("json") && t.lens.json > 0 ? new LazyTexts(db, { generation, size, chunk }, Math.floor((t.lens.json - 1) / chunk), chunks) : undefined;
  const view = viewOf(texts ? chunkSource(size, chunk, chunks, texts) : src, stampOf(generation));
  return view ? { view } : { ours: true };
}

/** The journal's lines come joined in rows of this many. */
const LINES_PER_ROW = 1000;

/** A stored summary's key and layout. */
interface Stored {
  generation: string;
  size: number;
  chunk: number;
}

/**
 * The summary of the journal as it is now: `base` (an older generation's summary) with the
 * journal's new lines added when the journal only grew since (summary-extend.ts, which checks the
 * lines it covers against their hash), else built from all the lines.
 */
async function builtSummary(db: SqlClient, name: string, base?: Stored): Promise<{ generation: string; summary: Buffer }> {
  const { generation, journal } = await journalNow(db);
  const stamp = stampOf(generation);
  const extended = base && (await extendedFrom(db, base, journal, name, stamp));
  return { generation, summary: extended ?? summaryInMemory(journal, name, stamp) };
}

/** The index journal's lines and their generation. */
async function journalNow(db: SqlClient): Promise<{ generation: string; journal: Buffer }> {
  // One statement, one snapshot: the lines are those of the generation read with them. Binary
  // COPY brings text as the client encoding's bytes (UTF-8, which the driver sets), without the
  // driver making one 48 MB string of 100,000 lines first; joined a thousand lines to a row, as one
  // value of 48 MB the driver's buffer grew by copying it again and again.
  const rows = await db.copyRows(
    `SELECT 0::int8 AS k, generation::text FROM mtls.index_generation WHERE id = 1
     UNION ALL SELECT (1 + (line - 1) / ${LINES_PER_ROW})::int8, string_agg(text || E'\\n', '' ORDER BY line) FROM mtls.journal_lines WHERE journal = 'index.jsonl' GROUP BY 1 ORDER BY 1`,
  );
  const head = rows[0]?.[0]?.length === 8 && rows[0][0].readBigInt64BE() === 0n ? rows[0] : undefined;
  return {
    generation: head?.[1]?.toString("latin1") ?? "0",
    journal: Buffer.concat(rows.slice(head ? 1 : 0).map((r) => r[1] ?? Buffer.alloc(0))),
  };
}

/**
 * `base` with the new lines of `journal` added, when the journal only grew since it was made and
 * it is a whole summary of this format; else undefined (the journal is summarised from its
 * lines). Its trailer is fetched first: the rest only when the lines it covers hash as they did.
 */
async function extendedFrom(db: SqlClient, base: Stored, journal: Buffer, name: string, stamp: string): Promise<Buffer | undefined> {
  if (!plausible(base)) return undefined;
  const chunks = new Map<number, Buffer>();
  try {
    await fetchChunks(db, base.generation, chunksOf(base.size - TRAILER, TRAILER, base.chunk), chunks);
    const trailer = readTrailer(readFresh(chunkSource(base.size, base.chunk, chunks), base.size - TRAILER, TRAILER), undefined, base.size);
    const added = trailer && addedLines(trailer.facts, journal, name);
    if (!trailer || !added) return undefined;
    const seqs = chunksOf(0, base.size, base.chunk);
    await fetchChunks(db, base.generation, seqs, chunks);
    // Deleted since it was named (two newer ones stored, or doctor --fix), or a chunk cut short.
    if (!seqs.every((q) => chunks.get(q)?.length === Math.min(base.chunk, base.size - q * base.chunk))) return undefined;
    const old = oldSummary(chunkSource(base.size, base.chunk, chunks));
    const x = old && old.trailer.facts.hash === trailer.facts.hash ? extensionOf(old, journal, name, added) : undefined;
    const pieces: Buffer[] = [];
    // Kept until joined: copied, since writeExtension passes the old texts through one buffer.
    if (!old || !x || !writeExtension(old, x, journal, stamp, (b) => pieces.push(Buffer.from(b)))) return undefined;
    // The old summary is let go before the new one is joined.
    chunks.clear();
    return Buffer.concat(pieces);
  } catch (err) {
    // A damaged older summary is no base; the journal itself is checked as it is summarised.
    if ((err as MtlsError).code === "ERR_STORE_CORRUPT") return undefined;
    throw err;
  }
}

/** Most chunks a stored summary may have: more is a hand-edited row, not a summary mtls stored. */
const MAX_CHUNKS = 1 << 20;

/** Whether a stored summary's size and chunk size are ones mtls could have stored. */
const plausible = (s: Stored) =>
  Number.isSafeInteger(s.size) && s.size >= TRAILER && Number.isSafeInteger(s.chunk) && s.chunk > 0 && s.size / s.chunk <= MAX_CHUNKS;

/**
 * Stores `summary` for `generation` and drops those older than the newest one before it (which
 * stays for a reader still writing from it), in one transaction on a connection of
 * its own (`db`), unless another reader stored it first; `replace`: the one stored for this
 * generation cannot be read here (another release's, or damaged). Best effort: a role that may
 * only read still has its view.
 */
export async function keepSqlSummary(db: SqlClient, generation: string, summary: Buffer, replace: boolean): Promise<void> {
  try {
    await db.query("BEGIN");
    if (replace) await db.query("DELETE FROM mtls.index_summaries WHERE generation = $1::bigint", [generation]);
    const [mine] = await db.query(
      "INSERT INTO mtls.index_summaries (generation, size, chunk) VALUES ($1::bigint, $2, $3) ON CONFLICT DO NOTHING RETURNING generation",
      [generation, summary.length, CHUNK],
    );
    if (mine) {
      const gen = Buffer.alloc(8);
      gen.writeBigInt64BE(BigInt(generation));
      const rows = chunksOf(0, summary.length, CHUNK).map((seq) => {
        const s = Buffer.alloc(4);
        s.writeInt32BE(seq);
        return [gen, s, summary.subarray(seq * CHUNK, (seq + 1) * CHUNK)];
      });
      // Binary COPY: as bind parameters the chunks went as hex text, ~1.4 s for 80 MB.
      await db.copyRowsIn("mtls.index_summary_chunks (generation, seq, data)", rows);
      // The one before stays for a reader still writing from it (see LazyTexts); older ones go.
      // Keepers that finish out of order may leave a third for a while: the next one removes it.
      await db.query("DELETE FROM mtls.index_summaries WHERE generation < (SELECT max(generation) FROM mtls.index_summaries WHERE generation < $1::bigint)", [
        generation,
      ]);
    }
    await db.query("COMMIT");
  } catch {
    await db.query("ROLLBACK").catch(() => {});
  }
}

/** The journal's generation and the newest summary stored for it or an older one, if any. */
async function current(db: SqlClient): Promise<{ generation: string; stored?: Stored } | undefined> {
  const [row] = await db.query<{ generation: string; stored: string | null; size: number | null; chunk: number | null }>(
    "SELECT g.generation::text AS generation, s.generation::text AS stored, s.size::float8 AS size, s.chunk FROM mtls.index_generation g LEFT JOIN LATERAL (SELECT generation, size, chunk FROM mtls.index_summaries WHERE generation <= g.generation ORDER BY generation DESC LIMIT 1) s ON true WHERE g.id = 1",
  );
  if (!row) return undefined;
  const { generation, stored, size, chunk } = row;
  return stored !== null && size !== null && chunk !== null ? { generation, stored: { generation: stored, size, chunk } } : { generation };
}

/**
 * The index's view for a reader of `parts`: the stored summary of the journal's current
 * generation, else one made now (from an older generation's when the journal only grew since)
 * and handed to `keep` for the next reader (absent inside a transaction, whose failure storing it
 * must not cause).
 */
export async function sqlIndexView(
  db: SqlClient,
  name: string,
  parts: readonly IndexPart[],
  keep?: (generation: string, summary: Buffer, replace: boolean) => Promise<void>,
): Promise<IndexView> {
  const row = await current(db);
  let replace = false;
  let base: Stored | undefined;
  const stored = row?.stored;
  if (stored && stored.generation === row.generation) {
    const found = await storedView(db, stored.generation, stored.size, stored.chunk, parts);
    if ("view" in found) return found.view;
    if (!found.ours) keep = undefined;
    replace = true;
  } else base = stored;
  const { generation, summary } = await builtSummary(db, name, base);
  await keep?.(generation, summary, replace && row?.generation === generation);
  return builtView(memorySource(summary), stampOf(generation));
}

/**
 * For doctor: a stored summary of the current generation that differs from one built now
 * (edited in the database, or damaged); an older one is no problem (the next reader replaces it).
 */
export async function checkSqlSummary(db: SqlClient, name: string): Promise<string | undefined> {
  const row = await current(db);
  if (!row?.stored || row.stored.generation !== row.generation) return undefined;
  const chunks = new Map<number, Buffer>();
  await fetchChunks(db, row.generation, chunksOf(0, row.stored.size, row.stored.chunk), chunks);
  const stored = Buffer.concat([...chunks.keys()].sort((a, b) => a - b).map((s) => chunks.get(s) as Buffer));
  // Another release's (or another byte order's) summary is theirs to read: readers here build their own.
  if (stored.length < TRAILER || !ofThisFormat(stored.subarray(stored.length - TRAILER))) return undefined;
  const { summary } = await builtSummary(db, name);
  return summary.equals(stored) ? undefined : "the index summary in the database does not match index.jsonl";
}

/** Removes every stored summary (doctor --fix): the next reader builds one again. */
export async function dropSqlSummary(db: SqlClient): Promise<void> {
  await db.query("DELETE FROM mtls.index_summaries");
}
