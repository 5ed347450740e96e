// Checks a request the way issuing would, without signing anything: the onboarding wizard and the
// interactive `partner issue` validate each typed answer with these, so an answer the command
// would refuse is refused at its prompt instead of after the summary was confirmed (#13).
import { loadCaCerts } from "../ca/material.js";
import type { Pki } from "../session.js";
import type { IssueRequest } from "./issue.js";
import { prepareRequest } from "./issue.js";
import type { ValidityLimits } from "./validity.js";

export interface IssueLimits extends ValidityLimits {
  defaultDays: number;
}

/** The policy limits a partner certificate of this PKI must meet. Needs no passphrase. */
export async function readIssueLimits(pki: Pki): Promise<IssueLimits> {
  const config = await pki.config();
  const ca = await loadCaCerts(pki.storage, config);
  return { defaultDays: config.policy.defaultDays, maxDays: config.policy.maxDays, issuerNotAfter: ca.issuer.notAfter, now: pki.now };
}

export interface CheckedRequest {
  subject: string;
  sans: string[];
  keyType: string;
  days: number;
  warnings: string[];
}

/**
 * Runs every check issuing runs on a CSR request (parse, signature, key policy, subject, SANs,
 * validity) and returns what would be issued; throws the command's own error otherwise.
 */
export async function checkIssueRequest(pki: Pki, req: IssueRequest & { csr: Uint8Array }): Promise<CheckedRequest> {
  const config = await pki.config();
  const ca = await loadCaCerts(pki.storage, config);
  const { generateKeyType: _ignored, ...csrOnly } = req;
  const r = await prepareRequest(csrOnly, config, ca.issuer, pki.now);
  return { subject: r.subject.text, sans: r.sans.map((s) => `${s.type}:${s.value}`), keyType: r.keyType, days: r.days, warnings: r.warnings };
}
