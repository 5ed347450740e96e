// `mtls ca rollover status`: where each CA and each partner certificate stands.

import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import type { CertRecord } from "../store/index-file.js";
import { daysUntil, iso } from "../time.js";
import { type CaCerts, loadCaCerts } from "./material.js";
import { rootIdOf } from "./registry.js";

export interface RolloverStatusCa {
  id: string;
  kind: "root" | "intermediate";
  parent?: string;
  subject: string;
  notAfter: string;
  daysLeft: number;
  /** issuing: signs new certificates; in-service: publishes CRLs for what it issued; retired: out of the trust bundle. */
  state: "issuing" | "in-service" | "retired";
  trusted?: boolean;
  /** Valid certificates it issued (partners and servers). */
  validCertificates: number;
}

export interface RolloverStatusCert {
  partnerId: string;
  serial: string;
  kind: "client" | "server";
  issuer: string;
  root: string;
  /** current: from the issuing CA; previous-intermediate: same root, older intermediate; previous-root: the hierarchy being replaced. */
  chain: "current" | "previous-intermediate" | "previous-root";
  /** Rotate it onto the issuing CA (`partner issue` issues from it). */
  due: boolean;
  notAfter: string;
}

export interface RolloverStatus {
  /** root-rollover between `root start` and `root finish`; otherwise none. */
  phase: "none" | "root-rollover";
  issuing: string;
  trusted: string[];
  rootRollover?: { from: string; to: string; startedAt: string };
  cas: RolloverStatusCa[];
  certificates: RolloverStatusCert[];
  /** Valid certificates not issued by the issuing CA. */
  due: number;
  /** Valid certificates that `root finish` would cut off (it refuses while there are any). */
  finishBlockers: number;
  history: Array<{ step: string; at: string; ca: string }>;
}

/** The view, as a pure function of the CAs, the index and now. */
export function rolloverView(ca: CaCerts, records: readonly CertRecord[], now: Date): RolloverStatus {
  const reg = ca.registry;
  const known = new Set(ca.all.map((c) => c.id));
  const live = records.filter((r) => r.status === "valid" && Date.parse(r.notAfter) > now.getTime() && known.has(r.issuer));
  const issuingRoot = rootIdOf(reg, reg.issuing);
  const certificates: RolloverStatusCert[] = live.map((r) => {
    const root = rootIdOf(reg, r.issuer);
    const chain = r.issuer === reg.issuing ? "current" : root === issuingRoot ? "previous-intermediate" : "previous-root";
    return {
      partnerId: r.partnerId,
      serial: r.serial,
      kind: r.kind ?? "client",
      issuer: r.issuer,
      root,
      chain,
      due: chain !== "current",
      notAfter: r.notAfter,
    };
  });
  const cas: RolloverStatusCa[] = ca.all.map((c) => ({
    id: c.id,
    kind: c.kind,
    ...(c.parent ? { parent: c.parent } : {}),
    subject: c.cert.subject,
    notAfter: iso(c.cert.notAfter),
    daysLeft: daysUntil(c.cert.notAfter, now),
    state: c.retiredAt ? "retired" : c.id === reg.issuing ? "issuing" : "in-service",
    ...(c.kind === "root" ? { trusted: reg.trusted.includes(c.id) } : {}),
    validCertificates: live.filter((r) => r.issuer === c.id).length,
  }));
  const from = reg.rootRollover?.from;
  return {
    phase: reg.rootRollover ? "root-rollover" : "none",
    issuing: reg.issuing,
    trusted: reg.trusted,
    ...(reg.rootRollover ? { rootRollover: reg.rootRollover } : {}),
    cas,
    certificates,
    due: certificates.filter((c) => c.due).length,
    finishBlockers: from ? certificates.filter((c) => c.root === from).length : 0,
    history: reg.history ?? [],
  };
}

/**
 * CAs a rollover replaced (neither the issuing CA nor its root) under which no valid certificate
 * is left: their expiry concerns nobody, so `status` does not report it.
 */
export function supersededWithoutCerts(ca: CaCerts, index: readonly Pick<CertRecord, "status" | "notAfter" | "issuer">[], now: Date): Set<string> {
  const reg = ca.registry;
  const active = new Set([reg.issuing, rootIdOf(reg, reg.issuing)]);
  const known = new Set(ca.all.map((c) => c.id));
  const used = new Set<string>();
  for (const r of index) {
    if (used.has(r.issuer) || r.status !== "valid" || Date.parse(r.notAfter) <= now.getTime() || !known.has(r.issuer)) continue;
    used.add(r.issuer).add(rootIdOf(reg, r.issuer));
  }
  return new Set(ca.all.filter((c) => !active.has(c.id) && !used.has(c.id)).map((c) => c.id));
}

export async function rolloverStatus(pki: Pki): Promise<RolloverStatus> {
  const ca = await loadCaCerts(pki.storage, await pki.config());
  return rolloverView(ca, (await readIndexOf(pki.storage)).records, pki.now);
}
