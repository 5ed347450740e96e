import { inputError } from "../errors.js";
import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import type { CertRecord } from "../store/index-file.js";
import { openIndexRows, readIndexRowsOf } from "../store/index-rows.js";
import type { IndexRow } from "../store/index-summary.js";
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

/** A listed certificate with only the fields the table shows (see listCertificateRows). */
export interface ListedRow extends Omit<IndexRow, "status"> {
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
  const records = (await readIndexOf(pki.storage)).records;
  return { certificates: select(records, p, pki.now, windowMs) as unknown as ListedCert[], warnDays: Math.round(windowMs / DAY) };
}

/**
 * The same selection with only the fields a table shows, read from the index summary: what
 * `mtls list` prints without --json, fast at 100,000 certificates (#21).
 */
export async function listCertificateRows(pki: Pki, p: ListParams = {}): Promise<ListResult<ListedRow>> {
  const config = await pki.config();
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  return { certificates: select(await readIndexRowsOf(pki.storage), p, pki.now, windowMs), warnDays: Math.round(windowMs / DAY) };
}

/**
 * A list of records read one at a time as it is iterated: what `list --json` writes as it goes,
 * so 100,000 whole records are never parsed or held at once (#21). Iterate it once.
 */
export interface StreamedList<T> extends Iterable<T> {
  readonly length: number;
}

/**
 * The selection of listCertificates, chosen from the index summary, each whole record read from
 * the journal only when the list is iterated (by the --json writer).
 */
export async function streamCertificates(pki: Pki, p: ListParams = {}): Promise<{ certificates: StreamedList<ListedCert>; warnDays: number }> {
  const config = await pki.config();
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  const view = await openIndexRows(pki.storage);
  let rows: ListedRow[];
  try {
    rows = select(view.rows, p, pki.now, windowMs);
  } catch (err) {
    view.close();
    throw err;
  }
  const certificates: StreamedList<ListedCert> = {
    length: rows.length,
    *[Symbol.iterator]() {
      try {
        for (const row of rows) yield Object.assign(view.record(row), { status: row.status, daysLeft: row.daysLeft }) as unknown as ListedCert;
      } finally {
        view.close();
      }
    },
  };
  return { certificates, warnDays: Math.round(windowMs / DAY) };
}

function select(records: IndexRow[], p: ListParams, at: Date, windowMs: number): ListedRow[] {
  const now = at.getTime();
  const out: ListedRow[] = [];
  for (const r of records) {
    if (p.partner !== undefined && r.partnerId !== p.partner) continue;
    if (p.kind !== undefined && (r.kind ?? "client") !== p.kind) continue;
    // notAfter parsed once per row (statusOf's rule, inline): at 100,000 rows Date.parse shows (#21).
    const end = Date.parse(r.notAfter);
    const status: CertStatus = r.status === "revoked" ? "revoked" : end <= now ? "expired" : end - now <= windowMs ? "expiring" : "valid";
    if (p.status && status !== p.status) continue;
    if (p.expiringWithinMs !== undefined && (r.status === "revoked" || end <= now || end - now > p.expiringWithinMs)) continue;
    // The records were read for this call alone: annotate them in place rather than copy 100k objects.
    const listed = r as unknown as ListedRow;
    listed.status = status;
    listed.daysLeft = Math.floor((end - now) / DAY);
    out.push(listed);
  }
  return out;
}
