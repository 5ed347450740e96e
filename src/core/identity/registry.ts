// Identity ownership (#12): every identity a certificate carries (its CN and each SAN value)
// belongs to exactly one partner, because that is what gateway allow-lists admit. Ownership is
// derived from the index, which every issuing command already reads under the store lock, so
// there is no second registry that could drift from the certificates: the owner of an identity
// is the partner whose certificates carry it — valid, expired or revoked alike, so an offboarded
// partner's identities stay reserved — unless that partner released it afterwards
// (`partner identity release`, recorded in partners.json). Building the map is one pass over the
// index in memory (measured: 100,000 records in well under a second, next to the index parse itself).
import { conflictError } from "../errors.js";
import type { PreparedRequest } from "../issue/issue.js";
import { commonNamesFromText } from "../name.js";
import type { CertRecord } from "../store/index-file.js";
import type { PartnerRegistry } from "../store/partners.js";
import { identityKey } from "./key.js";

export { identityKey };

export type IdentityType = "cn" | "dns" | "uri" | "email" | "ip";

export interface Identity {
  type: IdentityType;
  value: string;
}

const SAN_TYPES = new Set(["dns", "uri", "email", "ip"]);

/** The identities an index record carries. Records written before #12 lack `commonNames`. */
export function recordIdentities(r: CertRecord): Identity[] {
  const cns = r.commonNames ?? commonNamesFromText(r.subject);
  const out: Identity[] = cns.map((value) => ({ type: "cn", value }));
  for (const s of r.sans) {
    const i = s.indexOf(":");
    const type = s.slice(0, i);
    if (SAN_TYPES.has(type)) out.push({ type: type as IdentityType, value: s.slice(i + 1) });
  }
  return out;
}

/** The identities a prepared request would put into its certificate. */
export function requestIdentities(r: Pick<PreparedRequest, "subject" | "sans">): Identity[] {
  return [...r.subject.commonNames.map((value) => ({ type: "cn" as const, value })), ...r.sans.map((s) => ({ type: s.type, value: s.value }))];
}

export interface IdentityClaim extends Identity {
  partnerId: string;
  /** Carried by a certificate that is neither revoked nor expired. */
  active: boolean;
  serials: string[];
}

/** Identity key → partner id → what that partner's certificates say about it. */
export class IdentityOwners {
  private readonly byKey = new Map<string, Map<string, IdentityClaim>>();

  /** Builds the map from the index; releases in the registry drop a partner's earlier certificates. */
  static build(records: readonly CertRecord[], registry: PartnerRegistry, now?: Date): IdentityOwners {
    const owners = new IdentityOwners();
    const releases = releasesOf(registry);
    for (const r of records) {
      // A gateway's server certificate (#19) names hosts, not a client an allow-list admits; gateways
      // behind one name share it.
      if (r.kind === "server") continue;
      const released = releases.get(r.partnerId);
      const active = r.status === "valid" && (!now || Date.parse(r.notAfter) > now.getTime());
      for (const id of recordIdentities(r)) {
        const key = identityKey(id.value);
        if (released?.get(key)?.(r)) continue;
        owners.add(key, id, r.partnerId, active, r.serial);
      }
    }
    return owners;
  }

  private add(key: string, id: Identity, partnerId: string, active: boolean, serial?: string): void {
    let m = this.byKey.get(key);
    if (!m) {
      m = new Map();
      this.byKey.set(key, m);
    }
    const prev = m.get(partnerId);
    if (!prev) m.set(partnerId, { type: id.type, value: id.value, partnerId, active, serials: serial ? [serial] : [] });
    else {
      prev.active ||= active;
      if (serial) prev.serials.push(serial);
    }
  }

  /** Which partners hold `value` (one, in a healthy store). */
  claimsOf(value: string): IdentityClaim[] {
    return [...(this.byKey.get(identityKey(value))?.values() ?? [])];
  }

  /** Every identity `partnerId` holds. */
  identitiesOf(partnerId: string): IdentityClaim[] {
    const out: IdentityClaim[] = [];
    for (const m of this.byKey.values()) {
      const c = m.get(partnerId);
      if (c) out.push(c);
    }
    return out;
  }

  /** Identities held by more than one partner (stores from before #12, or edited by hand). */
  collisions(): IdentityClaim[][] {
    return [...this.byKey.values()].filter((m) => m.size > 1).map((m) => [...m.values()]);
  }

  /**
   * Refuses (exit 4) the first identity that another partner owns; otherwise records them as
   * `partnerId`'s, so the next request of the same batch sees them.
   */
  claim(partnerId: string, identities: readonly Identity[], serial = ""): void {
    for (const id of identities) {
      const other = this.claimsOf(id.value).find((c) => c.partnerId !== partnerId);
      if (other) throw ownedError(id, other);
    }
    for (const id of identities) this.add(identityKey(id.value), id, partnerId, true, serial || undefined);
  }
}

function ownedError(id: Identity, owner: IdentityClaim) {
  const as = owner.value === id.value ? "" : ` (as ${JSON.stringify(owner.value)})`;
  return conflictError(
    "ERR_IDENTITY_OWNED",
    `identity ${id.type}:${JSON.stringify(id.value)} belongs to partner ${owner.partnerId}${as}; an identity belongs to one partner`,
    `issue this partner a name of its own; if ${owner.partnerId} gave it up, revoke its certificates and run \`mtls partner identity release ${owner.partnerId} ${owner.value} --yes\``,
  );
}

/**
 * The one ownership check every issuing path calls, under the store lock, before signing:
 * issue (CSR, generated key, --cn/--san), batch, onboarding, and any later rotation or renewal.
 * Throws ERR_IDENTITY_OWNED (exit 4) naming the identity and its owner.
 */
export function assertIdentitiesAvailable(p: {
  records: readonly CertRecord[];
  registry: PartnerRegistry;
  partnerId: string;
  identities: readonly Identity[];
}): void {
  // One scan for the requested keys only, without building the whole map: this runs on every issue.
  const wanted = new Map(p.identities.map((i) => [identityKey(i.value), i]));
  const releases = releasesOf(p.registry);
  for (const r of p.records) {
    if (r.partnerId === p.partnerId) continue;
    for (const id of recordIdentities(r)) {
      const key = identityKey(id.value);
      const asked = wanted.get(key);
      if (!asked) continue;
      if (releases.get(r.partnerId)?.get(key)?.(r)) continue;
      throw ownedError(asked, { ...id, partnerId: r.partnerId, active: true, serials: [r.serial] });
    }
  }
}

/** Whether a release covers a certificate: it no longer reserves the released identity. */
type Covers = (r: Pick<CertRecord, "serial" | "issuedAt">) => boolean;

/**
 * Partner id → released identity key → which of its certificates the release covers: those it
 * names, or for a release recorded without serials, those issued up to its time (to the second,
 * so a certificate issued in the second of the release counted as released).
 */
function releasesOf(registry: PartnerRegistry): Map<string, Map<string, Covers>> {
  const releases = new Map<string, Map<string, Covers>>();
  for (const p of Object.values(registry.partners)) {
    if (!p.releasedIdentities?.length) continue;
    const byKey = new Map<string, Covers>();
    for (const x of p.releasedIdentities) {
      const serials = x.serials && new Set(x.serials);
      byKey.set(identityKey(x.identity), serials ? (r) => serials.has(r.serial) : (r) => r.issuedAt <= x.releasedAt);
    }
    releases.set(p.id, byKey);
  }
  return releases;
}
