// Partner-level health: the unit an operator cares about is the partner, not the certificate.
// A partner that rotated, or was offboarded, is judged by where it stands now, so its old
// certificates (superseded, expired, revoked) never keep `status` red.

import { sortByName } from "../collate.js";
import { type DueRotation, openRotations, overlapEnded, type RotationFields, type StalledRotation, stalledRotations } from "../rotate/plan.js";
import type { CertRecord } from "../store/index-file.js";
import type { PartnerRegistry } from "../store/partners.js";
import { daysUntil } from "../time.js";

/**
 * - ok: a valid certificate that does not expire within the warning window
 * - due: the newest valid certificate expires within the window and nothing succeeds it, or a
 *   rotation stalled: its successor expired or was revoked while the old certificate is valid
 * - locked-out: certificates, but none valid (all expired or revoked), and not offboarded
 * - rotating: a successor exists and the superseded certificate is still valid (the overlap), and
 *   nothing makes the partner due
 * - offboarded: `partner offboard` ran and nothing was issued since
 * - pending: registered, nothing issued yet
 */
export const PARTNER_STATES = ["ok", "due", "locked-out", "rotating", "offboarded", "pending"] as const;
export type PartnerState = (typeof PARTNER_STATES)[number];

export interface PartnerHealth {
  partnerId: string;
  state: PartnerState;
  /** The newest valid certificate (the successor during a rotation); when locked out, the newest one. */
  newestSerial?: string;
  notAfter?: string;
  daysLeft?: number;
  /** Whether that certificate is valid, expired or revoked. */
  newestStatus?: "valid" | "expired" | "revoked";
  /** An open rotation (state rotating, or due when another rotation of the partner stalled). */
  rotation?: { superseded: string; successor: string; overlapUntil: string; overlapEnded: boolean };
  /** State due: the newest valid certificate (newestSerial) expires within the window and nothing succeeds it. */
  expiring?: true;
  /** State due: a rotation whose successor expired or was revoked while the old certificate is valid. */
  stalled?: { superseded: string; supersededNotAfter: string; successor: string; successorStatus: "expired" | "revoked" };
  offboardedAt?: string;
}

/** What partner health is judged by: status reads these from the index summary (#21). */
export type PartnerCertFields = RotationFields & Pick<CertRecord, "kind">;

const live = (r: PartnerCertFields, now: Date) => r.status === "valid" && Date.parse(r.notAfter) > now.getTime();
const newest = (rs: readonly PartnerCertFields[]) => rs.reduce<PartnerCertFields | undefined>((a, r) => (!a || r.notAfter > a.notAfter ? r : a), undefined);

/** One partner's state at `now`, from its client certificates and its registry entry. */
export function assessPartner(p: { partnerId: string; certs: readonly PartnerCertFields[]; offboardedAt?: string; now: Date; warnMs: number }): PartnerHealth {
  const valid = p.certs.filter((r) => live(r, p.now));
  const base = { partnerId: p.partnerId, ...(p.offboardedAt ? { offboardedAt: p.offboardedAt } : {}) };
  const at = (r: PartnerCertFields | undefined) =>
    r
      ? {
          newestSerial: r.serial,
          notAfter: r.notAfter,
          daysLeft: daysUntil(new Date(r.notAfter), p.now),
          newestStatus: r.status === "revoked" ? ("revoked" as const) : live(r, p.now) ? ("valid" as const) : ("expired" as const),
        }
      : {};
  // Issued again after offboarding: judged like any partner from then on.
  const offboardedAt = p.offboardedAt;
  if (offboardedAt && !p.certs.some((r) => r.issuedAt > offboardedAt)) return { ...base, state: "offboarded", ...at(newest(p.certs)) };
  if (p.certs.length === 0) return { ...base, state: "pending" };
  if (valid.length === 0) return { ...base, state: "locked-out", ...at(newest(p.certs)) };
  const open = openRotations(p.certs, p.now);
  const judged = judge(p.certs, valid, open, p.now, p.warnMs);
  const rotation = open[0];
  const state = judged.expiring || judged.stalled ? "due" : rotation ? "rotating" : "ok";
  return {
    ...base,
    state,
    ...at(judged.current),
    ...(rotation
      ? {
          rotation: {
            superseded: rotation.superseded.serial,
            successor: rotation.successor.serial,
            overlapUntil: rotation.successor.overlapUntil ?? rotation.successor.issuedAt,
            overlapEnded: overlapEnded(rotation, p.now),
          },
        }
      : {}),
    ...(judged.expiring ? { expiring: judged.expiring } : {}),
    ...(judged.stalled ? { stalled: judged.stalled } : {}),
  };
}

/**
 * A partner judged by its newest valid certificate (the successor during a rotation, which the
 * superseded one's overlap covers). A certificate issued beside another is not judged on its own:
 * `partner issue` warns then and points to `partner rotate`, which records what replaces what; a
 * partner renewing by issuing again, or a fleet of workload identities, stays ok while its newest
 * certificate is.
 */
function judge(
  certs: readonly PartnerCertFields[],
  valid: readonly PartnerCertFields[],
  open: readonly DueRotation<PartnerCertFields>[],
  now: Date,
  warnMs: number,
) {
  const current = (open[0]?.successor ?? newest(valid)) as PartnerCertFields;
  const expiring = !open.length && Date.parse(current.notAfter) - now.getTime() <= warnMs;
  const st = stalledRotations(certs, now)[0];
  return { current, ...(expiring ? { expiring: true as const } : {}), ...(st ? { stalled: stalledOf(st) } : {}) };
}

function stalledOf(st: StalledRotation<PartnerCertFields>): NonNullable<PartnerHealth["stalled"]> {
  return {
    superseded: st.superseded.serial,
    supersededNotAfter: st.superseded.notAfter,
    successor: st.successor.serial,
    successorStatus: st.reason === "successor-revoked" ? "revoked" : "expired",
  };
}

/** Every partner known to the registry or the index (server certificates are not partners), by id. */
export function assessPartners(p: { records: readonly PartnerCertFields[]; registry: PartnerRegistry; now: Date; warnMs: number }): PartnerHealth[] {
  const certs = new Map<string, PartnerCertFields[]>();
  for (const id of Object.keys(p.registry.partners)) certs.set(id, []);
  for (const r of p.records) {
    if ((r.kind ?? "client") !== "client") continue;
    const list = certs.get(r.partnerId);
    if (list) list.push(r);
    else certs.set(r.partnerId, [r]);
  }
  return sortByName([...certs.entries()], ([id]) => id).map(([partnerId, list]) => {
    const offboardedAt = p.registry.partners[partnerId]?.offboardedAt;
    return assessPartner({ partnerId, certs: list, ...(offboardedAt ? { offboardedAt } : {}), now: p.now, warnMs: p.warnMs });
  });
}

export interface PartnerProblem {
  kind: "partner-due" | "partner-locked-out";
  message: string;
  hint: string;
  serial?: string;
  partnerId: string;
}

/** What makes `status` exit 1: due and locked-out partners. Rotating, ok, offboarded and pending ones do not. */
export function partnerProblems(health: readonly PartnerHealth[]): PartnerProblem[] {
  const out: PartnerProblem[] = [];
  for (const h of health) {
    const serial = h.newestSerial ? { serial: h.newestSerial } : {};
    if (h.state === "due") out.push(...dueProblems(h));
    if (h.state === "locked-out")
      out.push({
        kind: "partner-locked-out",
        message: `${h.partnerId}: no valid certificate (the newest, ${h.newestSerial}, ${h.newestStatus === "revoked" ? "was revoked" : `expired ${h.notAfter}`}): the partner is locked out`,
        hint: `issue a successor (\`mtls partner rotate ${h.partnerId} --csr <new CSR>\`), or \`mtls partner offboard ${h.partnerId}\` if it left`,
        partnerId: h.partnerId,
        ...serial,
      });
  }
  return out;
}

/** A due partner's problems: a stalled rotation, and its newest certificate expiring with nothing to succeed it. */
function dueProblems(h: PartnerHealth): PartnerProblem[] {
  const id = h.partnerId;
  const out: PartnerProblem[] = [];
  const st = h.stalled;
  if (st)
    out.push({
      kind: "partner-due",
      message: `${id}: the rotation of certificate ${st.superseded} did not finish: its successor ${st.successor} ${st.successorStatus === "revoked" ? "was revoked" : "expired"}, and ${st.superseded} (valid until ${st.supersededNotAfter}) is the one that works`,
      hint: `rotate it again${st.successorStatus === "expired" ? " with a validity longer than the overlap" : ""}: \`mtls partner rotate ${id} --csr <new CSR>\` (or --generate); \`mtls notify\` tells the partner`,
      partnerId: id,
      serial: st.superseded,
    });
  if (h.expiring && !(st && h.newestSerial === st.superseded))
    out.push({
      kind: "partner-due",
      message: `${id}: certificate ${h.newestSerial} expires in ${h.daysLeft} days (${h.notAfter}) and nothing succeeds it`,
      hint: `rotate it: \`mtls partner rotate ${id} --csr <new CSR>\` (or --generate); \`mtls notify\` reminds the partner`,
      partnerId: id,
      ...(h.newestSerial ? { serial: h.newestSerial } : {}),
    });
  return out;
}
