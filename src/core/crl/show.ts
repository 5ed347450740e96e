import { type CaCerts, certOf, crlCas, loadCaCerts } from "../ca/material.js";
import { envError } from "../errors.js";
import type { Pki } from "../session.js";
import { readRevocationsOf } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";
import { HOUR, iso } from "../time.js";
import { type ParsedCrl, parseCrl, verifyCrlSignature } from "./decode.js";
import type { CaRole } from "./publish.js";

export interface CrlDetails {
  issuer: CaRole;
  issuerSubject: string;
  path: string;
  number?: string;
  thisUpdate: string;
  nextUpdate?: string;
  hoursLeft?: number;
  signatureValid: boolean;
  entries: Array<{ serial: string; revokedAt: string; reason: string; partnerId?: string }>;
}

export interface LoadedCrl {
  role: CaRole;
  path: string;
  crl: ParsedCrl;
  signatureValid: boolean;
}

/** Reads and checks the published CRL of each CA; undefined for a CA whose CRL is missing. */
export async function loadPublishedCrls(
  store: StoreReader,
  config: StoreConfig,
  ca: CaCerts,
): Promise<Array<LoadedCrl | { role: CaRole; path: string; missing: true }>> {
  void config;
  const roles: CaRole[] = crlCas(ca).map((c) => c.id);
  const out: Array<LoadedCrl | { role: CaRole; path: string; missing: true }> = [];
  for (const role of roles) {
    const path = store.where(storeKeys.crlDer(role));
    const der = await store.get(storeKeys.crlDer(role));
    if (!der) {
      out.push({ role, path, missing: true });
      continue;
    }
    let crl: ParsedCrl;
    try {
      crl = parseCrl(der);
    } catch (err) {
      throw envError("ERR_CRL_CORRUPT", `${path} is not a readable CRL`, "run `mtls crl publish` to write a fresh one", err);
    }
    const issuer = certOf(ca, role);
    out.push({ role, path, crl, signatureValid: await verifyCrlSignature(crl, issuer) });
  }
  return out;
}

/** The published CRLs: number, validity, signature check and entries (with partner ids). */
export async function showCrls(pki: Pki): Promise<{ crls: CrlDetails[] }> {
  const now = pki.now;
  const config = await pki.config();
  const ca = await loadCaCerts(pki.storage, config);
  const owners = new Map((await readRevocationsOf(pki.storage)).entries.map((r) => [r.serial, r.partnerId]));
  const crls: CrlDetails[] = [];
  for (const l of await loadPublishedCrls(pki.storage, config, ca)) {
    if ("missing" in l) throw envError("ERR_NO_CRL", `no CRL published for the ${l.role} CA (${l.path})`, "run `mtls crl publish`");
    const { crl } = l;
    crls.push({
      issuer: l.role,
      issuerSubject: certOf(ca, l.role).subject,
      path: l.path,
      ...(crl.number !== undefined ? { number: crl.number } : {}),
      thisUpdate: iso(crl.thisUpdate),
      ...(crl.nextUpdate ? { nextUpdate: iso(crl.nextUpdate), hoursLeft: Math.floor((crl.nextUpdate.getTime() - now.getTime()) / HOUR) } : {}),
      signatureValid: l.signatureValid,
      entries: crl.entries.map((e) => ({
        serial: e.serial,
        revokedAt: iso(e.revokedAt),
        reason: e.reason,
        ...(owners.has(e.serial) ? { partnerId: owners.get(e.serial) as string } : {}),
      })),
    });
  }
  return { crls };
}
