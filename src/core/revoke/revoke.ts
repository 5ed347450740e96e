import type { AuditEntry } from "../audit/audit.js";
import { type CaKeys, loadCaCerts, loadCaKeys } from "../ca/material.js";
import { copyToPublishDir, type PublishedCrl, publishAudit, revokedInIndex, stagePublication } from "../crl/publish.js";
import { conflictError, inputError } from "../errors.js";
import { parseSerial, validatePartnerId } from "../ids.js";
import type { Pki, Tx } from "../session.js";
import { readIndexOf, readPartnersOf, readRevocationsOf } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { type CertRecord, REVOCATION_REASONS, type RevocationReason, stageIndex } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import { serializePartners } from "../store/partners.js";
import { type Revocation, serializeRevocations } from "../store/revocations.js";
import { iso } from "../time.js";

export function parseReason(text: string): RevocationReason {
  if ((REVOCATION_REASONS as readonly string[]).includes(text)) return text as RevocationReason;
  const hold = text === "certificateHold" ? " (certificateHold is not offered: revocation here is final)" : "";
  throw inputError("ERR_REASON", `unknown revocation reason "${text}"${hold}`, `use one of: ${REVOCATION_REASONS.join(", ")}`);
}

export interface RevokedEntry {
  serial: string;
  partnerId: string;
  subject: string;
  reason: RevocationReason;
  revokedAt: string;
}

export interface RevokeResult {
  revoked: RevokedEntry[];
  /** The CRLs published with the change; empty with publish: false. */
  crls: PublishedCrl[];
  copies: string[];
  warnings: string[];
}

export interface ApplyParams {
  reason: RevocationReason;
  publish: boolean;
  /** Picks the records to revoke from the current index; throws to refuse. */
  select: (index: CertRecord[]) => CertRecord[];
  /** Runs inside the transaction, to stage further changes (the partner registry). */
  alsoStage?: (tx: Tx, config: StoreConfig) => Promise<void>;
  /** Audit records besides one per revoked certificate (partner.offboard). */
  audit?: AuditEntry[];
}

/**
 * Marks records revoked and, unless told not to, publishes fresh CRLs in the same atomic
 * commit, so no revocation is ever recorded without its CRL or the other way round.
 */
export async function applyRevocations(pki: Pki, p: ApplyParams): Promise<RevokeResult> {
  const config = await pki.config();
  // Refuse early, without asking for a passphrase, when the request cannot succeed.
  p.select(await (await readIndexOf(pki.storage)).records);
  const ca = await loadCaCerts(pki.storage, config);
  // Key derivation runs in the thread pool while we take the lock and read the journals.
  const keysPending: Promise<CaKeys> | undefined = p.publish ? loadCaKeys(pki.storage, ca, pki.passphrase) : undefined;
  keysPending?.catch(() => {});
  return pki.transact(
    "cert.revoke",
    async (tx) => {
      const revokedAt = iso(tx.now);
      const [snap, journal] = await Promise.all([readIndexOf(tx), readRevocationsOf(tx)]);
      const targets = new Set(p.select(snap.records).map((r) => r.serial));
      const out: RevokedEntry[] = [];
      const changed: CertRecord[] = [];
      for (const r of snap.records) {
        if (!targets.has(r.serial)) continue;
        out.push({ serial: r.serial, partnerId: r.partnerId, subject: r.subject, reason: p.reason, revokedAt });
        changed.push({ ...r, status: "revoked", revokedAt, revocationReason: p.reason });
      }
      const added: Revocation[] = changed.map((r) => ({ serial: r.serial, issuer: r.issuer, revokedAt, reason: p.reason, partnerId: r.partnerId }));
      // Order (README "Durable order of writes"): CRL files, the partner registry, then the
      // appends: journal (the commit point), audit, index.
      let staged: Awaited<ReturnType<typeof stagePublication>> | undefined;
      if (keysPending) staged = await stagePublication({ config, ca, keys: await keysPending, journal, added, index: snap, now: tx.now }, tx);
      else tx.append("revocations", serializeRevocations(added));
      if (p.alsoStage) await p.alsoStage(tx, config);
      tx.audit(
        ...changed.map((r) => ({ action: "cert.revoke" as const, outcome: "ok", serial: r.serial, partner: r.partnerId, details: { reason: p.reason } })),
        ...(p.audit ?? []),
        ...(staged ? [publishAudit(staged)] : []),
      );
      stageIndex(tx, snap, [...changed, ...revokedInIndex(snap, staged?.recovered ?? [])]);
      const warnings = p.publish ? [] : ["the CRL was not published (--no-publish): gateways keep accepting the certificate until `mtls crl publish`"];
      const result: RevokeResult = { revoked: out, crls: staged?.crls ?? [], copies: [], warnings };
      if (staged) {
        const published = staged;
        tx.afterCommit(async () => {
          const copied = await copyToPublishDir(config, ca, published, pki.durableStep);
          result.copies.push(...copied.copies);
          result.warnings.push(...copied.warnings);
        });
      }
      return result;
    },
    { purpose: "revoke" },
  );
}

export interface RevokeParams {
  serial: string;
  reason: RevocationReason;
  /** Publish fresh CRLs in the same step (default true). */
  publish?: boolean;
}

/** Revokes one certificate by serial. Unknown serial: exit 3; already revoked: exit 4, no change. */
export function revokeCertificate(pki: Pki, p: RevokeParams): Promise<RevokeResult> {
  const serial = parseSerial(p.serial);
  return applyRevocations(pki, {
    reason: p.reason,
    publish: p.publish ?? true,
    select: (index) => {
      const r = index.find((x) => x.serial === serial);
      if (!r) throw inputError("ERR_UNKNOWN_SERIAL", `no certificate with serial ${serial} in this PKI`, "see `mtls list` for serials");
      if (r.status === "revoked")
        throw conflictError("ERR_ALREADY_REVOKED", `certificate ${serial} was already revoked at ${r.revokedAt} (${r.revocationReason})`, "nothing to do");
      return [r];
    },
  });
}

export interface OffboardParams {
  partnerId: string;
  reason: RevocationReason;
  publish?: boolean;
}

/**
 * Offboarding an offboarded partner with nothing left to revoke changes nothing, so it publishes
 * nothing and ends like `revoke` of a revoked serial (exit 4); so does offboarding a registered
 * partner that was never issued a certificate. Checked before the lock and the passphrase: a race
 * with an issue only means the normal path runs.
 */
async function refuseNothingToOffboard(pki: Pki, id: string, now: number): Promise<void> {
  await pki.config();
  const entry = (await readPartnersOf(pki.storage)).partners[id];
  if (!entry) return;
  const mine = (await readIndexOf(pki.storage)).records.filter((r) => r.partnerId === id);
  if (mine.length === 0 && !entry.offboardedAt)
    throw conflictError("ERR_NOTHING_TO_REVOKE", `partner ${id} has no certificate to revoke`, "nothing to do: it was registered but never issued one");
  if (!entry.offboardedAt) return;
  const live = mine.filter((r) => r.status === "valid" && Date.parse(r.notAfter) > now);
  if (live.length === 0)
    throw conflictError(
      "ERR_ALREADY_OFFBOARDED",
      `partner ${id} was already offboarded at ${entry.offboardedAt} and has no valid certificate left`,
      "nothing to do (run `mtls crl publish` if its revocations were recorded with --no-publish)",
    );
}

/** Revokes every unexpired, unrevoked certificate of a partner and publishes once. */
export async function offboardPartner(pki: Pki, p: OffboardParams): Promise<RevokeResult & { partnerId: string }> {
  const id = validatePartnerId(p.partnerId);
  const at = pki.now;
  const now = at.getTime();
  await refuseNothingToOffboard(pki, id, now);
  const result = await applyRevocations(pki, {
    reason: p.reason,
    publish: p.publish ?? true,
    select: (index) => {
      const mine = index.filter((r) => r.partnerId === id);
      if (mine.length === 0) throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${id}" in this PKI`, "see `mtls list` for partners");
      return mine.filter((r) => r.status === "valid" && Date.parse(r.notAfter) > now);
    },
    audit: [{ action: "partner.offboard", outcome: "ok", partner: id, details: { reason: p.reason } }],
    alsoStage: async (tx) => {
      const reg = await readPartnersOf(tx);
      const entry = reg.partners[id] ?? { id, createdAt: iso(tx.now), updatedAt: iso(tx.now) };
      reg.partners[id] = { ...entry, updatedAt: iso(tx.now), offboardedAt: iso(tx.now) };
      tx.put(storeKeys.partners, serializePartners(reg));
    },
  });
  if (result.revoked.length === 0) result.warnings.push(`partner ${id} had no valid certificates; it is marked offboarded`);
  return { partnerId: id, ...result };
}
