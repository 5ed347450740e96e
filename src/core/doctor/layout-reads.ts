// The reads doctor still makes through modules that take a directory layout (ca/material,
// crl/publish, crl/history, audit, keystore): the one place in doctor/ that names one. Each line
// becomes a StoreReader call as its module moves behind the storage interface (#15); the checks
// themselves see only these functions and the transaction.
import { findDamagedTail, readAuditLog } from "../audit/audit.js";
import { type CaCerts, loadCaCerts, loadCaKeys } from "../ca/material.js";
import { type CrlHistory, publishDirLag, readCrlHistory } from "../crl/history.js";
import { type PublicationParams, readCrlState, stagePublication } from "../crl/publish.js";
import { locateCaKeys } from "../keystore/reachability.js";
import type { Pki, Tx } from "../session.js";
import type { StoreConfig } from "../store/config.js";

export function layoutReads(pki: Pki) {
  // A directory store (a database store's working copy is one): anything else is a bug here.
  const layout = pki.layout;
  if (!layout) throw new Error(`${pki.location}: doctor reads this store through a directory layout`);
  return {
    caCerts: (config: StoreConfig) => loadCaCerts(layout, config),
    caKeys: (ca: CaCerts) => loadCaKeys(layout, ca, pki.passphrase),
    crlState: () => readCrlState(layout),
    crlHistory: (publishDir: string | undefined, ca: CaCerts) => readCrlHistory(layout, publishDir, ca),
    auditLog: () => readAuditLog(layout.audit),
    auditTail: () => findDamagedTail(layout.audit),
    publishDirLag: (publishDir: string, history: CrlHistory) => publishDirLag(layout, publishDir, history),
    caKeyPlaces: (ca: CaCerts) => locateCaKeys(layout, ca),
    stagePublication: (p: Omit<PublicationParams, "layout">, tx: Tx) => stagePublication({ ...p, layout }, tx),
  };
}

export type LayoutReads = ReturnType<typeof layoutReads>;
