// `partner rotate`: a successor certificate with the same identities, the old one valid until the
// overlap ends; and finishing rotations (revoke what the overlap no longer covers, one CRL).
// The decisions live in plan.ts; this file reads the store and hands them to the issuing and
// revoking transactions.
import { readFile } from "node:fs/promises";
import type { PassphraseSource } from "../ca/material.js";
import { DEFAULT_OVERLAP_DAYS } from "../ca/policy.js";
import { conflictError, fsError, inputError } from "../errors.js";
import { requestIdentities } from "../identity/registry.js";
import { validatePartnerId } from "../ids.js";
import { type IssueParams, type IssueResult, issuePartnerCert } from "../issue/issue.js";
import { pemOrDer } from "../pem.js";
import { type CertInfo, parseCertificate } from "../pki.js";
import { applyRevocations, type RevokeResult } from "../revoke/revoke.js";
import { readIndex } from "../store/index-file.js";
import { readPartners } from "../store/partners.js";
import { openStore } from "../store/store.js";
import { DAY, iso } from "../time.js";
import { checkSuccessor, choosePredecessor, type DueRotation, dueRotations, openRotations, overlapEnd, overlapEnded } from "./plan.js";

/** What `partner issue` takes for delivery (Option B bundle, output files), minus names and identities. */
type Delivery = Pick<
  IssueParams,
  | "outCert"
  | "outChain"
  | "outKey"
  | "force"
  | "bundleOut"
  | "bundleDir"
  | "bundleArmor"
  | "gatewayUrl"
  | "days"
  | "csr"
  | "csrSource"
  | "generateKeyType"
  | "lockTimeoutMs"
>;

export interface RotateParams extends Delivery {
  pkiDir: string;
  partnerId: string;
  /** The certificate to succeed; required when the partner has several valid ones. */
  serial?: string;
  /** Accept a CSR with the old certificate's public key (with a warning). */
  reuseKey?: boolean;
  /** How long the old certificate stays valid (default: the policy's overlap). */
  overlapMs?: number;
  passphrase?: PassphraseSource;
  now: Date;
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

async function readArchived(certPath: string, serial: string): Promise<CertInfo> {
  const bytes = await readFile(certPath).catch((err) => Promise.reject(fsError(err, certPath, "read")));
  return parseCertificate(pemOrDer(bytes, ["CERTIFICATE"], `certificate ${serial}`), `certificate ${serial}`);
}

/** Issues the successor of a partner's certificate (Option A: its new CSR; B: a generated key in a bundle). */
export async function rotatePartner(p: RotateParams): Promise<RotateResult> {
  const id = validatePartnerId(p.partnerId);
  const { layout, config } = await openStore(p.pkiDir);
  const [records, registry] = await Promise.all([readIndex(layout.index), readPartners(layout.partners)]);
  const offboarded = registry.partners[id]?.offboardedAt;
  if (offboarded)
    throw conflictError(
      "ERR_OFFBOARDED",
      `partner ${id} was offboarded at ${offboarded}; there is nothing to rotate`,
      `onboard it again with \`mtls partner issue ${id}\``,
    );
  // Refused early (no passphrase asked); the issuing transaction checks again under the lock.
  const old = choosePredecessor(records, id, p.now, p.serial);
  const oldCert = await readArchived(layout.certFile(old.serial), old.serial);
  const overlapMs = p.overlapMs ?? (config.policy.overlapDays ?? DEFAULT_OVERLAP_DAYS) * DAY;
  const until = iso(overlapEnd(p.now, overlapMs, old));
  if (p.csr && p.generateKeyType) throw inputError("ERR_USAGE", "--csr and --generate exclude each other", "pass one of them");
  const issued = await issuePartnerCert({
    ...p,
    partnerId: id,
    // The names come from the certificate being replaced; a CSR only brings the key (and a subject naming the same CN).
    sans: oldCert.sans,
    ...(p.generateKeyType ? { subject: { der: oldCert.subjectDer } } : {}),
    successor: {
      stamp(prepared, current) {
        const again = choosePredecessor(current, id, p.now, old.serial);
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
  pkiDir: string;
  /** Only this partner's rotations. */
  partnerId?: string;
  /** End every overlap now instead of waiting for its end. */
  early?: boolean;
  passphrase?: PassphraseSource;
  now: Date;
  lockTimeoutMs?: number;
}

export interface FinishResult {
  finished: Array<{ partnerId: string; serial: string; successor: string; overlapUntil: string; early: boolean }>;
  /** Rotations still in their overlap (not touched). */
  pending: Array<{ partnerId: string; serial: string; successor: string; overlapUntil: string }>;
  crls: RevokeResult["crls"];
  copies: string[];
  warnings: string[];
}

/**
 * Revokes (reason superseded) every superseded certificate whose overlap has ended, and publishes
 * the CRLs once. Idempotent: with nothing due it changes nothing, publishes nothing and asks for
 * no passphrase, so it is safe in cron or CI.
 */
export async function finishRotations(p: FinishParams): Promise<FinishResult> {
  const id = p.partnerId === undefined ? undefined : validatePartnerId(p.partnerId);
  const { layout } = await openStore(p.pkiDir);
  const records = await readIndex(layout.index);
  if (id !== undefined && !records.some((r) => r.partnerId === id))
    throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${id}" with certificates in this PKI`, "see `mtls partner list`");
  const scope = id === undefined ? {} : { partnerId: id };
  const pending = p.early
    ? []
    : openRotations(records, p.now, id)
        .filter((d) => !overlapEnded(d, p.now))
        .map(view);
  const due = dueRotations(records, p.now, { ...scope, early: Boolean(p.early) });
  if (due.length === 0) return { finished: [], pending, crls: [], copies: [], warnings: [] };
  const finished: FinishResult["finished"] = [];
  const result = await applyRevocations({
    pkiDir: p.pkiDir,
    reason: "superseded",
    now: p.now,
    publish: true,
    ...(p.passphrase ? { passphrase: p.passphrase } : {}),
    ...(p.lockTimeoutMs ? { lockTimeoutMs: p.lockTimeoutMs } : {}),
    select: (index) => {
      const now = dueRotations(index, p.now, { ...scope, early: Boolean(p.early) });
      finished.splice(0, finished.length, ...now.map((d) => ({ ...view(d), early: Date.parse(d.successor.overlapUntil ?? "") > p.now.getTime() })));
      return now.map((d) => d.superseded);
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
