// What the responder knows: each CA's certificates and revocations, read from the store and
// re-read whenever the journals change, so a revocation is answered at the next request
// without a restart (and by every responder process sharing the store).
import type { CaRole } from "../crl/publish.js";
import type { CertInfo } from "../pki.js";
import { readProbeCerts } from "../probe/record.js";
import { readIndexOf, readRevocationsOf } from "../store/blobs.js";
import type { Storage } from "../store/storage.js";
import type { OcspCertStatus } from "./protocol.js";

interface Known {
  /** Serials each CA issued that the store knows of. */
  issued: Map<CaRole, Set<string>>;
  revoked: Map<CaRole, Map<string, OcspCertStatus>>;
}

export interface StatusSource {
  /** The status of `serial` as issued by `role`, from the store as it is now. */
  lookup(role: CaRole, serial: string): Promise<OcspCertStatus>;
  /** Serials known for a CA (for the health check). */
  size(): Promise<number>;
}

/** What the source reads: the journals, and (when the storage has them) their versions. */
export type StatusStore = Pick<Storage, "readJournal" | "where" | "journalVersion">;

/** Which version of the journals we have read; undefined when the storage cannot say (read again). */
const signature = (store: StatusStore): string | undefined => {
  const versions = (["index", "revocations", "probe-certs"] as const).map((j) => store.journalVersion?.(j));
  return versions.every((v) => v !== undefined) ? versions.join("|") : undefined;
};

/**
 * `extra` lists certificates the store keeps outside the index (the intermediate under the
 * root, the responders' own): they are known, hence good unless the journal says otherwise.
 */
export function storeStatusSource(
  store: StatusStore,
  extra: Array<{ role: CaRole; cert: CertInfo }>,
  /** Revoked here and nowhere else: the OCSP canary (see canary.ts). */
  ocspOnly: Array<{ role: CaRole; serial: string; revokedAt: string }> = [],
): StatusSource {
  let current: { sig: string | undefined; known: Known } | undefined;
  let loading: Promise<Known> | undefined;

  async function load(): Promise<Known> {
    const [{ records }, journal, probes] = await Promise.all([readIndexOf(store), readRevocationsOf(store), readProbeCerts(store)]);
    // One set per CA id: "root", "intermediate", and after a rollover the newer CAs (#18).
    const issued = new Map<CaRole, Set<string>>();
    const revoked = new Map<CaRole, Map<string, OcspCertStatus>>();
    const issuedBy = (role: CaRole) => issued.get(role) ?? (issued.set(role, new Set()).get(role) as Set<string>);
    const revokedBy = (role: CaRole) => revoked.get(role) ?? (revoked.set(role, new Map()).get(role) as Map<string, OcspCertStatus>);
    for (const r of records) issuedBy(r.issuer).add(r.serial);
    for (const e of extra) issuedBy(e.role).add(e.cert.serial);
    for (const c of probes) issuedBy(c.issuer).add(c.serial);
    for (const c of ocspOnly) {
      issuedBy(c.role).add(c.serial);
      revokedBy(c.role).set(c.serial, { status: "revoked", revokedAt: new Date(c.revokedAt), reason: "cessationOfOperation" });
    }
    // The journal is the source of the CRLs, so OCSP and the CRL can never disagree.
    for (const r of journal.entries) {
      issuedBy(r.issuer).add(r.serial);
      revokedBy(r.issuer).set(r.serial, { status: "revoked", revokedAt: new Date(r.revokedAt), reason: r.reason });
    }
    return { issued, revoked };
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
      return k.issued.get(role)?.has(serial) ? { status: "good" } : { status: "unknown" };
    },
    async size() {
      const k = await known();
      return [...k.issued.values()].reduce((n, s) => n + s.size, 0);
    },
  };
}
