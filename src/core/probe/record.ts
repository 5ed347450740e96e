// Certificates `mtls probe` mints from the CA live an hour and are no partner's, so they stay
// out of the index; but the store still knows every certificate its CA signed: they are listed
// here until they expire. The OCSP responder reads this list, so a probe's valid certificate is
// "good" rather than "unknown" (which gateways checking OCSP refuse).
import { isCaId } from "../ca/registry.js";
import type { CaRole } from "../crl/publish.js";
import type { Pki } from "../session.js";
import type { StoreReader } from "../store/storage.js";
import { iso } from "../time.js";

export interface ProbeCertRecord {
  serial: string;
  issuer: CaRole;
  notAfter: string;
  mintedAt: string;
}

/** The list's valid records; anything unreadable is skipped (it only ever widens "unknown"). */
export async function readProbeCerts(store: Pick<StoreReader, "readJournal">): Promise<ProbeCertRecord[]> {
  const text = await store.readJournal("probe-certs").catch(() => "");
  const out: ProbeCertRecord[] = [];
  for (const line of text.split("\n")) {
    try {
      const r = JSON.parse(line) as ProbeCertRecord;
      if (typeof r?.serial === "string" && /^[0-9a-f]{1,40}$/.test(r.serial) && isCaId(r.issuer) && !Number.isNaN(Date.parse(r.notAfter))) out.push(r);
    } catch {}
  }
  return out;
}

/** Adds minted certificates and drops expired ones, in one atomic replace under the store lock. */
export async function recordProbeCerts(pki: Pki, certs: Array<{ serial: string; issuer: CaRole; notAfter: Date }>): Promise<void> {
  if (!certs.length) return;
  await pki.transact(
    "probe.certs",
    async (tx) => {
      const kept = (await readProbeCerts(tx)).filter((r) => Date.parse(r.notAfter) > tx.now.getTime());
      const added = certs.map((c) => ({ serial: c.serial, issuer: c.issuer, notAfter: iso(c.notAfter), mintedAt: iso(tx.now) }));
      tx.rewrite("probe-certs", [...kept, ...added].map((r) => `${JSON.stringify(r)}\n`).join(""));
    },
    { purpose: "probe" },
  );
}
