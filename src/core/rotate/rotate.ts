// `partner rotate`: a successor certificate with the same identities, the old one valid until the
// overlap ends; and finishing rotations (revoke what the overlap no longer covers, one CRL).
// The decisions live in plan.ts; this file reads the store and hands them to the issuing and
// revoking transactions.
import { DEFAULT_OVERLAP_DAYS } from "../ca/policy.js";
import { conflictError, envError, inputError, usageError } from "../errors.js";
import { requestIdentities } from "../identity/registry.js";
import { validatePartnerId } from "../ids.js";
import { type IssueParams, type IssueResult, issuePartnerCert } from "../issue/issue.js";
import { pemOrDer } from "../pem.js";
import { type CertInfo, parseCertificate } from "../pki.js";
import { applyRevocations, type RevokeResult } from "../revoke/revoke.js";
import type { Pki } from "../session.js";
import { storeKeys } from "../store/keys.js";
import { readIndexFrom, readPartnersFrom } from "../store/read.js";
import { DAY, iso } from "../time.js";
import {
  checkSuccessor,
  checkSuccessorOutlivesOverlap,
  choosePredecessor,
  type DueRotation,
  dueRotations,
  openRotations,
  overlapEnd,
  overlapEnded,
  stalledRotations,
} from "./plan.js";

/** What `partner issue` takes for delivery (Option B bundle, output files), minus names and identities. */
type Delivery = Pick<
  IssueParams,
  "outCert" | "outChain" | "outKey" | "force" | "bundleOut" | "bundleDir" | "bundleArmor" | "gatewayUrl" | "days" | "csr" | "csrSource" | "generateKeyType"
>;

export interface RotateParams extends Delivery {
  partnerId: string;
  /** The certificate to succeed; required when the partner has several valid ones. */
  serial?: string;
  /** Accept a CSR with the old certificate's public key (with a warning). */
  reuseKey?: boolean;
  /** How long the old certificate stays valid (default: the policy's overlap). */
  overlapMs?: number;
}

export interface RotateResult {
  partnerId: string;
  oldSerial: string;
  newSerial: string;
  /** Until then both certificates are valid; then `partner rotate --finish` revokes the old one. */
  overlapUntil: string;
  oldNotAfter: string;
  newNotAfter: string;
  bundlePath?: string;
  issued: IssueResult;
  warnings: string[];
}

async function readArchived(pki: Pki, serial: string): Promise<CertInfo> {
  const bytes = await pki.storage.get(storeKeys.certFile(serial));
  if (!bytes) throw envError("ERR_STORE_CORRUPT", `certificate ${serial} is in the index but not in the store`, "run `mtls doctor`");
  return parseCertificate(pemOrDer(bytes, ["CERTIFICATE"], `certificate ${serial}`), `certificate ${serial}`);
}

/** Issues the successor of a partner's certificate (Option A: its new CSR; B: a generated key in a bundle). */
export async function rotatePartner(pki: Pki, p: RotateParams): Promise<RotateResult> {
  const id = validatePartnerId(p.partnerId);
  const config = await pki.config();
  const now = pki.now;
  const [records, registry] = await Promise.all([readIndexFrom(pki.storage, pki.storage).then((s) => s.records), readPartnersFrom(pki.storage, pki.storage)]);
  const offboarded = registry.partners[id]?.offboardedAt;
  // Issued again after offboarding, a partner is back: its new certificates rotate like any.
  if (offboarded && !records.some((r) => r.partnerId === id && r.issuedAt > offboarded))
    throw conflictError(
      "ERR_OFFBOARDED",
      `partner ${id} was offboarded at ${offboarded}; there is nothing to rotate`,
      `onboard it again with \`mtls partner issue ${id}\``,
    );
  // Refused early (no passphrase asked); the issuing transaction checks again under the lock.
  const old = choosePredecessor(records, id, now, p.serial);
  const oldCert = await readArchived(pki, old.serial);
  const overlapMs = p.overlapMs ?? (config.policy.overlapDays ?? DEFAULT_OVERLAP_DAYS) * DAY;
  const end = overlapEnd(now, overlapMs, old);
  const until = iso(end);
  // The validity prepareRequest will give it, checked before a passphrase is asked for.
  checkSuccessorOutlivesOverlap({ partnerId: id, notAfter: new Date(now.getTime() + (p.days ?? config.policy.defaultDays) * DAY), overlapUntil: end, now });
  if (p.csr && p.generateKeyType) throw usageError("ERR_USAGE", "--csr and --generate exclude each other", "pass one of them");
  const issued = await issuePartnerCert(pki, {
    ...p,
    partnerId: id,
    // The names come from the certificate being replaced; a CSR only brings the key (and a subject naming the same CN).
    sans: oldCert.sans,
    ...(p.generateKeyType ? { subject: { der: oldCert.subjectDer } } : {}),
    successor: {
      stamp(prepared, current) {
        const again = choosePredecessor(current, id, now, old.serial);
        const warnings = checkSuccessor({
          predecessor: again,
          predecessorSpki: oldCert.spki,
          identities: requestIdentities(prepared),
          spki: prepared.spki,
          reuseKey: Boolean(p.reuseKey),
        });
        return {
          fields: { supersedes: old.serial, overlapUntil: until },
          audit: { action: "cert.rotate", outcome: "ok", partner: id, details: { supersedes: old.serial, overlapUntil: until, source: prepared.source } },
          warnings,
        };
      },
    },
  });
  return {
    partnerId: id,
    oldSerial: old.serial,
    newSerial: issued.serial,
    overlapUntil: until,
    oldNotAfter: old.notAfter,
    newNotAfter: issued.notAfter,
    ...(issued.bundle ? { bundlePath: issued.bundle.path } : {}),
    issued,
    warnings: issued.warnings,
  };
}

export interface FinishParams {
  /** Only this partner's rotations. */
  partnerId?: string;
  /** End every overlap now instead of waiting for its end. */
  early?: boolean;
}

export type PendingReason = "in-overlap" | "successor-expired" | "successor-revoked";

export interface FinishResult {
  finished: Array<{ partnerId: string; serial: string; successor: string; overlapUntil: string; early: boolean }>;
  /**
   * Rotations not finished (not touched): still in their overlap, or stalled because the
   * successor expired or was revoked, which leaves the superseded certificate the partner's
   * working one until it is rotated again.
   */
  pending: Array<{ partnerId: string; serial: string; successor: string; overlapUntil: string; reason: PendingReason }>;
  crls: RevokeResult["crls"];
  copies: string[];
  warnings: string[];
}

/**
 * Revokes (reason superseded) every superseded certificate whose overlap has ended, and publishes
 * the CRLs once. Idempotent: with nothing due it changes nothing, publishes nothing and asks for
 * no passphrase, so it is safe in cron or CI.
 */
export async function finishRotations(pki: Pki, p: FinishParams): Promise<FinishResult> {
  const id = p.partnerId === undefined ? undefined : validatePartnerId(p.partnerId);
  const now = pki.now;
  // A missing index reads as an empty one: without the config, no PKI would pass for "nothing due".
  await pki.config();
  const { records } = await readIndexFrom(pki.storage, pki.storage);
  if (id !== undefined && !records.some((r) => r.partnerId === id))
    throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${id}" with certificates in this PKI`, "see `mtls partner list`");
  const scope = id === undefined ? {} : { partnerId: id };
  const pending = [
    ...(p.early
      ? []
      : openRotations(records, now, id)
          .filter((d) => !overlapEnded(d, now))
          .map((d) => ({ ...view(d), reason: "in-overlap" as const }))),
    ...stalledRotations(records, now, id).map((d) => ({ ...view(d), reason: d.reason })),
  ];
  const due = dueRotations(records, now, { ...scope, early: Boolean(p.early) });
  if (due.length === 0) return { finished: [], pending, crls: [], copies: [], warnings: [] };
  const finished: FinishResult["finished"] = [];
  const result = await applyRevocations(pki, {
    reason: "superseded",
    publish: true,
    select: (index) => {
      const picked = dueRotations(index, now, { ...scope, early: Boolean(p.early) });
      finished.splice(0, finished.length, ...picked.map((d) => ({ ...view(d), early: Date.parse(d.successor.overlapUntil ?? "") > now.getTime() })));
      return picked.map((d) => d.superseded);
    },
    audit: [{ action: "rotation.finish", outcome: "ok", ...(id ? { partner: id } : {}), details: { revoked: due.length, early: Boolean(p.early) } }],
  });
  return { finished, pending, crls: result.crls, copies: result.copies, warnings: result.warnings };
}

const view = (d: DueRotation) => ({
  partnerId: d.superseded.partnerId,
  serial: d.superseded.serial,
  successor: d.successor.serial,
  overlapUntil: d.successor.overlapUntil ?? d.successor.issuedAt,
});
