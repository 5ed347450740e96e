import type { AuditEntry } from "../audit/audit.js";
import { checkRecipientKey, type PgpKeyInfo } from "../bundle/pgp.js";
import { compareNames } from "../collate.js";
import { inputError } from "../errors.js";
import { assessPartners, type PartnerHealth, type PartnerState } from "../health/partners.js";
import { IdentityOwners, type IdentityType } from "../identity/registry.js";
import { validatePartnerId } from "../ids.js";
import { type ListedCert, statusOf } from "../inventory/list.js";
import type { Pki, Tx } from "../session.js";
import { readIndexOf, readPartnersOf } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import { type PartnerRecord, type PartnerRegistry, serializePartners } from "../store/partners.js";
import { DAY, daysUntil, iso } from "../time.js";

export interface AddPartnerParams {
  partnerId: string;
  /** The partner's OpenPGP public key (armored or binary). */
  pgpKey?: Uint8Array;
  /** Names the key in messages ("acme.asc"). */
  pgpSource?: string;
  name?: string;
  contact?: string;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** A registration checked and ready to stage: nothing is written yet. */
export interface PartnerRegistration {
  id: string;
  name?: string;
  contact?: string;
  key?: { armored: string; info: PgpKeyInfo };
}

/** Validates a registration (exit 3 on a bad id, contact, name or OpenPGP key). */
export async function preparePartnerRegistration(p: AddPartnerParams & { now: Date }): Promise<PartnerRegistration> {
  const id = validatePartnerId(p.partnerId);
  if (p.contact !== undefined && !EMAIL.test(p.contact)) throw inputError("ERR_CONTACT", `invalid --contact "${p.contact}": expected an e-mail address`);
  if (p.name !== undefined && (p.name.trim() === "" || p.name.length > 200)) throw inputError("ERR_NAME", "invalid --name: 1 to 200 characters");
  const key = p.pgpKey ? await checkRecipientKey(p.pgpKey, p.pgpSource ?? "the OpenPGP key", p.now) : undefined;
  return { id, ...(p.name !== undefined ? { name: p.name } : {}), ...(p.contact !== undefined ? { contact: p.contact } : {}), ...(key ? { key } : {}) };
}

/**
 * Stages a registration into `tx` (the caller holds the lock and writes `reg` itself): the
 * partner's key file, and its record in `reg`. Returns the record and its audit entry.
 */
export async function stagePartnerRegistration(
  tx: Tx,
  reg: PartnerRegistry,
  r: PartnerRegistration,
  now: Date,
): Promise<{ partner: PartnerRecord; created: boolean; audit: AuditEntry }> {
  const existing = reg.partners[r.id];
  const at = iso(now);
  const partner: PartnerRecord = {
    ...(existing ?? { id: r.id, createdAt: at }),
    updatedAt: at,
    ...(r.name !== undefined ? { name: r.name } : {}),
    ...(r.contact !== undefined ? { contact: r.contact } : {}),
    ...(r.key ? { pgp: { ...r.key.info, keyFile: storeKeys.partnerKey(r.id) } } : {}),
  };
  reg.partners[r.id] = partner;
  if (r.key) tx.put(storeKeys.partnerKey(r.id), r.key.armored);
  const audit: AuditEntry = {
    action: "partner.add",
    outcome: existing ? "updated" : "created",
    partner: r.id,
    ...(r.key ? { details: { pgpFingerprint: r.key.info.fingerprint } } : {}),
  };
  return { partner, created: !existing, audit };
}

/** Registers a partner, or updates its name, contact and OpenPGP key. */
export async function addPartner(pki: Pki, p: AddPartnerParams): Promise<{ partner: PartnerRecord; created: boolean }> {
  const r = await preparePartnerRegistration({ ...p, now: pki.now });
  await pki.config();
  return pki.transact(
    "partner.add",
    async (tx) => {
      const reg = await readPartnersOf(tx);
      const { partner, created, audit } = await stagePartnerRegistration(tx, reg, r, tx.now);
      tx.put(storeKeys.partners, serializePartners(reg));
      tx.audit(audit);
      return { partner, created };
    },
    { purpose: "partner add" },
  );
}

export interface PartnerSummary extends PartnerRecord {
  certificates: { total: number; valid: number; expiring: number; expired: number; revoked: number };
  nextExpiry?: string;
  /** Partner-level health (see core/health/partners.ts): ok, due, locked-out, rotating, offboarded, pending. */
  state?: PartnerState;
  /** The newest valid certificate (the successor while rotating), and its days left. */
  newestSerial?: string;
  daysLeft?: number;
  rotation?: PartnerHealth["rotation"];
}

/** Every partner (registered, or known from issued certificates) with certificate counts. */
export async function listPartners(pki: Pki): Promise<{ partners: PartnerSummary[] }> {
  const now = pki.now;
  const config = await pki.config();
  const [reg, { records: index }] = await Promise.all([readPartnersOf(pki.storage), readIndexOf(pki.storage)]);
  const byId = new Map<string, PartnerSummary>();
  for (const r of Object.values(reg.partners)) byId.set(r.id, { ...r, certificates: { total: 0, valid: 0, expiring: 0, expired: 0, revoked: 0 } });
  const window = config.policy.warnDays * DAY;
  for (const r of index) {
    if (r.kind === "server") continue;
    let s = byId.get(r.partnerId);
    if (!s) {
      s = { id: r.partnerId, createdAt: r.issuedAt, updatedAt: r.issuedAt, certificates: { total: 0, valid: 0, expiring: 0, expired: 0, revoked: 0 } };
      byId.set(r.partnerId, s);
    }
    const status = statusOf(r, now, window);
    s.certificates.total++;
    s.certificates[status]++;
    if ((status === "valid" || status === "expiring") && (!s.nextExpiry || r.notAfter < s.nextExpiry)) s.nextExpiry = r.notAfter;
  }
  for (const h of assessPartners({ records: index, registry: reg, now, warnMs: window })) {
    const s = byId.get(h.partnerId);
    if (!s) continue;
    s.state = h.state;
    if (h.newestSerial) s.newestSerial = h.newestSerial;
    if (h.daysLeft !== undefined) s.daysLeft = h.daysLeft;
    if (h.rotation) s.rotation = h.rotation;
  }
  return { partners: [...byId.values()].sort((a, b) => compareNames(a.id, b.id)) };
}

/** An identity a partner owns: "in-use" on a valid certificate, "reserved" when only revoked or expired ones carry it. */
export interface OwnedIdentity {
  type: IdentityType;
  value: string;
  status: "in-use" | "reserved";
}

/** One partner: registry entry, the identities it owns and every certificate. */
export async function showPartner(
  pki: Pki,
  p: { partnerId: string },
): Promise<{ partner: PartnerRecord; identities: OwnedIdentity[]; certificates: ListedCert[] }> {
  const id = validatePartnerId(p.partnerId);
  const now = pki.now;
  const config = await pki.config();
  const [reg, { records: index }] = await Promise.all([readPartnersOf(pki.storage), readIndexOf(pki.storage)]);
  const certs = index.filter((r) => r.partnerId === id);
  const partner = reg.partners[id];
  if (!partner && certs.length === 0) throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${id}" in this PKI`, "see `mtls partner list`");
  const window = config.policy.warnDays * DAY;
  return {
    partner: partner ?? { id, createdAt: certs[0]?.issuedAt ?? iso(now), updatedAt: certs[0]?.issuedAt ?? iso(now) },
    identities: IdentityOwners.build(certs, reg, now)
      .identitiesOf(id)
      .map((c) => ({ type: c.type, value: c.value, status: c.active ? ("in-use" as const) : ("reserved" as const) })),
    certificates: certs.map((r) => ({ ...r, status: statusOf(r, now, window), daysLeft: daysUntil(new Date(r.notAfter), now) })),
  };
}
