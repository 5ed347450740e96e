// Rotation with overlap, as pure decisions over index records: which certificate a rotation
// replaces, whether a successor may replace it, when the overlap ends, and which superseded
// certificates are due to be revoked. The successor's index record carries `supersedes` and
// `overlapUntil`, so the index alone says where every rotation stands (no second journal that
// could drift from the certificates).
import { conflictError, inputError, usageError } from "../errors.js";
import { type Identity, identityKey, recordIdentities } from "../identity/registry.js";
import type { CertRecord } from "../store/index-file.js";
import { DAY, iso } from "../time.js";

const isClient = (r: CertRecord) => (r.kind ?? "client") === "client";
const live = (r: Pick<CertRecord, "status" | "notAfter">, now: Date) => r.status === "valid" && Date.parse(r.notAfter) > now.getTime();

/**
 * Serial of a superseded certificate → the successor that replaces it at `now`. A successor that
 * was itself revoked (a compromised new key), or that expired, replaces nothing: the old
 * certificate is the partner's working one again, which the partner may rotate again and which
 * no `--finish` revokes.
 */
export function successorsOf<R extends RotationFields = CertRecord>(records: readonly R[], now: Date): Map<string, R> {
  const out = new Map<string, R>();
  for (const r of records) if (r.supersedes && live(r, now)) out.set(r.supersedes, r);
  return out;
}

/** A rotation that can no longer finish: the superseded certificate is live, its successor is not. */
export interface StalledRotation<R extends RotationFields = CertRecord> extends DueRotation<R> {
  reason: "successor-expired" | "successor-revoked";
}

/**
 * Rotations whose successor expired or was revoked while the superseded certificate is still
 * valid and nothing else replaces it (the latest successor of each, when there were several).
 */
export function stalledRotations<R extends RotationFields = CertRecord>(records: readonly R[], now: Date, partnerId?: string): StalledRotation<R>[] {
  if (!records.some((r) => r.supersedes)) return [];
  const replaced = successorsOf(records, now);
  const latest = new Map<string, R>();
  for (const r of records) {
    if (!r.supersedes || replaced.has(r.supersedes)) continue;
    const seen = latest.get(r.supersedes);
    if (!seen || r.issuedAt >= seen.issuedAt) latest.set(r.supersedes, r);
  }
  const bySerial = new Map(records.map((r) => [r.serial, r]));
  const out: StalledRotation<R>[] = [];
  for (const [serial, successor] of latest) {
    const old = bySerial.get(serial);
    if (!old || !live(old, now) || (partnerId !== undefined && old.partnerId !== partnerId)) continue;
    out.push({ superseded: old, successor, reason: successor.status === "revoked" ? "successor-revoked" : "successor-expired" });
  }
  return out;
}

/**
 * The certificate a rotation of `partnerId` replaces: `serial` when given, otherwise the one
 * unrevoked certificate that no successor replaces yet (valid ones first; a locked-out partner's
 * newest expired one). Several candidates need `serial` (exit 2, naming them).
 */
export function choosePredecessor(records: readonly CertRecord[], partnerId: string, now: Date, serial?: string): CertRecord {
  const mine = records.filter((r) => r.partnerId === partnerId && isClient(r));
  if (mine.length === 0)
    throw inputError(
      "ERR_UNKNOWN_PARTNER",
      `partner ${partnerId} has no certificate to rotate`,
      `issue its first one with \`mtls partner issue ${partnerId}\``,
    );
  const successors = successorsOf(records, now);
  if (serial !== undefined) {
    const r = mine.find((x) => x.serial === serial);
    if (!r) throw inputError("ERR_UNKNOWN_SERIAL", `partner ${partnerId} has no certificate with serial ${serial}`, `see \`mtls partner show ${partnerId}\``);
    if (r.status === "revoked")
      throw conflictError(
        "ERR_ALREADY_REVOKED",
        `certificate ${serial} was revoked at ${r.revokedAt}; there is nothing to rotate`,
        `issue a new one with \`mtls partner issue ${partnerId}\``,
      );
    const next = successors.get(r.serial);
    if (next) throw alreadyRotated(r, next);
    return r;
  }
  const open = mine.filter((r) => r.status === "valid" && !successors.has(r.serial));
  const valid = open.filter((r) => live(r, now));
  if (valid.length === 1) return valid[0] as CertRecord;
  if (valid.length > 1)
    throw usageError(
      "ERR_SERIAL_REQUIRED",
      `partner ${partnerId} has ${valid.length} valid certificates (${valid.map((r) => r.serial).join(", ")}); say which one to rotate`,
      "pass --serial <serial>",
    );
  const newest = open.sort((a, b) => b.notAfter.localeCompare(a.notAfter))[0];
  if (newest) return newest;
  const pending = mine.find((r) => successors.has(r.serial) && live(r, now));
  if (pending) throw alreadyRotated(pending, successors.get(pending.serial) as CertRecord);
  throw conflictError(
    "ERR_NOTHING_TO_ROTATE",
    `partner ${partnerId} has no unrevoked certificate to rotate`,
    `issue a new one with \`mtls partner issue ${partnerId}\``,
  );
}

function alreadyRotated(r: CertRecord, next: CertRecord) {
  return conflictError(
    "ERR_ALREADY_ROTATED",
    `certificate ${r.serial} is already superseded by ${next.serial} (overlap until ${next.overlapUntil})`,
    `finish that rotation with \`mtls partner rotate --finish ${r.partnerId}\`, or revoke ${next.serial} to start over`,
  );
}

/**
 * A warning when `partnerId` already holds valid client certificates that nothing supersedes: a
 * plain issue adds a certificate beside them rather than replacing one, so each stays valid until
 * it expires, unwatched (a partner is judged by its newest), and no `--finish` ever revokes it.
 */
export function parallelIssueWarnings(records: readonly CertRecord[], partnerId: string, now: Date): string[] {
  const replaced = successorsOf(records, now);
  const held = records.filter((r) => r.partnerId === partnerId && isClient(r) && live(r, now) && !replaced.has(r.serial));
  if (held.length === 0) return [];
  const list = held.map((r) => `${r.serial} (until ${r.notAfter})`).join(", ");
  return [
    `partner ${partnerId} already holds ${held.length === 1 ? "a valid certificate" : `${held.length} valid certificates`}, ${list}: the new one does not replace ${held.length === 1 ? "it" : "them"}, and each stays valid until it expires; to replace a certificate, use \`mtls partner rotate ${partnerId}\` (it records the successor, and \`--finish\` revokes the old one after the overlap)`,
  ];
}

const keyed = (ids: readonly Identity[]) => new Set(ids.map((i) => `${i.type}:${identityKey(i.value)}`));

/**
 * A successor carries exactly the identities of the certificate it replaces: an allow-list entry
 * keeps admitting the partner, and a rotation can neither add a name (that is `partner issue`,
 * with its ownership check) nor drop one. Returns warnings; throws exit 3 otherwise.
 */
export function checkSuccessor(p: {
  predecessor: CertRecord;
  predecessorSpki: Uint8Array;
  identities: readonly Identity[];
  spki: Uint8Array;
  reuseKey: boolean;
}): string[] {
  const before = keyed(recordIdentities(p.predecessor));
  const after = keyed(p.identities);
  const missing = [...before].filter((k) => !after.has(k));
  const extra = [...after].filter((k) => !before.has(k));
  if (missing.length || extra.length)
    throw inputError(
      "ERR_ROTATE_IDENTITY",
      `a successor carries the identities of certificate ${p.predecessor.serial}: ${[missing.length ? `missing ${missing.join(", ")}` : "", extra.length ? `extra ${extra.join(", ")}` : ""].filter(Boolean).join("; ")}`,
      `ask for a CSR with subject CN=${p.predecessor.commonNames?.[0] ?? p.predecessor.partnerId}; to change names, issue with \`mtls partner issue\``,
    );
  if (!Buffer.from(p.spki).equals(Buffer.from(p.predecessorSpki))) return [];
  if (!p.reuseKey)
    throw inputError(
      "ERR_KEY_REUSED",
      `the CSR reuses the public key of certificate ${p.predecessor.serial}`,
      "ask the partner for a CSR made with a new key (openssl req -newkey), or pass --reuse-key to accept the old one",
    );
  return [`the successor reuses the key of certificate ${p.predecessor.serial} (--reuse-key): if that key leaked, the new certificate is exposed too`];
}

/** When the overlap ends: `overlapMs` from now, but never after the old certificate expires. */
export function overlapEnd(now: Date, overlapMs: number, predecessor: CertRecord): Date {
  return new Date(Math.max(now.getTime(), Math.min(now.getTime() + overlapMs, Date.parse(predecessor.notAfter))));
}

/**
 * A successor must outlive the overlap: one that expires first leaves the partner, once `--finish`
 * revokes the old certificate, with nothing valid. Refused rather than the overlap shortened to
 * fit: a shorter overlap only brings that lockout sooner, and a longer validity is what was meant.
 */
export function checkSuccessorOutlivesOverlap(p: { partnerId: string; notAfter: Date; overlapUntil: Date; now: Date }): void {
  if (p.notAfter.getTime() > p.overlapUntil.getTime()) return;
  const needDays = Math.floor((p.overlapUntil.getTime() - p.now.getTime()) / DAY) + 1;
  throw inputError(
    "ERR_ROTATE_SHORT_SUCCESSOR",
    `the successor would expire at ${iso(p.notAfter)}, before the overlap ends at ${iso(p.overlapUntil)}: partner ${p.partnerId} would be left with no valid certificate`,
    `issue it for longer (--days ${needDays} or more), or shorten the overlap (--overlap)`,
  );
}

/** What a rotation is judged by: status's index summary rows have these (#21). */
export type RotationFields = Pick<CertRecord, "serial" | "partnerId" | "status" | "notAfter" | "issuedAt" | "supersedes" | "overlapUntil">;

export interface DueRotation<R extends RotationFields = CertRecord> {
  /** The superseded certificate, to be revoked with reason superseded. */
  superseded: R;
  successor: R;
}

/** Rotations still open at `now`: the superseded certificate is unrevoked and unexpired. */
export function openRotations<R extends RotationFields = CertRecord>(records: readonly R[], now: Date, partnerId?: string): DueRotation<R>[] {
  // Most partners never rotated: status asks this of each of 100,000 partners (#21).
  if (!records.some((r) => r.supersedes)) return [];
  const bySerial = new Map(records.map((r) => [r.serial, r]));
  const out: DueRotation<R>[] = [];
  for (const [serial, successor] of successorsOf(records, now)) {
    const old = bySerial.get(serial);
    if (!old || !live(old, now)) continue;
    if (partnerId === undefined || old.partnerId === partnerId) out.push({ superseded: old, successor });
  }
  return out;
}

/** Whether an open rotation's overlap has ended at `now`. */
export const overlapEnded = (d: DueRotation<RotationFields>, now: Date): boolean =>
  Date.parse(d.successor.overlapUntil ?? d.successor.issuedAt) <= now.getTime();

/**
 * Superseded certificates to revoke now: open rotations whose overlap has ended (or every one,
 * with `early`). An expired superseded certificate is left as it is: nothing accepts it any more,
 * and revoking it would only lengthen the CRL.
 */
export function dueRotations(records: readonly CertRecord[], now: Date, opts: { partnerId?: string; early?: boolean } = {}): DueRotation[] {
  return openRotations(records, now, opts.partnerId).filter((d) => opts.early || overlapEnded(d, now));
}
