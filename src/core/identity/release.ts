import { conflictError, inputError } from "../errors.js";
import { validatePartnerId } from "../ids.js";
import type { Pki } from "../session.js";
import { readIndexOf, readPartnersOf } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import { serializePartners } from "../store/partners.js";
import { iso } from "../time.js";
import { IdentityOwners, identityKey, recordIdentities } from "./registry.js";

export interface ReleaseIdentityParams {
  partnerId: string;
  identity: string;
}

export interface ReleaseIdentityResult {
  partnerId: string;
  identity: string;
  releasedAt: string;
  /** The certificates that reserved it (revoked or expired). */
  serials: string[];
}

/**
 * Gives up one identity of a partner, so another partner may be issued it. Only an identity no
 * valid certificate carries can go: otherwise two partners would pass the same allow-list entry.
 */
export async function releaseIdentity(pki: Pki, p: ReleaseIdentityParams): Promise<ReleaseIdentityResult> {
  const id = validatePartnerId(p.partnerId);
  await pki.config();
  return pki.transact(
    "identity.release",
    async (tx) => {
      const snap = await readIndexOf(tx);
      const registry = await readPartnersOf(tx);
      const claim = IdentityOwners.build(snap.records, registry, tx.now)
        .claimsOf(p.identity)
        .find((c) => c.partnerId === id);
      if (!claim)
        throw inputError("ERR_IDENTITY_NOT_OWNED", `partner ${id} holds no identity ${JSON.stringify(p.identity)}`, `see \`mtls partner show ${id}\``);
      if (claim.active)
        throw conflictError(
          "ERR_IDENTITY_IN_USE",
          `identity ${JSON.stringify(claim.value)} is on a valid certificate of partner ${id}`,
          `revoke it first (mtls partner offboard ${id}, or mtls revoke <serial>)`,
        );
      const releasedAt = iso(tx.now);
      const key = identityKey(claim.value);
      // The release names the certificates it covers, each of the partner's that carries the
      // identity (an earlier release's too): a time to the second could not tell them from one
      // issued in the same second after it.
      const serials = snap.records.filter((r) => r.partnerId === id && recordIdentities(r).some((i) => identityKey(i.value) === key)).map((r) => r.serial);
      const partner = registry.partners[id] ?? { id, createdAt: releasedAt, updatedAt: releasedAt };
      const kept = (partner.releasedIdentities ?? []).filter((x) => identityKey(x.identity) !== key);
      registry.partners[id] = { ...partner, updatedAt: releasedAt, releasedIdentities: [...kept, { identity: claim.value, releasedAt, serials }] };
      tx.put(storeKeys.partners, serializePartners(registry));
      tx.audit({ action: "identity.release", outcome: "ok", partner: id, details: { identity: claim.value } });
      return { partnerId: id, identity: claim.value, releasedAt, serials: claim.serials };
    },
    { purpose: "partner identity release" },
  );
}
