import type { AuditEntry } from "../audit/audit.js";
import { checkRecipientKey, type PgpKeyInfo } from "../bundle/pgp.js";
import { sortByName } from "../collate.js";
import { inputError } from "../errors.js";
import { assessPartners, type PartnerCertFields, type PartnerHealth, type PartnerState } from "../health/partners.js";
import { IdentityOwners, type IdentityType } from "../identity/registry.js";
import { validatePartnerId } from "../ids.js";
import { CERT_STATUSES, type CertStatus, type ListedCert, statusIndex, statusOf, streamCertificates } from "../inventory/list.js";
import type { Pki, Tx } from "../session.js";
import { readIndexOf, readPartnersOf } from "../store/blobs.js";
import type { CertRecord } from "../store/index-file.js";
import { openIndexRows } from "../store/index-rows.js";
import { type IndexRow, type IndexView, oddTimes, REVOKED, SERVER } from "../store/index-summary.js";
import { storeKeys } from "../store/keys.js";
import { type PartnerRecord, type PartnerRegistry, serializePartners } from "../store/partners.js";
import { DAY, iso } from "../time.js";
import { checkPartnerContact, checkPartnerName } from "./fields.js";

export interface AddPartnerParams {
  partnerId: string;
  /** The partner's OpenPGP public key (armored or binary). */
  pgpKey?: Uint8Array;
  /** Names the key in messages ("acme.asc"). */
  pgpSource?: string;
  name?: string;
  contact?: string;
}

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
  if (p.name !== undefined) checkPartnerName(p.name);
  if (p.contact !== undefined) checkPartnerContact(p.contact);
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

/**
 * Every partner (registered, or known from issued certificates) with certificate counts: from the
 * index summary's columns and status rows, as `status` reads them, where parsing every record of
 * the journal took ~0.9 s and 200 MiB at 100,000 certificates (#21).
 */
export async function listPartners(pki: Pki): Promise<{ partners: PartnerSummary[] }> {
  const config = await pki.config();
  const window = config.policy.warnDays * DAY;
  const reg = await readPartnersOf(pki.storage);
  const view = await openIndexRows(pki.storage, []);
  view.close();
  return { partners: summariesOfView(view, reg, pki.now, window) ?? (await summariesOfJournal(pki, reg, window)) };
}

const emptyCounts = (): PartnerSummary["certificates"] => ({ total: 0, valid: 0, expiring: 0, expired: 0, revoked: 0 });

/**
 * The summaries from the index summary. A partner known only from its certificates is dated by
 * its first one, which the summary's status rows keep (statusRowsOf); undefined when one is not
 * there, which a summary mtls wrote never lacks.
 */
function summariesOfView(view: IndexView, reg: PartnerRegistry, now: Date, window: number): PartnerSummary[] | undefined {
  const byId = new Map<string, PartnerSummary>();
  for (const r of Object.values(reg.partners)) byId.set(r.id, { ...r, certificates: emptyCounts() });
  for (const r of view.statusRows)
    if (r.kind !== "server" && !byId.has(r.partnerId))
      byId.set(r.partnerId, { id: r.partnerId, createdAt: r.issuedAt, updatedAt: r.issuedAt, certificates: emptyCounts() });
  const t = now.getTime();
  const nextMs = new Map<PartnerSummary, number>();
  for (let i = 0; i < view.count; i++) {
    const flags = view.flags[i] as number;
    if (flags & SERVER) continue;
    const s = byId.get(view.partners[view.partnerOf[i] as number] as string);
    if (!s) return undefined;
    const end = view.notAfterMs[i] as number;
    const status = CERT_STATUSES[statusIndex((flags & REVOKED) !== 0, end, t, window)] as CertStatus;
    s.certificates.total++;
    s.certificates[status]++;
    if ((status === "valid" || status === "expiring") && end < (nextMs.get(s) ?? Number.POSITIVE_INFINITY)) nextMs.set(s, end);
  }
  for (const [s, ms] of nextMs) s.nextExpiry = iso(new Date(ms));
  // A partner with a time not in the 20-character form mtls writes has all its rows among the
  // status rows (statusRowsOf): its next expiry is taken from their text, as the journal's.
  const rowsOf = new Map<string, IndexRow[]>();
  for (const r of view.statusRows) {
    if (r.kind === "server") continue;
    const rows = rowsOf.get(r.partnerId);
    if (rows) rows.push(r);
    else rowsOf.set(r.partnerId, [r]);
  }
  for (const [id, rows] of rowsOf) {
    if (!rows.some(oddTimes)) continue;
    const s = byId.get(id) as PartnerSummary;
    delete s.nextExpiry;
    for (const r of rows) noteExpiry(s, r, statusOf(r, now, window));
  }
  return withHealth(byId, view.statusRows, reg, now, window);
}

/** The summaries from every record of the journal (the way for a partner known only from its certificates). */
async function summariesOfJournal(pki: Pki, reg: PartnerRegistry, window: number): Promise<PartnerSummary[]> {
  const now = pki.now;
  const { records: index } = await readIndexOf(pki.storage);
  const byId = new Map<string, PartnerSummary>();
  for (const r of Object.values(reg.partners)) byId.set(r.id, { ...r, certificates: emptyCounts() });
  for (const r of index) {
    if (r.kind === "server") continue;
    let s = byId.get(r.partnerId);
    if (!s) {
      s = { id: r.partnerId, createdAt: r.issuedAt, updatedAt: r.issuedAt, certificates: emptyCounts() };
      byId.set(r.partnerId, s);
    }
    const status = statusOf(r, now, window);
    s.certificates.total++;
    s.certificates[status]++;
    noteExpiry(s, r, status);
  }
  return withHealth(byId, index, reg, now, window);
}

/** The certificate's expiry, when it is the partner's next one: the earliest of its valid or expiring ones, as text. */
function noteExpiry(s: PartnerSummary, r: PartnerCertFields, status: CertStatus): void {
  if ((status === "valid" || status === "expiring") && (!s.nextExpiry || r.notAfter < s.nextExpiry)) s.nextExpiry = r.notAfter;
}

function withHealth(
  byId: Map<string, PartnerSummary>,
  records: readonly PartnerCertFields[],
  reg: PartnerRegistry,
  now: Date,
  window: number,
): PartnerSummary[] {
  for (const h of assessPartners({ records, registry: reg, now, warnMs: window })) {
    const s = byId.get(h.partnerId);
    if (!s) continue;
    s.state = h.state;
    if (h.newestSerial) s.newestSerial = h.newestSerial;
    if (h.daysLeft !== undefined) s.daysLeft = h.daysLeft;
    if (h.rotation) s.rotation = h.rotation;
  }
  return sortByName([...byId.values()], (s) => s.id);
}

/** For tests: the summaries as the journal gives them, to hold the summary's to. */
export async function listPartnersFromJournal(pki: Pki): Promise<{ partners: PartnerSummary[] }> {
  const config = await pki.config();
  return { partners: await summariesOfJournal(pki, await readPartnersOf(pki.storage), config.policy.warnDays * DAY) };
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
  const reg = await readPartnersOf(pki.storage);
  // The partner's rows of the index summary, as `list --partner --json` gives them: parsing every
  // record of the journal took ~0.8 s at 100,000 certificates (#21).
  const listed = (await streamCertificates(pki, { partner: id })).certificates;
  await listed.ready();
  const certificates = [...listed];
  const partner = reg.partners[id];
  if (!partner && certificates.length === 0) throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${id}" in this PKI`, "see `mtls partner list`");
  // The records again, for the identities: an expiring certificate is a valid one.
  const records = certificates.map(({ daysLeft: _, ...c }): CertRecord => ({ ...c, status: c.status === "revoked" ? "revoked" : "valid" }));
  return {
    partner: partner ?? { id, createdAt: records[0]?.issuedAt ?? iso(now), updatedAt: records[0]?.issuedAt ?? iso(now) },
    identities: IdentityOwners.build(records, reg, now)
      .identitiesOf(id)
      .map((c) => ({ type: c.type, value: c.value, status: c.active ? ("in-use" as const) : ("reserved" as const) })),
    certificates,
  };
}
