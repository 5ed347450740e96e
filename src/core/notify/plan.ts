// Which reminders and notices are due, as a pure function of the partners' health, the index, the
// policy's thresholds and what was already sent. Each notice has a key (kind, serial, threshold);
// a key delivered on a channel is recorded in the audit log and never sent there again.
import type { PartnerHealth } from "../health/partners.js";
import type { CertRecord } from "../store/index-file.js";
import { DAY } from "../time.js";

export type NoticeKind = "reminder" | "locked-out" | "overlap-ending";
export const CHANNELS = ["smtp", "webhook"] as const;
export type Channel = (typeof CHANNELS)[number];

export interface Notice {
  /** "reminder:<serial>:<days>", "locked-out:<serial>", "overlap-ending:<successor serial>". */
  key: string;
  kind: NoticeKind;
  partnerId: string;
  /** The certificate the notice is about (the superseded one for overlap-ending). */
  cert: CertRecord;
  /** reminder: the threshold crossed, in days before expiry. */
  threshold?: number;
  /** overlap-ending: the successor. */
  successor?: CertRecord;
}

export interface PlanParams {
  health: readonly PartnerHealth[];
  records: readonly CertRecord[];
  /** Days before expiry, any order (e.g. 30, 14, 7, 1). */
  thresholds: readonly number[];
  /** Notify when a rotation's overlap ends within this window. */
  overlapNoticeMs: number;
  now: Date;
}

/**
 * The threshold a certificate expiring at `notAfter` has crossed: the smallest one it is within.
 * A first run 10 days before expiry sends the 14-day reminder only, not the 30-day one too.
 */
export function crossedThreshold(notAfter: Date, now: Date, thresholds: readonly number[]): number | undefined {
  const left = notAfter.getTime() - now.getTime();
  if (left <= 0) return undefined;
  const within = thresholds.filter((t) => left <= t * DAY);
  return within.length ? Math.min(...within) : undefined;
}

/** Every notice due at `now`, sent or not (filter with `unsent`). */
export function planNotices(p: PlanParams): Notice[] {
  const bySerial = new Map(p.records.map((r) => [r.serial, r]));
  const out: Notice[] = [];
  for (const h of p.health) {
    const cert = h.newestSerial ? bySerial.get(h.newestSerial) : undefined;
    if (!cert) continue;
    if (h.state === "ok" || h.state === "due") {
      const t = crossedThreshold(new Date(cert.notAfter), p.now, p.thresholds);
      if (t !== undefined) out.push({ key: `reminder:${cert.serial}:${t}`, kind: "reminder", partnerId: h.partnerId, cert, threshold: t });
    } else if (h.state === "locked-out") {
      out.push({ key: `locked-out:${cert.serial}`, kind: "locked-out", partnerId: h.partnerId, cert });
    } else if (h.state === "rotating" && h.rotation && !h.rotation.overlapEnded) {
      const old = bySerial.get(h.rotation.superseded);
      const left = Date.parse(h.rotation.overlapUntil) - p.now.getTime();
      if (old && left <= p.overlapNoticeMs)
        out.push({ key: `overlap-ending:${cert.serial}`, kind: "overlap-ending", partnerId: h.partnerId, cert: old, successor: cert });
    }
  }
  return out;
}

/** `sent` holds "<key>@<channel>" for every delivery recorded so far. */
export const sentKey = (key: string, channel: Channel): string => `${key}@${channel}`;

/** The notices still to deliver on `channel`. */
export const unsent = (notices: readonly Notice[], sent: ReadonlySet<string>, channel: Channel): Notice[] =>
  notices.filter((n) => !sent.has(sentKey(n.key, channel)));
