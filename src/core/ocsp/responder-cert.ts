// Delegated OCSP responders (RFC 6960 §4.2.2.2): one per CA, so the CA keys sign certificates
// and CRLs only and never sit behind a network service's hot path. Each responder certificate
// is short-lived and carries id-pkix-ocsp-nocheck, so gateways do not ask about the responder
// itself; a compromised responder key is bounded by that lifetime. Its key is kept at rest like
// the CA keys (PBES2 under the CA passphrase, or in the clear only when the CA keys are).
import type { AuditEntry } from "../audit/audit.js";
import { type CaCerts, type CaKey, caEntry, certOf, crlCas, loadCaCerts, loadRoleKey, type PassphraseSource, tokenUriOf } from "../ca/material.js";
import { type CertInfo, isSignedBy, parseCertificate } from "../cert.js";
import type { CaRole } from "../crl/publish.js";
import { randomSerial } from "../ids.js";
import { decryptKeyPemAsync, encryptPkcs8, generateKeyPairDer, isEncryptedKeyPem, keyObjectFromPkcs8 } from "../keys.js";
import { encodePem, pemOrDer } from "../pem.js";
import { createCertificate } from "../pki.js";
import type { Pki } from "../session.js";
import { getText, readConfigOf } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { type Issuer, storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";
import { DAY, HOUR, iso, MINUTE } from "../time.js";
import { needsOcspCanary, stageOcspCanary } from "./canary.js";
import type { OcspSigner } from "./protocol.js";

/** Responder certificates live a week and are replaced once less than two days remain. */
export const RESPONDER_LIFETIME_MS = 7 * DAY;
export const RESPONDER_RENEW_BEFORE_MS = 2 * DAY;

export interface Responder {
  role: CaRole;
  /** The root that answers for this CA's own certificate (an intermediate's). */
  parent?: CaRole;
  /** The CA the responder answers for. */
  ca: CertInfo;
  cert: CertInfo;
  signer: OcspSigner;
}

export interface LoadRespondersParams {
  /** The time of this check (a long-running server passes its clock's reading). */
  now: Date;
}

export interface LoadedResponders {
  responders: Responder[];
  /** CAs whose responder certificate was issued (or renewed) by this call. */
  issued: CaRole[];
  /** CAs in service that have expired: no responder answers for them. */
  expired: Array<{ role: CaRole; parent?: CaRole; ca: CertInfo }>;
  /** The OCSP-only canary's serial (issued by the issuing CA), answered "revoked". */
  ocspCanary?: { serial: string; revokedAt: string };
  /** The CRL canary's serial, which the revocation journal holds from `ca init` on. */
  canarySerial?: string;
  /** The configured CRL distribution point (`ca policy set --crl-url`) these were loaded with. */
  crlUrl?: string;
}

/**
 * Every CA still in service answers for its own certificates (both hierarchies during a
 * rollover), until it expires: an expired CA vouches for nothing, so it gets no responder, and
 * requests about it are answered `unauthorized` (RFC 6960 §2.3, RFC 5019 §2.2.3: this responder
 * cannot answer authoritatively), as for any issuer it does not know.
 */
const rolesOf = (ca: CaCerts, now: Date): CaRole[] => crlCas(ca).flatMap((c) => (c.cert.notAfter > now ? [c.id] : []));
const caCertOf = (ca: CaCerts, role: CaRole): CertInfo => certOf(ca, role);

/** A responder certificate's end: a week on, or its CA's end if that comes first (it may not outlive its CA). */
const responderNotAfter = (caCert: CertInfo, now: Date): Date => new Date(Math.min(now.getTime() + RESPONDER_LIFETIME_MS, caCert.notAfter.getTime()));

/**
 * The stored responder certificate of a CA, when it is there, signed by that CA, within its
 * CA's lifetime and not due for renewal. One that ends with its CA is not due: a renewal could
 * not last longer.
 */
async function currentResponderCert(store: StoreReader, role: CaRole, caCert: CertInfo, now: Date): Promise<CertInfo | undefined> {
  const pem = await getText(store, storeKeys.ocspCert(role));
  if (!pem) return undefined;
  let cert: CertInfo;
  try {
    cert = parseCertificate(pemOrDer(Buffer.from(pem), ["CERTIFICATE"], "the OCSP responder certificate"));
  } catch {
    return undefined; // damaged: replaced below, which is what a repair would do
  }
  if (cert.notAfter > caCert.notAfter) return undefined;
  if (cert.notAfter.getTime() - now.getTime() < RESPONDER_RENEW_BEFORE_MS && cert.notAfter < caCert.notAfter) return undefined;
  if (!cert.issuerDer.equals(caCert.subjectDer) || !(await isSignedBy(cert, caCert))) return undefined;
  return cert;
}

async function readResponderKey(store: StoreReader, role: CaRole, passphrase: PassphraseSource | undefined): Promise<Buffer> {
  const pem = (await getText(store, storeKeys.ocspKey(role))) ?? "";
  const what = `the ${role} CA's OCSP responder key`;
  return decryptKeyPemAsync(pem, isEncryptedKeyPem(pem) && passphrase ? await passphrase() : undefined, what);
}

/** The responder's signer: its key, its certificate and the CAs below the root that vouch for it. */
function signerOf(ca: CaCerts, role: CaRole, cert: CertInfo, pkcs8: Buffer): OcspSigner {
  const chainDer = caEntry(ca, role).kind === "intermediate" ? [certOf(ca, role).der] : [];
  return { certDer: cert.der, chainDer, spki: cert.spki, key: keyObjectFromPkcs8(pkcs8), keyType: "ec-p256" };
}

interface IssuedResponder {
  cert: CertInfo;
  keyPem: string;
  pkcs8: Buffer;
}

async function issueResponder(caCert: CertInfo, org: string | undefined, caKey: CaKey, encryptWith: string | undefined, now: Date): Promise<IssuedResponder> {
  const keys = await generateKeyPairDer("ec-p256");
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: { rdns: [...(org ? ([["O", org]] as Array<[string, string]>) : []), ["CN", `${caCert.commonNames[0] ?? "CA"} OCSP Responder`]] },
    issuer: caCert,
    notBefore: new Date(now.getTime() - 5 * MINUTE),
    notAfter: responderNotAfter(caCert, now),
    spki: keys.spki,
    signer: caKey.signer,
    signingKeyType: caKey.keyType,
    profile: { kind: "leaf", extKeyUsage: ["OCSPSigning"] },
    ocspNoCheck: true,
  });
  const keyPem = encryptWith === undefined ? encodePem("PRIVATE KEY", keys.pkcs8) : await encryptPkcs8(keys.pkcs8, encryptWith);
  return { cert, keyPem, pkcs8: keys.pkcs8 };
}

/**
 * Loads each CA's responder, issuing or renewing the ones that are missing, damaged or due, in
 * one audited commit under the store lock. A CA key is decrypted only when a responder must be
 * issued; several responder processes sharing a store re-check under the lock, so only one of
 * them renews.
 */
export async function loadResponders(pki: Pki, p: LoadRespondersParams): Promise<LoadedResponders> {
  const store = pki.storage;
  await pki.config(); // opens and checks the store once per session
  // config.json afresh each time: a long-running server sees `ca policy set` and rollovers.
  const config = await readConfigOf(store);
  const ca = await loadCaCerts(store, config);
  const due: CaRole[] = [];
  const found = new Map<CaRole, CertInfo>();
  const roles = rolesOf(ca, p.now);
  for (const role of roles) {
    const cert = await currentResponderCert(store, role, caCertOf(ca, role), p.now);
    if (cert) found.set(role, cert);
    else due.push(role);
  }
  const fresh = new Map<CaRole, IssuedResponder>();
  if (due.length || (await canaryDue(store, config, ca, p.now))) await issueDue(pki, { ...p, ca, due, found, fresh });
  const responders: Responder[] = [];
  for (const role of roles) {
    const issued = fresh.get(role);
    const cert = issued?.cert ?? (found.get(role) as CertInfo);
    const signer = signerOf(ca, role, cert, issued?.pkcs8 ?? (await readResponderKey(store, role, pki.passphrase)));
    const parent = caEntry(ca, role).parent;
    responders.push({ role, ca: caCertOf(ca, role), cert, signer, ...(parent ? { parent } : {}) });
  }
  const { ocspCanary } = await readConfigOf(store);
  const expired = crlCas(ca).filter((c) => !roles.includes(c.id));
  return {
    responders,
    issued: [...fresh.keys()],
    expired: expired.map((c) => ({ role: c.id, ca: c.cert, ...(c.parent ? { parent: c.parent } : {}) })),
    // The canary is the issuing CA's: an expired one answers for nothing, its canary included.
    ...(ocspCanary && roles.includes(ca.issuerRole) ? { ocspCanary } : {}),
    ...(config.canary ? { canarySerial: config.canary.serial } : {}),
    ...(config.ca.crlUrl ? { crlUrl: config.ca.crlUrl } : {}),
  };
}

/** The OCSP canary is missing and its CA, the issuing one, can still sign it. */
const canaryDue = async (store: StoreReader, config: StoreConfig, ca: CaCerts, now: Date) => ca.issuer.notAfter > now && (await needsOcspCanary(store, config));

interface IssueDueParams extends LoadRespondersParams {
  ca: CaCerts;
  due: CaRole[];
  found: Map<CaRole, CertInfo>;
  fresh: Map<CaRole, IssuedResponder>;
}

async function issueDue(pki: Pki, p: IssueDueParams): Promise<void> {
  const { ca } = p;
  const store = pki.storage;
  // A CA key in a token: the responder key is protected like the canary's, the PKI's other keys.
  const caKeyOf = (role: CaRole) => (tokenUriOf(ca.keyStore, role) !== undefined ? storeKeys.canaryKey : storeKeys.caKey(role as Issuer));
  // The responder key is protected exactly as the CA key that certifies it.
  const caKeyEncrypted = async (role: CaRole) => isEncryptedKeyPem((await getText(store, caKeyOf(role))) ?? "");
  const passphrase = pki.passphrase;
  await pki.transact(
    "ocsp.responder",
    async (tx) => {
      const config = await tx.config();
      const keys = new Map<CaRole, CaKey>();
      const keyOf = async (role: CaRole) => {
        const key = keys.get(role) ?? (await loadRoleKey(tx, ca, role, caCertOf(ca, role), passphrase));
        keys.set(role, key);
        return key;
      };
      const encryptWith = async (role: CaRole) => ((await caKeyEncrypted(role)) && passphrase ? await passphrase() : undefined);
      for (const role of p.due) {
        const caCert = caCertOf(ca, role);
        const again = await currentResponderCert(tx, role, caCert, p.now);
        if (again) {
          p.found.set(role, again);
          continue;
        }
        const issued = await issueResponder(caCert, config.ca.org, await keyOf(role), await encryptWith(role), p.now);
        tx.put(storeKeys.ocspKey(role), issued.keyPem, { secret: true }).put(storeKeys.ocspCert(role), issued.cert.pem);
        p.fresh.set(role, issued);
      }
      const entries: AuditEntry[] = [...p.fresh.entries()].map(([role, r]) => ({
        action: "ocsp.responder",
        outcome: "issued",
        serial: r.cert.serial,
        details: { ca: role, notAfter: iso(r.cert.notAfter) },
      }));
      if (await canaryDue(tx, config, ca, p.now)) {
        const role = ca.issuerRole;
        const canary = await stageOcspCanary({ config, ca, caKey: await keyOf(role), encryptWith: await encryptWith(role), now: p.now }, tx);
        entries.push({ action: "ocsp.responder", outcome: "canary", serial: canary.serial, details: { ca: role } });
      }
      tx.audit(...entries);
    },
    { purpose: "ocsp responder" },
  );
}

/**
 * When a running responder should next look at its certificates: when one comes due for
 * renewal, or, for one that ends with its CA, when both expire (the CA then leaves the set).
 */
export function nextRenewalCheck(responders: readonly Responder[], now: Date): number {
  const due = (r: Responder) => (r.cert.notAfter < r.ca.notAfter ? r.cert.notAfter.getTime() - RESPONDER_RENEW_BEFORE_MS : r.cert.notAfter.getTime());
  const soonest = Math.min(...responders.map(due));
  return Math.max(MINUTE, Math.min(HOUR, soonest - now.getTime()));
}
