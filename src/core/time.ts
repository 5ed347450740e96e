import { usageError } from "./errors.js";

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

const UNITS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };

/**
 * Parses "30d", "12h", "90m", "5s", "2w" or "500ms" into milliseconds. A bare number takes
 * `bareUnit` (days for validities, seconds for timeouts).
 */
export function parseDuration(text: string, what: string, bareUnit: keyof typeof UNITS = "d"): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/i.exec(text);
  if (!m) throw usageError("ERR_DURATION", `invalid ${what} "${text}"`, "use a number with a unit, e.g. 30d, 12h, 90m or 5s");
  const value = Number(m[1]) * (UNITS[(m[2] ?? bareUnit).toLowerCase()] as number);
  if (!Number.isFinite(value) || value <= 0) throw usageError("ERR_DURATION", `invalid ${what} "${text}": must be greater than zero`);
  return value;
}

/** ISO-8601 UTC without milliseconds, the form of every time in our JSON. */
// toISOString always ends in ".sssZ".
export const iso = (d: Date): string => `${d.toISOString().slice(0, -5)}Z`;

/** Whole days from `now` until `d` (negative once past). */
export const daysUntil = (d: Date, now: Date): number => Math.floor((d.getTime() - now.getTime()) / DAY);

/** Certificates are back-dated this much so a partner whose clock runs slow can use them at once. */
export const BACKDATE_MS = 5 * 60 * 1000;

/**
 * An ISO-8601 date ("2026-01-31", midnight UTC) or date and time ("2026-01-31T12:00:00Z"); undefined
 * for anything else, a day the calendar lacks included: Date reads "2026-02-30" as 2 March.
 */
export function parseIsoTime(text: string): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) return undefined;
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? undefined : at;
}
