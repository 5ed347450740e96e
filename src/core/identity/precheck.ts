import { loadCaCerts } from "../ca/material.js";
import { type IssueRequest, prepareRequest } from "../issue/issue.js";
import type { Pki } from "../session.js";
import { readIndexOf, readPartnersOf } from "../store/blobs.js";
import { assertIdentitiesAvailable, type Identity, requestIdentities } from "./registry.js";

/**
 * Checks a request against the policy and identity ownership before a multi-step command
 * (onboarding registers the partner first) changes anything, so a refused request leaves the
 * store as it was. Issuing checks ownership again under the lock: this is the early answer,
 * not the guard.
 */
export async function precheckIssueRequest(pki: Pki, p: IssueRequest & { now: Date }): Promise<void> {
  const config = await pki.config();
  const storage = pki.storage;
  let identities: Identity[];
  if (p.csr) {
    const ca = await loadCaCerts(storage, config);
    const { generateKeyType: _skip, ...req } = p;
    identities = requestIdentities(await prepareRequest(req, config, ca.issuer, p.now));
  } else {
    // A generated key's certificate is CN=<cn or partner id> plus the given SANs (no key needed to know that).
    identities = [{ type: "cn", value: p.cn ?? p.partnerId }, ...(p.sans ?? []).map((s) => ({ type: s.type, value: s.value }))];
  }
  const [{ records }, registry] = await Promise.all([readIndexOf(storage), readPartnersOf(storage)]);
  assertIdentitiesAvailable({ records, registry, partnerId: p.partnerId, identities });
}
