// Which reminders and notices are due, as a pure function of the partners' health, the index, the
// policy's thresholds and what was already sent. Each notice has a key (kind, serial, threshold);
// a key delivered on a channel is recorded in the audit log and never sent there again (nor is a
// reminder for a window that one at a nearer or equal threshold already covered: wasSent).
import type { PartnerHealth } from "../health/partners.js";
import type { CertRecord } from "../store/index-file.js";
import { DAY } from "../time.js";

export type NoticeKind = "reminder" | "locked-out" | "overlap-ending" | "rotation-stalled";
export const CHANNELS = ["smtp", "webhook"] as const;
export type Channel = (typeof CHANNELS)[number];

export interface Notice {
  /** "reminder:<serial>:<days>", "locked-out:<serial>", "overlap-ending:<successor serial>", "rotation-stalled:<successor serial>". */
  key: string;
  kind: NoticeKind;
  partnerId: string;
  /** The certificate the notice is about (the superseded one for overlap-ending and rotation-stalled). */
  cert: CertRecord;
  /** reminder: the threshold crossed, in days before expiry. */
  threshold?: number;
  /** overlap-ending, rotation-stalled: the successor. */
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
    if (h.state === "ok" || h.state === "due" || h.state === "rotating") {
      // The newest certificate, unless it is a rotation's successor, whose overlap is under way.
      const t = h.rotation ? undefined : crossedThreshold(new Date(cert.notAfter), p.now, p.thresholds);
      if (t !== undefined) out.push({ key: `reminder:${cert.serial}:${t}`, kind: "reminder", partnerId: h.partnerId, cert, threshold: t });
      const st = h.stalled;
      const [old, next] = st ? [bySerial.get(st.superseded), bySerial.get(st.successor)] : [];
      if (old && next) out.push({ key: `rotation-stalled:${next.serial}`, kind: "rotation-stalled", partnerId: h.partnerId, cert: old, successor: next });
    } else if (h.state === "locked-out") {
      out.push({ key: `locked-out:${cert.serial}`, kind: "locked-out", partnerId: h.partnerId, cert });
    }
    if (h.rotation && !h.rotation.overlapEnded) {
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

/** The deliveries recorded so far, and per "<serial>@<channel>" the lowest threshold a reminder went out at. */
export interface SentLog {
  keys: ReadonlySet<string>;
  lowestReminder: ReadonlyMap<string, number>;
}

const REMINDER_SENT = /^reminder:([0-9a-f]+):(\d+)@([a-z]+)$/;

/** The log of `keys` ("<key>@<channel>", as readSentKeys returns them). */
export function sentLog(keys: ReadonlySet<string>): SentLog {
  const lowestReminder = new Map<string, number>();
  for (const k of keys) {
    const m = REMINDER_SENT.exec(k);
    if (!m) continue;
    const at = `${m[1]}@${m[3]}`;
    const t = Number(m[2]);
    if (t < (lowestReminder.get(at) ?? Number.POSITIVE_INFINITY)) lowestReminder.set(at, t);
  }
  return { keys, lowestReminder };
}

/**
 * Whether `n` already reached `channel`. A reminder counts as delivered too when one for the same
 * certificate went out at a threshold at or below its own: that partner was told within this
 * window or a nearer one, so changing the thresholds (`ca policy set --notify-days`) sends no
 * window twice, while a nearer threshold still reminds again.
 */
export function wasSent(log: SentLog, n: Notice, channel: Channel): boolean {
  if (log.keys.has(sentKey(n.key, channel))) return true;
  if (n.kind !== "reminder" || n.threshold === undefined) return false;
  return (log.lowestReminder.get(`${n.cert.serial}@${channel}`) ?? Number.POSITIVE_INFINITY) <= n.threshold;
}

/** The notices still to deliver on `channel`. */
export const unsent = (notices: readonly Notice[], log: SentLog, channel: Channel): Notice[] => notices.filter((n) => !wasSent(log, n, channel));
