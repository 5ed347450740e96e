import { inputError } from "../errors.js";
import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import type { CertRecord } from "../store/index-file.js";
import { openIndexRows } from "../store/index-rows.js";
import { DAYS_FIRST, ELEMENT_INDENT, type IndexCells, type IndexView, REVOKED, SERVER } from "../store/index-summary.js";
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

/** Status at `now`: revoked wins, then expired, then expiring within `windowMs`. */
export function statusOf(r: Pick<CertRecord, "status" | "notAfter">, now: Date, windowMs: number): CertStatus {
  if (r.status === "revoked") return "revoked";
  const end = Date.parse(r.notAfter);
  if (end <= now.getTime()) return "expired";
  if (end - now.getTime() <= windowMs) return "expiring";
  return "valid";
}

/** The certificate inventory, filtered, oldest first. */
export async function listCertificates(pki: Pki, p: ListParams = {}): Promise<ListResult> {
  const config = await pki.config();
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  const now = pki.now.getTime();
  const certificates: ListedCert[] = [];
  for (const r of (await readIndexOf(pki.storage)).records) {
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
  const view = await openIndexRows(pki.storage);
  try {
    return { certificates: { ...selectRows(view, p, pki.now, windowMs), cells: view.cells() }, warnDays: Math.round(windowMs / DAY) };
  } finally {
    view.close();
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
  rawJson(indent: string): Iterable<Uint8Array> | undefined;
}

/** The selection of listCertificates, as the index summary's rendered elements (see StreamedList). */
export async function streamCertificates(pki: Pki, p: ListParams = {}): Promise<{ certificates: StreamedList<ListedCert>; warnDays: number }> {
  const config = await pki.config();
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  const view = await openIndexRows(pki.storage);
  let sel: Selection;
  try {
    sel = selectRows(view, p, pki.now, windowMs);
  } catch (err) {
    view.close();
    throw err;
  }
  const certificates: StreamedList<ListedCert> = {
    length: sel.length,
    *[Symbol.iterator]() {
      for (const el of closing(view, elementTexts(view, sel))) yield JSON.parse(el.toString("utf8")) as ListedCert;
    },
    rawJson: (indent) => (indent === ELEMENT_INDENT ? closing(view, joinedElements(view, sel)) : undefined),
  };
  return { certificates, warnDays: Math.round(windowMs / DAY) };
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

/** The table's rows: the selection and the summary's cells (serial, partner, subject, notAfter's date). */
export interface CertTable extends Selection {
  readonly cells: IndexCells;
}

const [VALID, EXPIRING, EXPIRED, REVOKED_STATUS] = [0, 1, 2, 3];

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
  let k = 0;
  for (let i = 0; i < n; i++) {
    if (partner !== -2 && view.partnerOf[i] !== partner) continue;
    const flags = view.flags[i] as number;
    if (kind !== -1 && (flags & SERVER) !== kind) continue;
    const end = view.notAfterMs[i] as number;
    const revoked = (flags & REVOKED) !== 0;
    const st = revoked ? REVOKED_STATUS : end <= now ? EXPIRED : end - now <= windowMs ? EXPIRING : VALID;
    if (want !== -1 && st !== want) continue;
    if (within !== undefined && (revoked || end <= now || end - now > within)) continue;
    row[k] = i;
    status[k] = st;
    daysLeft[k] = Math.floor((end - now) / DAY);
    k++;
  }
  return { length: k, row: row.subarray(0, k), status: status.subarray(0, k), daysLeft: daysLeft.subarray(0, k) };
}

const OUT = 1 << 20;
const WINDOW = 1 << 20;
const STATUS_JSON = CERT_STATUSES.map((st) => JSON.stringify(st));
const SEPARATOR = `,\n${ELEMENT_INDENT}`;

/** Writes ASCII `s` into `out` at `o`; returns the new offset. */
function putAscii(out: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
  return o;
}

/** Where each selected row's text starts in the summary's element texts. */
function* rowStarts(pieceLen: Uint32Array, sel: Selection): Generator<[k: number, i: number, pos: number]> {
  let pos = 0;
  let r = 0;
  for (let k = 0; k < sel.length; k++) {
    const i = sel.row[k] as number;
    for (; r < i; r++) pos += (pieceLen[3 * r] as number) + (pieceLen[3 * r + 1] as number) + (pieceLen[3 * r + 2] as number);
    yield [k, i, pos];
  }
}

/** Row i's element with its two values put in, from its text at `at` in `src`, into `out` at `o`; returns the new offset. */
function putElement(
  out: Buffer,
  o: number,
  src: Buffer,
  at: number,
  pieceLen: Uint32Array,
  i: number,
  daysFirst: boolean,
  status: string,
  days: string,
): number {
  const l0 = pieceLen[3 * i] as number;
  const l1 = pieceLen[3 * i + 1] as number;
  const l2 = pieceLen[3 * i + 2] as number;
  // copyWithin within one buffer allocates nothing; Buffer.copy made a view per call (#21).
  if (src === out) out.copyWithin(o, at, at + l0);
  else src.copy(out, o, at, at + l0);
  o = putAscii(out, o + l0, daysFirst ? days : status);
  if (src === out) out.copyWithin(o, at + l0, at + l0 + l1);
  else src.copy(out, o, at + l0, at + l0 + l1);
  o = putAscii(out, o + l1, daysFirst ? status : days);
  if (src === out) out.copyWithin(o, at + l0 + l1, at + l0 + l1 + l2);
  else src.copy(out, o, at + l0 + l1, at + l0 + l1 + l2);
  return o + l2;
}

/**
 * The selected rows' --json elements, joined by the writer's separator, in pieces of about
 * 1 MiB. Each piece is the output part of a buffer whose first part is a window on the
 * summary's texts, so that every copy stays within one buffer.
 */
function* joinedElements(view: IndexView, sel: Selection): Generator<Buffer> {
  const { pieceLen, read, length: total } = view.json();
  let arena = Buffer.alloc(0);
  let wcap = 0; // the window is arena[0, winLen), the texts from winFrom on; the output starts at wcap
  let winFrom = 0;
  let winLen = 0;
  let o = 0;
  for (const [k, i, pos] of rowStarts(pieceLen, sel)) {
    const len = (pieceLen[3 * i] as number) + (pieceLen[3 * i + 1] as number) + (pieceLen[3 * i + 2] as number);
    const days = JSON.stringify(sel.daysLeft[k]);
    const need = len + days.length + 32;
    if (o + need > arena.length || len > wcap) {
      if (o > wcap) yield arena.subarray(wcap, o);
      // What the window holds from this row on moves to the new buffer.
      const keep = pos >= winFrom && pos < winFrom + winLen ? winLen - (pos - winFrom) : 0;
      const w = Math.max(WINDOW, len, keep);
      const next = Buffer.allocUnsafeSlow(w + Math.max(OUT, need));
      if (keep > 0) arena.copy(next, 0, pos - winFrom, winLen);
      [arena, wcap, winFrom, winLen, o] = [next, w, pos, keep, w];
    }
    if (pos < winFrom || pos + len > winFrom + winLen) {
      winLen = Math.min(wcap, total - pos);
      read(pos, winLen, arena, 0);
      winFrom = pos;
    }
    if (k > 0) o = putAscii(arena, o, SEPARATOR);
    const daysFirst = ((view.flags[i] as number) & DAYS_FIRST) !== 0;
    o = putElement(arena, o, arena, pos - winFrom, pieceLen, i, daysFirst, STATUS_JSON[sel.status[k] as number] as string, days);
  }
  if (o > wcap) yield arena.subarray(wcap, o);
}

/** The selected rows' --json elements one by one (the slow way, for a writer that wants objects). */
function* elementTexts(view: IndexView, sel: Selection): Generator<Buffer> {
  const { pieceLen, read } = view.json();
  for (const [k, i, pos] of rowStarts(pieceLen, sel)) {
    const len = (pieceLen[3 * i] as number) + (pieceLen[3 * i + 1] as number) + (pieceLen[3 * i + 2] as number);
    const text = Buffer.alloc(len);
    read(pos, len, text, 0);
    const days = JSON.stringify(sel.daysLeft[k]);
    const out = Buffer.alloc(len + days.length + 16);
    const daysFirst = ((view.flags[i] as number) & DAYS_FIRST) !== 0;
    yield out.subarray(0, putElement(out, 0, text, 0, pieceLen, i, daysFirst, STATUS_JSON[sel.status[k] as number] as string, days));
  }
}
