// The reads doctor makes through the modules that own the records (ca/material, crl/publish,
// crl/history, the audit file, keystore), all through the storage: the checks themselves see
// only these functions and the transaction.

import { readAuditFrom } from "../audit/audit.js";
import { type CaCerts, loadCaCerts, loadCaKeys } from "../ca/material.js";
import { type CrlHistory, publishDirLag, readCrlHistory } from "../crl/history.js";
import { type PublicationParams, readCrlState, stagePublication } from "../crl/publish.js";
import { locateCaKeys } from "../keystore/reachability.js";
import type { Pki, Tx } from "../session.js";
import { findDamagedTailOf } from "../store/audit-file.js";
import type { StoreConfig } from "../store/config.js";

export function layoutReads(pki: Pki) {
  const store = pki.storage;
  return {
    caCerts: (config: StoreConfig) => loadCaCerts(store, config),
    caKeys: (ca: CaCerts) => loadCaKeys(store, ca, pki.passphrase),
    crlState: () => readCrlState(store),
    crlHistory: (publishDir: string | undefined, ca: CaCerts) => readCrlHistory(store, publishDir, ca),
    auditLog: () => readAuditFrom(store),
    auditTail: () => findDamagedTailOf(store),
    publishDirLag: (publishDir: string, history: CrlHistory) => publishDirLag(store, publishDir, history),
    caKeyPlaces: (ca: CaCerts) => locateCaKeys(store, ca),
    stagePublication: (p: PublicationParams, tx: Tx) => stagePublication(p, tx),
  };
}

export type LayoutReads = ReturnType<typeof layoutReads>;
