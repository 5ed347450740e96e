import { stat } from "node:fs/promises";
import { isEncryptedKeyPem, keyTypeOf } from "../keys.js";
import { type CaKeyPlace, locateCaKeys } from "../keystore/reachability.js";
import type { CertInfo } from "../pki.js";
import { readText } from "../store/fs.js";
import { openStore } from "../store/store.js";
import { daysUntil, iso } from "../time.js";
import { caEntry, certOf, loadCaCerts } from "./material.js";

export interface ShowCaParams {
  pkiDir: string;
  now: Date;
}

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

async function keyDetails(place: CaKeyPlace | undefined, keyPath: string) {
  if (place?.keyStore === "pkcs11")
    return {
      keyStore: "pkcs11" as const,
      ...(place.keyUri ? { keyUri: place.keyUri } : {}),
      ...(place.token ? { token: place.token } : {}),
      tokenReachable: place.reachable === true,
      ...(place.problem ? { tokenProblem: place.problem } : {}),
    };
  const [pem, st] = await Promise.all([readText(keyPath), stat(keyPath)]);
  return { keyStore: "file" as const, keyPath, keyEncrypted: isEncryptedKeyPem(pem), keyMode: (st.mode & 0o777).toString(8).padStart(4, "0") };
}

async function details(cert: CertInfo, certPath: string, keyPath: string, now: Date, place: CaKeyPlace | undefined): Promise<CaDetails> {
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
    certPath,
    ...(await keyDetails(place, keyPath)),
  };
}

/** The CA certificates, their keys' protection and the store's policy. Needs no passphrase. */
export async function showCa(p: ShowCaParams): Promise<ShowCaResult> {
  const { layout, config } = await openStore(p.pkiDir);
  const ca = await loadCaCerts(layout, config);
  const places = await locateCaKeys(layout, ca);
  const place = (role: string) => places.find((pl) => pl.role === role);
  // The issuing hierarchy; after a rollover its files are ca/<id>.pem and private/<id>.key.
  const rootId = caEntry(ca, ca.issuerRole).parent ?? ca.issuerRole;
  const of = (id: string) => details(certOf(ca, id), layout.caCert(id), layout.caKey(id), p.now, place(id));
  const others = ca.all.filter((c) => c.id !== rootId && c.id !== ca.issuerRole);
  return {
    pkiDir: layout.root,
    formatVersion: config.formatVersion,
    root: await of(rootId),
    ...(ca.intermediate ? { intermediate: await of(ca.issuerRole) } : {}),
    caBundlePath: layout.caBundle,
    chainPath: layout.chain,
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
