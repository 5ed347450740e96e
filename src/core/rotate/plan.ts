// Rotation with overlap, as pure decisions over index records: which certificate a rotation
// replaces, whether a successor may replace it, when the overlap ends, and which superseded
// certificates are due to be revoked. The successor's index record carries `supersedes` and
// `overlapUntil`, so the index alone says where every rotation stands (no second journal that
// could drift from the certificates).
import { conflictError, inputError, usageError } from "../errors.js";
import { type Identity, identityKey, recordIdentities } from "../identity/registry.js";
import type { CertRecord } from "../store/index-file.js";

const isClient = (r: CertRecord) => (r.kind ?? "client") === "client";
const live = (r: Pick<CertRecord, "status" | "notAfter">, now: Date) => r.status === "valid" && Date.parse(r.notAfter) > now.getTime();

/**
 * Serial of a superseded certificate → the successor that replaces it. A successor that was
 * itself revoked (a compromised new key) no longer supersedes anything: the partner may rotate
 * the old certificate again.
 */
export function successorsOf<R extends RotationFields = CertRecord>(records: readonly R[]): Map<string, R> {
  const out = new Map<string, R>();
  for (const r of records) if (r.supersedes && r.status === "valid") out.set(r.supersedes, r);
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
  const successors = successorsOf(records);
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
  for (const [serial, successor] of successorsOf(records)) {
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
