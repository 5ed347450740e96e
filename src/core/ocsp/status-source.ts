// What the responder knows: each CA's certificates and revocations, read from the store and
// re-read whenever the journals change, so a revocation is answered at the next request
// without a restart (and by every responder process sharing the store).
import type { CaRole } from "../crl/publish.js";
import type { CertInfo } from "../pki.js";
import { readProbeCerts } from "../probe/record.js";
import { readIndexOf, readRevocationsOf } from "../store/blobs.js";
import type { CertRecord, RevocationReason } from "../store/index-file.js";
import { journalFile } from "../store/keys.js";
import { revocationOfRecord, revokedOnlyInIndex } from "../store/revocations.js";
import type { Storage } from "../store/storage.js";
import type { OcspCertStatus } from "./protocol.js";

/**
 * An answer the source will not give: the store's records of revocation disagree in a way only
 * a damaged or lost journal explains, so "good" or "unknown" may be a revoked certificate's.
 */
export interface Unvouched {
  status: "unavailable";
  problem: string;
}

export type StatusAnswer = OcspCertStatus | Unvouched;

interface Known {
  /** Serials each CA issued that the store knows of. */
  issued: Map<CaRole, Set<string>>;
  revoked: Map<CaRole, Map<string, OcspCertStatus>>;
  /** Set while the journal lacks revocations the store records elsewhere. */
  problem?: string;
}

export interface StatusSource {
  /** The status of `serial` as issued by `role`, from the store as it is now. */
  lookup(role: CaRole, serial: string): Promise<StatusAnswer>;
  /** Serials known for a CA (for the health check). */
  size(): Promise<number>;
  /** Why answers other than "revoked" are withheld, if they are. */
  problem(): Promise<string | undefined>;
}

/** What the source reads: the journals, and (when the storage has them) their versions. */
export type StatusStore = Pick<Storage, "readJournal" | "where" | "journalVersion">;

export interface StatusSourceParams {
  store: StatusStore;
  /**
   * Certificates the store keeps outside the index (the intermediate under the root, the
   * responders' own): they are known, hence good unless the journal says otherwise.
   */
  extra: Array<{ role: CaRole; cert: CertInfo }>;
  /** Revoked here and nowhere else: the OCSP canary (see canary.ts). */
  ocspOnly?: Array<{ role: CaRole; serial: string; revokedAt: string }>;
  /** A serial the journal holds from `ca init` on (the CRL canary): its absence means a damaged journal. */
  journaled?: string;
  /** Told after each read of the store what the journal lacks (undefined: nothing). */
  report?: (problem: string | undefined) => void;
}

/** Which version of the journals we have read; undefined when the storage cannot say (read again). */
const signature = (store: StatusStore): string | undefined => {
  const versions = (["index", "revocations", "probe-certs"] as const).map((j) => store.journalVersion?.(j));
  return versions.every((v) => v !== undefined) ? versions.join("|") : undefined;
};

/**
 * What the journal lacks, as one line naming it and what to run, or undefined when it lacks
 * nothing the store records elsewhere.
 */
function damage(store: StatusStore, lost: readonly CertRecord[], canaryLost: string | undefined): string | undefined {
  const parts: string[] = [];
  if (lost.length) {
    const serials = `${lost
      .slice(0, 3)
      .map((r) => r.serial)
      .join(", ")}${lost.length > 3 ? ", ..." : ""}`;
    parts.push(`${lost.length} revocation(s) that ${journalFile.index} records (${serials})`);
  }
  if (canaryLost) parts.push(`the revoked canary ${canaryLost} that config.json names`);
  if (parts.length === 0) return undefined;
  return `${store.where(journalFile.revocations)} lacks ${parts.join(" and ")}: answering internalError for every certificate not known revoked; run \`mtls doctor\``;
}

/**
 * Revoked when the journal or the index says so (the journal's time and reason first); known
 * when either, the probe list or `extra` holds the serial. The journal is the CRLs' source and
 * is appended before the index, so an index revocation it lacks means it was damaged or lost:
 * that revocation is still answered, and nothing else is vouched for until it is whole again.
 */
export function storeStatusSource(p: StatusSourceParams): StatusSource {
  const { store, extra, ocspOnly = [] } = p;
  let current: { sig: string | undefined; known: Known } | undefined;
  let loading: Promise<Known> | undefined;

  async function load(): Promise<Known> {
    const [{ records }, journal, probes] = await Promise.all([readIndexOf(store), readRevocationsOf(store), readProbeCerts(store)]);
    // One set per CA id: "root", "intermediate", and after a rollover the newer CAs (#18).
    const issued = new Map<CaRole, Set<string>>();
    const revoked = new Map<CaRole, Map<string, OcspCertStatus>>();
    const issuedBy = (role: CaRole) => issued.get(role) ?? (issued.set(role, new Set()).get(role) as Set<string>);
    const revoke = (role: CaRole, serial: string, revokedAt: string, reason: RevocationReason) => {
      issuedBy(role).add(serial);
      const of = revoked.get(role) ?? (revoked.set(role, new Map()).get(role) as Map<string, OcspCertStatus>);
      of.set(serial, { status: "revoked", revokedAt: new Date(revokedAt), reason });
    };
    for (const r of records) issuedBy(r.issuer).add(r.serial);
    for (const e of extra) issuedBy(e.role).add(e.cert.serial);
    for (const c of probes) issuedBy(c.issuer).add(c.serial);
    for (const c of ocspOnly) revoke(c.role, c.serial, c.revokedAt, "cessationOfOperation");
    // The journal is the source of the CRLs, so OCSP and the CRL agree while it is whole.
    const journaled = new Set<string>();
    for (const r of journal.entries) {
      journaled.add(r.serial);
      revoke(r.issuer, r.serial, r.revokedAt, r.reason);
    }
    // An entry without a time: revoked since it was valid at all, the safe side.
    const lost = revokedOnlyInIndex(records, journaled);
    for (const r of lost.map((x) => revocationOfRecord(x, x.notBefore))) revoke(r.issuer, r.serial, r.revokedAt, r.reason);
    const problem = damage(store, lost, p.journaled !== undefined && !journaled.has(p.journaled) ? p.journaled : undefined);
    p.report?.(problem);
    return { issued, revoked, ...(problem ? { problem } : {}) };
  }

  async function known(): Promise<Known> {
    const sig = signature(store);
    if (sig !== undefined && current?.sig === sig) return current.known;
    // One reload at a time; concurrent requests wait for it rather than each parsing the index.
    loading ??= load().finally(() => {
      loading = undefined;
    });
    const k = await loading;
    current = { sig, known: k };
    return k;
  }

  return {
    async lookup(role, serial) {
      const k = await known();
      const revoked = k.revoked.get(role)?.get(serial);
      if (revoked) return revoked;
      if (k.problem) return { status: "unavailable", problem: k.problem };
      return k.issued.get(role)?.has(serial) ? { status: "good" } : { status: "unknown" };
    },
    async size() {
      const k = await known();
      return [...k.issued.values()].reduce((n, s) => n + s.size, 0);
    },
    async problem() {
      return (await known()).problem;
    },
  };
}
