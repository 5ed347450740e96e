// Doctor's identity check (#12): identities held by more than one partner and certificates whose
// subject or SANs break the subject policy — both possible in stores written before the policy,
// or edited by hand. Reported only: revoking a partner's certificate is a decision for a person.
import { readCertFile } from "../ca/material.js";
import { IdentityOwners } from "../identity/registry.js";
import { subjectPolicyProblem } from "../identity/subject-policy.js";
import { formatSan, sanProblem } from "../sans.js";
import { parallel } from "../store/fs.js";
import type { CertRecord } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import type { Layout } from "../store/layout.js";
import { readPartners } from "../store/partners.js";
import { directoryReader } from "../store/read.js";
import type { DoctorProblem } from "./doctor.js";

/** Collisions across partners and policy violations among the certificates that are not revoked. */
export async function identityProblems(layout: Layout, records: readonly CertRecord[]): Promise<DoctorProblem[]> {
  const problems: DoctorProblem[] = [];
  const owners = IdentityOwners.build(records, await readPartners(layout.partners));
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
      let cert: Awaited<ReturnType<typeof readCertFile>>;
      try {
        cert = await readCertFile(directoryReader(layout.root), storeKeys.certFile(r.serial), `certificate ${r.serial}`);
      } catch {
        return; // the certificates check reports unreadable files
      }
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
