import { stat } from "node:fs/promises";
import { isEncryptedKeyPem, keyTypeOf } from "../keys.js";
import type { CertInfo } from "../pki.js";
import { readText } from "../store/fs.js";
import { openStore } from "../store/store.js";
import { daysUntil, iso } from "../time.js";
import { loadCaCerts } from "./material.js";

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
  keyPath: string;
  keyEncrypted: boolean;
  keyMode: string;
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
}

async function details(cert: CertInfo, certPath: string, keyPath: string, now: Date): Promise<CaDetails> {
  const [pem, st] = await Promise.all([readText(keyPath), stat(keyPath)]);
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
    keyPath,
    keyEncrypted: isEncryptedKeyPem(pem),
    keyMode: (st.mode & 0o777).toString(8).padStart(4, "0"),
  };
}

/** The CA certificates, their keys' protection and the store's policy. Needs no passphrase. */
export async function showCa(p: ShowCaParams): Promise<ShowCaResult> {
  const { layout, config } = await openStore(p.pkiDir);
  const ca = await loadCaCerts(layout, config);
  return {
    pkiDir: layout.root,
    formatVersion: config.formatVersion,
    root: await details(ca.root, layout.rootCert, layout.rootKey, p.now),
    ...(ca.intermediate ? { intermediate: await details(ca.intermediate, layout.intermediateCert, layout.intermediateKey, p.now) } : {}),
    caBundlePath: layout.caBundle,
    chainPath: layout.chain,
    ...(config.ca.crlUrl ? { crlUrl: config.ca.crlUrl } : {}),
    ...(config.ca.ocspUrl ? { ocspUrl: config.ca.ocspUrl } : {}),
    ...(config.crl.publishDir ? { crlPublishDir: config.crl.publishDir } : {}),
    policy: { ...config.policy, crlValidityDays: config.crl.validityDays },
  };
}
