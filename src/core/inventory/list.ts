import { inputError } from "../errors.js";
import type { CertRecord } from "../store/index-file.js";
import { readIndex } from "../store/index-file.js";
import { openStore } from "../store/store.js";
import { DAY } from "../time.js";

export const CERT_STATUSES = ["valid", "expiring", "expired", "revoked"] as const;
export type CertStatus = (typeof CERT_STATUSES)[number];

export interface ListParams {
  pkiDir: string;
  now: Date;
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

export interface ListResult {
  certificates: ListedCert[];
  /** The window, in days, within which a certificate counts as expiring. */
  warnDays: number;
}

export function parseStatus(s: string): CertStatus {
  if ((CERT_STATUSES as readonly string[]).includes(s)) return s as CertStatus;
  throw inputError("ERR_STATUS", `unknown status "${s}"`, `use one of: ${CERT_STATUSES.join(", ")}`);
}

/** Status at `now`: revoked wins, then expired, then expiring within `windowMs`. */
export function statusOf(r: CertRecord, now: Date, windowMs: number): CertStatus {
  if (r.status === "revoked") return "revoked";
  const end = Date.parse(r.notAfter);
  if (end <= now.getTime()) return "expired";
  if (end - now.getTime() <= windowMs) return "expiring";
  return "valid";
}

/** The certificate inventory, filtered, oldest first. */
export async function listCertificates(p: ListParams): Promise<ListResult> {
  const { layout, config } = await openStore(p.pkiDir);
  const windowMs = p.expiringWithinMs ?? config.policy.warnDays * DAY;
  const now = p.now.getTime();
  const out: ListedCert[] = [];
  for (const r of await readIndex(layout.index)) {
    if (p.partner !== undefined && r.partnerId !== p.partner) continue;
    if (p.kind !== undefined && (r.kind ?? "client") !== p.kind) continue;
    const status = statusOf(r, p.now, windowMs);
    if (p.status && status !== p.status) continue;
    if (p.expiringWithinMs !== undefined) {
      const end = Date.parse(r.notAfter);
      if (r.status === "revoked" || end <= now || end - now > p.expiringWithinMs) continue;
    }
    // The records were parsed for this call alone: annotate them in place rather than copy 100k objects.
    const listed = r as unknown as ListedCert;
    listed.status = status;
    listed.daysLeft = Math.floor((Date.parse(r.notAfter) - now) / DAY);
    out.push(listed);
  }
  return { certificates: out, warnDays: Math.round(windowMs / DAY) };
}
