// Shape checks for every record read back from the store. The store is ours, but a disk error,
// a crash on another tool's part or a careless edit can leave anything in it: a record that is
// not what we wrote is a damaged store (exit 5 naming the file and line), never an exception
// deeper down (#13).
import { randomBytes } from "node:crypto";
import { isCaId } from "../ca/registry.js";
import { envError, type MtlsError } from "../errors.js";

type Check = (v: Record<string, unknown>) => string | undefined;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const text = (v: unknown) => typeof v === "string";
const str = (v: unknown) => typeof v === "string" && v.length > 0;
// As written (core/time.ts iso): Date.parse alone accepts text a damaged byte leaves behind, and
// rolls an impossible date or hour over (February 30 is March 2): the text must name the instant
// it parses to, as the summary's columns and every reader take it.
const time = (v: unknown) => {
  if (typeof v !== "string") return false;
  if (v.length === 20) return plainTime(v);
  if (!ISO.test(v)) return false;
  const ms = Date.parse(v);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === v.slice(0, 19);
};

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The check of every time a store record holds (exported for tests). */
export const isStoredTime = time;

/**
 * The rule above for the one form mtls writes, "YYYY-MM-DDTHH:MM:SSZ", by its digits: each field
 * within its range (a proleptic Gregorian calendar, as Date's). Checking three times of each of
 * 100,000 records through Date took ~0.2 s of every command that reads the whole journal (#21).
 */
function plainTime(v: string): boolean {
  if (
    v.charCodeAt(4) !== 45 ||
    v.charCodeAt(7) !== 45 ||
    v.charCodeAt(10) !== 84 ||
    v.charCodeAt(13) !== 58 ||
    v.charCodeAt(16) !== 58 ||
    v.charCodeAt(19) !== 90
  )
    return false;
  const year = twoDigits(v, 0) * 100 + twoDigits(v, 2);
  const month = twoDigits(v, 5);
  const day = twoDigits(v, 8);
  // NaN (a character other than a digit) fails every comparison.
  if (!(year >= 0 && month >= 1 && month <= 12 && day >= 1 && twoDigits(v, 11) <= 23 && twoDigits(v, 14) <= 59 && twoDigits(v, 17) <= 59)) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number));
}

/** The number the two ASCII digits at `i` write; NaN when either is not one. */
function twoDigits(v: string, i: number): number {
  const a = v.charCodeAt(i) - 48;
  const b = v.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : Number.NaN;
}
const hex = (v: unknown) => typeof v === "string" && /^[0-9a-f]{1,40}$/.test(v);
/** The check of every serial a store record holds. */
export const isStoredSerial = hex;

/** The RFC 5280 reasons mtls revokes with (certificateHold is refused: revocation is final). */
export const REVOCATION_REASONS = [
  "unspecified",
  "keyCompromise",
  "cACompromise",
  "affiliationChanged",
  "superseded",
  "cessationOfOperation",
  "privilegeWithdrawn",
] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];
// Any other name reached the CRL and the OCSP answers as reason code 0, which RFC 5280 says to
// leave out: it is damage, as a misspelt name in the journal.
const reason = (v: unknown) => (REVOCATION_REASONS as readonly unknown[]).includes(v);
// "root", "intermediate", and after a rollover "intermediate-2", "root-2" …
const issuer = isCaId;

/** The first field that is missing or of the wrong kind, as "field: want". */
function firstBad(v: Record<string, unknown>, fields: Array<[string, (x: unknown) => boolean, string]>): string | undefined {
  for (const [name, ok, want] of fields) if (!ok(v[name])) return `"${name}" is not ${want}`;
  return undefined;
}

export const checkCertRecord: Check = (v) =>
  firstBad(v, [
    ["serial", hex, "a hex serial"],
    ["partnerId", str, "a partner id"],
    ["subject", text, "a string"],
    ["sans", (x) => Array.isArray(x) && x.every((s) => typeof s === "string"), "a list of strings"],
    ["notBefore", time, "a time"],
    ["notAfter", time, "a time"],
    ["issuedAt", time, "a time"],
    ["fingerprint", str, "a fingerprint"],
    ["issuer", issuer, "a CA id"],
    ["certPath", str, "a path"],
    ["status", (x) => x === "valid" || x === "revoked", '"valid" or "revoked"'],
    // Readers tell a server certificate by kind "server" alone: any other value is damage.
    ["kind", (x) => x === undefined || x === "client" || x === "server", '"client" or "server"'],
    // Who the certificate names (core/identity): every identity check reads them.
    ["commonNames", (x) => x === undefined || (Array.isArray(x) && x.every((s) => typeof s === "string")), "a list of strings"],
    // A rotation's successor names its predecessor and the end of their overlap (core/rotate).
    ["supersedes", (x) => x === undefined || hex(x), "a hex serial"],
    ["overlapUntil", (x) => x === undefined || time(x), "a time"],
    ["revokedAt", (x) => x === undefined || time(x), "a time"],
    ["revocationReason", (x) => x === undefined || reason(x), "a revocation reason"],
  ]);

const optional = (ok: (x: unknown) => boolean) => (x: unknown) => x === undefined || ok(x);

const releaseEntry = (e: unknown): boolean =>
  isObject(e) && typeof e.identity === "string" && time(e.releasedAt) && optional((s) => Array.isArray(s) && s.every(hex))(e.serials);

export const checkPartnerRecord: Check = (v) =>
  firstBad(v, [
    ["id", str, "a partner id"],
    ["createdAt", time, "a time"],
    ["updatedAt", time, "a time"],
    ["offboardedAt", optional(time), "a time"],
    ["pgp", optional((x) => isObject(x) && typeof x.keyFile === "string" && typeof x.fingerprint === "string"), "a key record"],
    // What `partner identity release` recorded: each identity checks against every issue.
    ["releasedIdentities", optional((x) => Array.isArray(x) && x.every(releaseEntry)), "a list of released identities"],
  ]);

export const checkRevocation: Check = (v) =>
  firstBad(v, [
    ["serial", hex, "a hex serial"],
    ["issuer", issuer, "a CA id"],
    ["revokedAt", time, "a time"],
    ["reason", reason, "a revocation reason"],
    ["partnerId", str, "a partner id"],
  ]);

const HEX = /^[0-9a-f]{1,40}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** checkRevocation's verdict without building a reason: the fast path over a large journal. */
export const isRevocation = (v: unknown): boolean =>
  isObject(v) &&
  typeof v.serial === "string" &&
  HEX.test(v.serial) &&
  (v.issuer === "intermediate" || v.issuer === "root" || issuer(v.issuer)) &&
  time(v.revokedAt) &&
  reason(v.reason) &&
  typeof v.partnerId === "string" &&
  v.partnerId !== "";

export const checkAuditRecord: Check = (v) =>
  firstBad(v, [
    ["seq", (x) => Number.isSafeInteger(x) && (x as number) > 0, "a positive sequence number"],
    ["time", time, "a time"],
    ["action", str, "an action"],
    ["prev", (x) => typeof x === "string" && /^[0-9a-f]{64}$/.test(x), "a SHA-256"],
    ["actor", text, "a string"],
    ["outcome", text, "a string"],
    // Printed as they are (`mtls audit`): text, when there.
    ["partner", optional(text), "a string"],
    ["serial", optional(text), "a string"],
    ["details", optional((x) => isObject(x) && Object.values(x).every((d) => ["string", "number", "boolean"].includes(typeof d))), "an object of facts"],
  ]) ?? unknownField(v, AUDIT_FIELDS);

// Every record mtls ever wrote has these and no others. No later record carries the newest one's
// hash, so a misspelt field name there is seen by this check or not at all.
const AUDIT_FIELDS = new Set(["seq", "time", "actor", "action", "outcome", "serial", "partner", "details", "prev"]);

function unknownField(v: Record<string, unknown>, known: ReadonlySet<string>): string | undefined {
  for (const k of Object.keys(v)) if (!known.has(k)) return `"${k}" is not a field mtls writes`;
  return undefined;
}

/** Parses one JSON line and checks its shape; the reason it is not a record otherwise. */
export function parseRecord<T>(line: string, check: Check): { record: T } | { bad: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { bad: "not valid JSON" };
  }
  if (!isObject(v)) return { bad: "not a JSON object" };
  const why = check(v);
  return why ? { bad: why } : { record: v as T };
}

/** The error for a damaged store file: exit 5, naming the file and line, pointing at doctor. */
export function corruptError(path: string, line: number | undefined, why: string): MtlsError {
  const where = line === undefined ? path : `${path} line ${line}`;
  return envError("ERR_STORE_CORRUPT", `${where} is damaged: ${why}`, "run `mtls doctor` to see what can be repaired, or restore the file from your backup");
}

export { isObject };

/** Where damaged lines of `path` are moved: `<name>.quarantine-<UTC time>-<6 hex>`, never reused. */
export const quarantineName = (path: string, now: Date): string =>
  `${path}.quarantine-${now.toISOString().replace(/[-:]|\.\d{3}/g, "")}-${randomBytes(3).toString("hex")}`;
