import { inputError } from "../errors.js";
import type { Pki } from "../session.js";
import { readIndexOf, readPartnersOf } from "../store/blobs.js";
import type { CertRecord } from "../store/index-file.js";
import { openIndexRows } from "../store/index-rows.js";
import { DAYS_FIRST, damagedElement, ELEMENT_INDENT, ELEMENT_SEPARATOR, type IndexCells, type IndexView, REVOKED, SERVER } from "../store/index-summary.js";
import { PieceAssembler } from "../store/summary-pieces.js";
import { DAY } from "../time.js";

export const CERT_STATUSES = ["valid", "expiring", "expired", "revoked"] as const;
export type CertStatus = (typeof CERT_STATUSES)[number];

export interface ListParams {
  partner?: string;
  status?: CertStatus;
  /** Only partner client certificates, or only the gateways' server certificates. */
  kind?: "client" | "server";
  /** Only certificates, not revoked and not yet expired, whose notAfter falls within this window (ms). */
  expiringWithinMs?: number;
}

export interface ListedCert extends Omit<CertRecord, "status"> {
  status: CertStatus;
  daysLeft: number;
}

export interface ListResult<T = ListedCert> {
  certificates: T[];
  /** The window, in days, within which a certificate counts as expiring. */
  warnDays: number;
}

export function parseStatus(s: string): CertStatus {
  if ((CERT_STATUSES as readonly string[]).includes(s)) return s as CertStatus;
  throw inputError("ERR_STATUS", `unknown status "${s}"`, `use one of: ${CERT_STATUSES.join(", ")}`);
}

const [VALID, EXPIRING, EXPIRED, REVOKED_STATUS] = [0, 1, 2, 3];

/** The status rule as an index into CERT_STATUSES: revoked wins, then expired, then expiring within `windowMs`. */
export function statusIndex(revoked: boolean, endMs: number, nowMs: number, windowMs: number): number {
  return revoked ? REVOKED_STATUS : endMs <= nowMs ? EXPIRED : endMs - nowMs <= windowMs ? EXPIRING : VALID;
}

/** Status at `now` (statusIndex's rule). */
export function statusOf(r: Pick<CertRecord, "status" | "notAfter">, now: Date, windowMs: number): CertStatus {
  return CERT_STATUSES[statusIndex(r.status === "revoked", Date.parse(r.notAfter), now.getTime(), windowMs)] as CertStatus;
}

/**
 * A --partner filter naming no partner is refused as `partner show` and `notify --partner` refuse
 * it: an empty answer would read as "this partner has no certificates". `inIndex` says whether any
 * certificate names it; only otherwise is the registry read (a partner added without one is known).
 */
async function checkPartnerFilter(pki: Pki, partner: string | undefined, inIndex: () => boolean): Promise<void> {
  if (partner === undefined || inIndex()) return;
  if ((await readPartnersOf(pki.storage)).partners[partner]) return;
  throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${partner}" in this PKI`, "see `mtls partner list`");
}

/** The certificate inventory, filtered, oldest first. */
export async function listCertificates(pki: Pki, p: ListParams = {}): Promise<ListResult> {
  const config = await pki.config();
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  const now = pki.now.getTime();
  const certificates: ListedCert[] = [];
  const { records } = await readIndexOf(pki.storage);
  await checkPartnerFilter(pki, p.partner, () => records.some((r) => r.partnerId === p.partner));
  for (const r of records) {
    if (p.partner !== undefined && r.partnerId !== p.partner) continue;
    if (p.kind !== undefined && (r.kind ?? "client") !== p.kind) continue;
    const status = statusOf(r, pki.now, windowMs);
    const end = Date.parse(r.notAfter);
    if (p.status && status !== p.status) continue;
    if (p.expiringWithinMs !== undefined && (r.status === "revoked" || end <= now || end - now > p.expiringWithinMs)) continue;
    certificates.push({ ...r, status, daysLeft: Math.floor((end - now) / DAY) });
  }
  return { certificates, warnDays: Math.round(windowMs / DAY) };
}

/**
 * The same selection as listCertificates, as rows of the index summary: what `mtls list` prints
 * without --json, with no object per certificate at 100,000 of them (#21).
 */
export async function listCertificateTable(pki: Pki, p: ListParams = {}): Promise<{ certificates: CertTable; warnDays: number }> {
  const config = await pki.config();
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  const view = await openIndexRows(pki.storage, ["cells"]);
  try {
    await checkPartnerFilter(pki, p.partner, () => view.partners.includes(p.partner as string));
    const table = { ...selectRows(view, p, pki.now, windowMs), cells: view.cells(), close: () => view.close() };
    return { certificates: table, warnDays: Math.round(windowMs / DAY) };
  } catch (err) {
    view.close();
    throw err;
  }
}

/**
 * A list of records read as it is iterated: what `list --json` writes as it goes, so 100,000
 * records are never parsed or held at once (#21). Iterate it once. rawJson gives the elements'
 * text as the --json writer would print it (for elements at `indent`), or undefined when the
 * summary's text is for another indentation.
 */
export interface StreamedList<T> extends Iterable<T> {
  readonly length: number;
  /** Call before iterating: a database store fetches the element texts of the selected rows then. */
  ready(): Promise<void>;
  /** A promise among the pieces: the bytes after it are being fetched; wait for it before asking for more. */
  rawJson(indent: string): Iterable<Uint8Array | Promise<void>> | undefined;
}

/** The selection of listCertificates, as the index summary's rendered elements (see StreamedList). */
export async function streamCertificates(pki: Pki, p: ListParams = {}): Promise<{ certificates: StreamedList<ListedCert>; warnDays: number }> {
  const config = await pki.config();
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  const view = await openIndexRows(pki.storage, ["json"]);
  let sel: Selection;
  try {
    await checkPartnerFilter(pki, p.partner, () => view.partners.includes(p.partner as string));
    sel = selectRows(view, p, pki.now, windowMs);
  } catch (err) {
    view.close();
    throw err;
  }
  const certificates: StreamedList<ListedCert> = {
    length: sel.length,
    async ready() {
      const json = view.json();
      await json.load?.(selectedRanges(json.pieceLen, sel));
    },
    *[Symbol.iterator]() {
      for (const el of closing(view, elementTexts(view, sel))) yield parseElement(el);
    },
    rawJson: (indent) => (indent === ELEMENT_INDENT ? closing(view, joinedElements(view, sel)) : undefined),
  };
  return { certificates, warnDays: Math.round(windowMs / DAY) };
}

function parseElement(el: Buffer): ListedCert {
  try {
    return JSON.parse(el.toString("utf8")) as ListedCert;
  } catch (err) {
    throw damagedElement(err);
  }
}

function* closing<T>(view: IndexView, items: Iterable<T>): Generator<T> {
  try {
    yield* items;
  } finally {
    view.close();
  }
}

/** The selected rows of the summary: which, their status at `now` (CERT_STATUSES' index) and days left. */
export interface Selection {
  readonly length: number;
  readonly row: Uint32Array;
  readonly status: Uint8Array;
  readonly daysLeft: Float64Array;
}

/** The table's rows: the selection and the summary's cells (serial, partner, subject, notAfter's date), read as they are printed. Close it when done. */
export interface CertTable extends Selection {
  readonly cells: IndexCells;
  close(): void;
}

/** listCertificates' filters and statusOf's rule over the summary's columns. */
function selectRows(view: IndexView, p: ListParams, at: Date, windowMs: number): Selection {
  const now = at.getTime();
  const n = view.count;
  const row = new Uint32Array(n);
  const status = new Uint8Array(n);
  const daysLeft = new Float64Array(n);
  const partner = p.partner === undefined ? -2 : view.partners.indexOf(p.partner);
  const kind = p.kind === undefined ? -1 : p.kind === "server" ? SERVER : 0;
  const want = p.status === undefined ? -1 : CERT_STATUSES.indexOf(p.status);
  const within = p.expiringWithinMs;
  const { partnerOf, flags: flagsOf, notAfterMs } = view;
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (partner !== -2 && partnerOf[i] !== partner) continue;
    const flags = flagsOf[i] as number;
    if (kind !== -1 && (flags & SERVER) !== kind) continue;
    const end = notAfterMs[i] as number;
    const revoked = (flags & REVOKED) !== 0;
    const st = statusIndex(revoked, end, now, windowMs);
    if (want !== -1 && st !== want) continue;
    if (within !== undefined && (revoked || end <= now || end - now > within)) continue;
    row[k] = i;
    status[k] = st;
    daysLeft[k] = Math.floor((end - now) / DAY);
    k++;
  }
  return { length: k, row: row.subarray(0, k), status: status.subarray(0, k), daysLeft: daysLeft.subarray(0, k) };
}

const STATUS_JSON = CERT_STATUSES.map((st) => JSON.stringify(st));

/** Where row i's text starts in the summary's element texts, for rows asked in increasing order. */
function rowStarts(pieceLen: Uint32Array): (i: number) => number {
  let pos = 0;
  let r = 0;
  return (i) => {
    for (; r < i; r++) pos += (pieceLen[3 * r] as number) + (pieceLen[3 * r + 1] as number) + (pieceLen[3 * r + 2] as number);
    return pos;
  };
}

/** How far past what it needs next `list --json` asks a store that fetches the texts for them. */
const FETCH_AHEAD = 1 << 20;

/** The byte ranges of the selected rows' texts, adjacent ones joined. */
function selectedRanges(pieceLen: Uint32Array, sel: Selection): Array<[number, number]> {
  const startOf = rowStarts(pieceLen);
  const out: Array<[number, number]> = [];
  for (let k = 0; k < sel.length; k++) {
    const i = sel.row[k] as number;
    const from = startOf(i);
    const len = (pieceLen[3 * i] as number) + (pieceLen[3 * i + 1] as number) + (pieceLen[3 * i + 2] as number);
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === from) last[1] += len;
    else out.push([from, len]);
  }
  return out;
}

/** daysLeft as JSON, each distinct number turned into text once. */
function daysJson(): (d: number) => string {
  const seen = new Map<number, string>();
  return (d) => {
    let text = seen.get(d);
    if (text === undefined) {
      text = JSON.stringify(d);
      seen.set(d, text);
    }
    return text;
  };
}

/**
 * The selected rows' --json elements, joined by the writer's separator, in pieces of about
 * 1 MiB (PieceAssembler: no view or copy per row beyond the bytes themselves).
 */
function* joinedElements(view: IndexView, sel: Selection): Generator<Buffer | Promise<void>> {
  const { pieceLen, read, length: total, load } = view.json();
  const out = new PieceAssembler(read, total);
  // A store that fetches the texts as they are read (see Source.load) is asked for them a
  // stretch ahead, and lets go of what lies behind.
  let loadedTo = 0;
  const fetched =
    load &&
    function* (lo: number, hi: number): Generator<Promise<void>> {
      if (hi <= loadedTo) return;
      loadedTo = Math.min(total, hi + FETCH_AHEAD);
      const fetching = load([[lo, loadedTo - lo]], lo);
      if (fetching) yield fetching;
    };
  const startOf = rowStarts(pieceLen);
  const daysText = daysJson();
  // The last piece of the row before, not copied yet: when rows follow each other it and the
  // next row's first piece (separator included) are one run of bytes, one copy.
  let tailFrom = -1;
  let tailTo = -1;
  for (let k = 0; k < sel.length; k++) {
    const i = sel.row[k] as number;
    const pos = startOf(i);
    const end0 = pos + (pieceLen[3 * i] as number);
    const end1 = end0 + (pieceLen[3 * i + 1] as number);
    const end2 = end1 + (pieceLen[3 * i + 2] as number);
    const days = daysText(sel.daysLeft[k] as number);
    const status = STATUS_JSON[sel.status[k] as number] as string;
    const from = tailTo === pos ? tailFrom : pos;
    // What the two begin()s below may read: a new buffer's window is at most the longer run.
    if (fetched) yield* fetched(tailFrom >= 0 ? tailFrom : from, out.reach(from, Math.max(tailTo - tailFrom, end2 - from)));
    if (from === pos && tailFrom >= 0) yield* copyRun(out, tailFrom, tailTo);
    const done = out.begin(from, end2 - from, end2 - from + days.length + status.length);
    if (done) yield done;
    out.copy(k === 0 ? pos + ELEMENT_SEPARATOR.length : from, end0);
    const daysFirst = ((view.flags[i] as number) & DAYS_FIRST) !== 0;
    out.ascii(daysFirst ? days : status);
    out.copy(end0, end1);
    out.ascii(daysFirst ? status : days);
    [tailFrom, tailTo] = [end1, end2];
  }
  if (tailFrom >= 0) {
    if (fetched) yield* fetched(tailFrom, out.reach(tailFrom, tailTo - tailFrom));
    yield* copyRun(out, tailFrom, tailTo);
  }
  const last = out.finish();
  if (last) yield last;
}

function* copyRun(out: PieceAssembler, from: number, to: number): Generator<Buffer> {
  const done = out.begin(from, to - from, to - from);
  if (done) yield done;
  out.copy(from, to);
}

/** The selected rows' --json elements one by one (the slow way, for a writer that wants objects). */
function* elementTexts(view: IndexView, sel: Selection): Generator<Buffer> {
  const { pieceLen, read } = view.json();
  const startOf = rowStarts(pieceLen);
  for (let k = 0; k < sel.length; k++) {
    const i = sel.row[k] as number;
    const pos = startOf(i);
    const [l0, l1, l2] = [pieceLen[3 * i] as number, pieceLen[3 * i + 1] as number, pieceLen[3 * i + 2] as number];
    const text = Buffer.alloc(l0 + l1 + l2);
    read(pos, text.length, text, 0);
    const days = Buffer.from(JSON.stringify(sel.daysLeft[k]));
    const status = Buffer.from(STATUS_JSON[sel.status[k] as number] as string);
    const daysFirst = ((view.flags[i] as number) & DAYS_FIRST) !== 0;
    const first = text.subarray(ELEMENT_SEPARATOR.length, l0);
    yield Buffer.concat([first, daysFirst ? days : status, text.subarray(l0, l0 + l1), daysFirst ? status : days, text.subarray(l0 + l1)]);
  }
}
