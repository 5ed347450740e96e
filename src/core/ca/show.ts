import { isEncryptedKeyPem, keyTypeOf } from "../keys.js";
import { type CaKeyPlace, locateCaKeys } from "../keystore/reachability.js";
import type { CertInfo } from "../pki.js";
import type { Pki } from "../session.js";
import { mustGet, utf8 } from "../store/blobs.js";
import { type Issuer, storeKeys } from "../store/keys.js";
import type { Storage } from "../store/storage.js";
import { daysUntil, iso } from "../time.js";
import { caEntry, certOf, loadCaCerts } from "./material.js";

export interface CaDetails {
  subject: string;
  issuer: string;
  serial: string;
  keyType: string;
  notBefore: string;
  notAfter: string;
  daysLeft: number;
  fingerprint: string;
  pathLen?: number;
  certPath: string;
  /** "file" (keyPath, keyEncrypted, keyMode) or "pkcs11" (keyUri, token, tokenReachable). */
  keyStore: "file" | "pkcs11";
  keyPath?: string;
  keyEncrypted?: boolean;
  keyMode?: string;
  keyUri?: string;
  token?: string;
  /** The token is present and holds the key's public half (checked without a PIN). */
  tokenReachable?: boolean;
  tokenProblem?: { code: string; message: string; hint: string };
}

export interface ShowCaResult {
  pkiDir: string;
  formatVersion: number;
  root: CaDetails;
  intermediate?: CaDetails;
  caBundlePath: string;
  chainPath: string;
  crlUrl?: string;
  ocspUrl?: string;
  crlPublishDir?: string;
  policy: { defaultDays: number; maxDays: number; warnDays: number; crlValidityDays: number };
  /** After a rollover (#18): the other CAs of the store, by id, with their state. */
  otherCas?: Array<CaDetails & { id: string; state: "in-service" | "retired" }>;
}

async function keyDetails(place: CaKeyPlace | undefined, store: Storage, key: string) {
  if (place?.keyStore === "pkcs11")
    return {
      keyStore: "pkcs11" as const,
      ...(place.keyUri ? { keyUri: place.keyUri } : {}),
      ...(place.token ? { token: place.token } : {}),
      tokenReachable: place.reachable === true,
      ...(place.problem ? { tokenProblem: place.problem } : {}),
    };
  // Read as it is, loose mode or not: showing the mode is the point (use and doctor refuse it).
  const [pem, mode] = await Promise.all([mustGet(store, key), store.mode?.(key)]);
  return {
    keyStore: "file" as const,
    keyPath: store.where(key),
    keyEncrypted: isEncryptedKeyPem(utf8(pem)),
    ...(mode !== undefined ? { keyMode: (mode & 0o777).toString(8).padStart(4, "0") } : {}),
  };
}

async function details(cert: CertInfo, store: Storage, id: Issuer, now: Date, place: CaKeyPlace | undefined): Promise<CaDetails> {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serial: cert.serial,
    keyType: keyTypeOf(cert.spki),
    notBefore: iso(cert.notBefore),
    notAfter: iso(cert.notAfter),
    daysLeft: daysUntil(cert.notAfter, now),
    fingerprint: cert.fingerprint,
    ...(cert.pathLen !== undefined ? { pathLen: cert.pathLen } : {}),
    certPath: store.where(storeKeys.caCert(id)),
    ...(await keyDetails(place, store, storeKeys.caKey(id))),
  };
}

/** The CA certificates, their keys' protection and the store's policy. Needs no passphrase. */
export async function showCa(pki: Pki): Promise<ShowCaResult> {
  const now = pki.now;
  const config = await pki.config();
  const store = pki.storage;
  const ca = await loadCaCerts(store, config);
  const places = await locateCaKeys(store, ca);
  const place = (role: string) => places.find((pl) => pl.role === role);
  // The issuing hierarchy; after a rollover its files are ca/<id>.pem and private/<id>.key.
  const rootId = caEntry(ca, ca.issuerRole).parent ?? ca.issuerRole;
  const of = (id: string) => details(certOf(ca, id), store, id, now, place(id));
  const others = ca.all.filter((c) => c.id !== rootId && c.id !== ca.issuerRole);
  return {
    pkiDir: pki.location,
    formatVersion: config.formatVersion,
    root: await of(rootId),
    ...(ca.intermediate ? { intermediate: await of(ca.issuerRole) } : {}),
    caBundlePath: store.where(storeKeys.caBundle),
    chainPath: store.where(storeKeys.chain),
    ...(config.ca.crlUrl ? { crlUrl: config.ca.crlUrl } : {}),
    ...(config.ca.ocspUrl ? { ocspUrl: config.ca.ocspUrl } : {}),
    ...(config.crl.publishDir ? { crlPublishDir: config.crl.publishDir } : {}),
    policy: { ...config.policy, crlValidityDays: config.crl.validityDays },
    ...(others.length
      ? {
          otherCas: await Promise.all(
            others.map(async (c) => ({ id: c.id, state: c.retiredAt ? ("retired" as const) : ("in-service" as const), ...(await of(c.id)) })),
          ),
        }
      : {}),
  };
}
