// Doctor's identity check (#12): identities held by more than one partner and certificates whose
// subject or SANs break the subject policy — both possible in stores written before the policy,
// or edited by hand. Reported only: revoking a partner's certificate is a decision for a person.
import { type CertInfo, parseCertificate } from "../cert.js";
import { IdentityOwners } from "../identity/registry.js";
import { subjectPolicyProblem } from "../identity/subject-policy.js";
import { INPUT_LIMITS } from "../input.js";
import { pemOrDer } from "../pem.js";
import { formatSan, sanProblem } from "../sans.js";
import { parallel } from "../store/fs.js";
import type { CertRecord } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import type { PartnerRegistry } from "../store/partners.js";
import type { StoreReader } from "../store/storage.js";
import { bytesOf } from "./blobs.js";
import type { DoctorProblem } from "./types.js";

/** A certificate of the store, or undefined when it is missing, too large or unreadable (the certificates check reports those). */
async function certOfRecord(store: StoreReader, serial: string): Promise<CertInfo | undefined> {
  const what = `certificate ${serial}`;
  try {
    const bytes = await bytesOf(store, storeKeys.certFile(serial));
    if (!bytes || bytes.length > INPUT_LIMITS.certificates) return undefined;
    return parseCertificate(pemOrDer(bytes, ["CERTIFICATE"], what), what);
  } catch {
    return undefined;
  }
}

/** Collisions across partners and policy violations among the certificates that are not revoked. */
export async function identityProblems(store: StoreReader, partners: PartnerRegistry, records: readonly CertRecord[]): Promise<DoctorProblem[]> {
  const problems: DoctorProblem[] = [];
  const owners = IdentityOwners.build(records, partners);
  for (const claims of owners.collisions()) {
    const holders = claims.map((c) => `${c.partnerId} (${c.serials.join(", ")})`).join(" and ");
    problems.push({
      check: "identities",
      message: `identity ${JSON.stringify(claims[0]?.value)} is held by more than one partner: ${holders}; an allow-list entry for one admits the other`,
      hint: "revoke the certificates of the partner that must not have it (mtls revoke <serial>), then release it if needed; doctor changes nothing here",
      fixable: false,
    });
  }
  const live = records.filter((r) => r.status === "valid");
  const found: Array<{ i: number; problem: DoctorProblem }> = [];
  await parallel(
    live.map((r, i) => ({ r, i })),
    8,
    async ({ r, i }) => {
      const cert = await certOfRecord(store, r.serial);
      if (!cert) return;
      const bad = subjectPolicyProblem(cert.subjectDer) ?? cert.sans.map((s) => sanProblem(s) && `SAN ${formatSan(s)}: ${sanProblem(s)}`).find(Boolean);
      if (bad)
        found.push({
          i,
          problem: {
            check: "identities",
            message: `certificate ${r.serial} of partner ${r.partnerId} breaks the subject policy: ${bad}`,
            hint: "gateway config refuses to allow-list it; revoke it and issue one within the policy (doctor changes nothing here)",
            fixable: false,
          },
        });
    },
  );
  return [...problems, ...found.sort((a, b) => a.i - b.i).map((f) => f.problem)];
}
