import { copyToPublishDir, type StagedCrls, stageCrls } from "../crl/publish.js";
import { crlValidityProblem } from "../crl/validity.js";
import { inputError, usageError } from "../errors.js";
import { randomSerial } from "../ids.js";
import { encryptPkcs8, exportPkcs8, exportSpki, generateKeyPair, type KeyType } from "../keys.js";
import type { TokenAccess } from "../keystore/key-store.js";
import { encodePem } from "../pem.js";
import { type CertInfo, createCertificate, type DistinguishedName } from "../pki.js";
import { openPki, type Pki } from "../session.js";
import { FORMAT_VERSION, type StoreConfig, serializeConfig } from "../store/config.js";
import { checkNewStoreTarget, newStoreBeside } from "../store/create.js";
import { storeKeys } from "../store/keys.js";
import { serializePartners } from "../store/partners.js";
import { type Revocation, serializeRevocations } from "../store/revocations.js";
import { BACKDATE_MS, DAY, iso } from "../time.js";
import { discardCaKeys, type KeyPlan, makeCaKey, type NewCaKey, planKeys } from "./init-keys.js";
import type { CaCerts, CaEntry, CaKeys } from "./material.js";
import { validateHttpUrl } from "./policy.js";
import { registryOf } from "./registry.js";

export interface InitCaParams {
  /** Base name: the CAs become "<name> Root CA" and "<name> Intermediate CA". */
  name: string;
  org?: string;
  keyType: KeyType;
  rootDays: number;
  intermediateDays: number;
  /** False makes a single-tier CA whose root signs partner certificates. */
  intermediate: boolean;
  crlUrl?: string;
  /** OCSP responder URL (Authority Information Access) of every partner certificate. */
  ocspUrl?: string;
  /** Encrypts both CA keys. Undefined only together with insecureNoPassphrase. */
  passphrase?: string;
  insecureNoPassphrase?: boolean;
  defaultDays: number;
  maxDays: number;
  warnDays: number;
  crlDays: number;
  /** Another directory that receives a copy of every published CRL. */
  crlPublishDir?: string;
  /** A PKCS#11 token (RFC 7512 URI) that generates and keeps the CA keys. */
  keyStore?: string;
  /** A token for the root key alone (an offline root); the intermediate follows keyStore. */
  rootKeyStore?: string;
  /** The PIN source and sessions for token key stores. */
  tokens?: TokenAccess;
}

export interface CaSummary {
  subject: string;
  serial: string;
  keyType: KeyType;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  certPath: string;
  /** The key file; absent when the key is in a token. */
  keyPath?: string;
  /** Where the key lives: "file", or "pkcs11" with the key's URI. */
  keyStore: "file" | "pkcs11";
  keyUri?: string;
}

export interface InitCaResult {
  pkiDir: string;
  root: CaSummary;
  intermediate?: CaSummary;
  caBundlePath: string;
  chainPath: string;
  crlBundlePath: string;
  keyEncrypted: boolean;
  warnings: string[];
}

export const MIN_PASSPHRASE_LENGTH = 8;
export { BACKDATE_MS };

function validate(p: InitCaParams): void {
  if (!p.name.trim()) throw usageError("ERR_CA_NAME", "the CA name is empty", 'pass --name, e.g. --name "Acme Partner"');
  // A leading "#" means "hex-encoded DER follows" in RFC 4514 names, and control characters end
  // up in every certificate, CRL and gateway comment: both are refused rather than encoded.
  for (const [flag, value] of [
    ["--name", p.name],
    ["--org", p.org ?? ""],
  ] as const) {
    if (value.startsWith("#") || /[\u0000-\u001f\u007f-\u009f]/.test(value))
      throw usageError("ERR_CA_NAME", `${flag} may not begin with "#" or hold control characters`, `e.g. ${flag} "Acme Partner"`);
  }
  if (!p.insecureNoPassphrase) {
    if (p.passphrase === undefined)
      throw inputError("ERR_PASSPHRASE_REQUIRED", "no passphrase for the CA keys", "set MTLS_CA_PASSPHRASE or pass --passphrase-file <file>");
    if (p.passphrase.length < MIN_PASSPHRASE_LENGTH)
      throw inputError("ERR_PASSPHRASE_WEAK", `the CA passphrase is shorter than ${MIN_PASSPHRASE_LENGTH} characters`, "choose a longer passphrase");
  }
  if (p.crlUrl !== undefined) validateHttpUrl(p.crlUrl, "--crl-url", "http://pki.example.com/crl/issuing.crl");
  if (p.ocspUrl !== undefined) validateHttpUrl(p.ocspUrl, "--ocsp-url", "http://pki.example.com/ocsp");
  for (const [flag, v] of [
    ["--root-days", p.rootDays],
    ["--intermediate-days", p.intermediateDays],
    ["--default-days", p.defaultDays],
    ["--max-days", p.maxDays],
    ["--crl-days", p.crlDays],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw usageError("ERR_DAYS", `${flag} must be a whole number of days, at least 1 (got ${v})`);
  }
  const crlDays = crlValidityProblem(p.crlDays, "--crl-days");
  if (crlDays) throw usageError("ERR_DAYS", crlDays);
  if (p.intermediate && p.intermediateDays > p.rootDays)
    throw usageError(
      "ERR_DAYS",
      `the intermediate (${p.intermediateDays} days) would outlive the root (${p.rootDays} days)`,
      "lower --intermediate-days or raise --root-days",
    );
  if (p.defaultDays > p.maxDays) throw usageError("ERR_DAYS", `--default-days ${p.defaultDays} exceeds --max-days ${p.maxDays}`);
}

const caName = (p: InitCaParams, cn: string): DistinguishedName => ({ rdns: [...(p.org ? ([["O", p.org]] as Array<[string, string]>) : []), ["CN", cn]] });

function summarize(cert: CertInfo, keyType: KeyType, certPath: string, keyPath: string, key: NewCaKey): CaSummary {
  return {
    subject: cert.subject,
    serial: cert.serial,
    keyType,
    notBefore: iso(cert.notBefore),
    notAfter: iso(cert.notAfter),
    fingerprint: cert.fingerprint,
    certPath,
    ...(key.uri ? { keyStore: "pkcs11", keyUri: key.uri } : { keyPath, keyStore: "file" }),
  };
}

/**
 * Creates a root CA and (by default) an issuing intermediate in a new PKI directory. Everything
 * is built in a sibling scratch store and moved into place, so a failure leaves nothing.
 */
export async function initCa(pki: Pki, p: InitCaParams): Promise<InitCaResult> {
  validate(p);
  const plan = planKeys(p);
  await checkNewStoreTarget(pki.storage);
  const made: NewCaKey[] = [];
  try {
    return await buildCa(pki, p, plan, made);
  } catch (err) {
    // Nothing half-made survives: the scratch store is gone, and so are keys made in a token.
    await discardCaKeys(made, p.tokens);
    throw err;
  }
}

async function buildCa(pki: Pki, p: InitCaParams, plan: KeyPlan, made: NewCaKey[]): Promise<InitCaResult> {
  const now = pki.now;
  const warnings: string[] = [];
  if (p.insecureNoPassphrase)
    warnings.push("the CA keys are stored unencrypted (--insecure-no-passphrase): anyone who can read the PKI directory can issue certificates");
  const m = await mintHierarchy(p, plan, made, now);
  const config = storeConfigFor(p, m, now);
  const ca = caCertsOf(config, m);
  const staged = await writeNewStore(pki, p, m, config, ca);
  // The CA exists from here on: a failed copy is a warning, not a failed init (#13).
  warnings.push(...(await copyToPublishDir(config, ca, staged, pki.durableStep)).warnings);
  const where = (key: string) => pki.storage.where(key);
  return {
    pkiDir: pki.location,
    root: summarize(m.root, p.keyType, where(storeKeys.rootCert), where(storeKeys.rootKey), m.rootKey),
    ...(m.intermediate
      ? { intermediate: summarize(m.intermediate.cert, p.keyType, where(storeKeys.intermediateCert), where(storeKeys.intermediateKey), m.intermediate.key) }
      : {}),
    caBundlePath: where(storeKeys.caBundle),
    chainPath: where(storeKeys.chain),
    crlBundlePath: where(storeKeys.crlBundle),
    keyEncrypted: !p.insecureNoPassphrase,
    warnings,
  };
}

/** What a new CA is made of before anything is written. */
interface MintedHierarchy {
  root: CertInfo;
  rootKey: NewCaKey;
  intermediate?: { cert: CertInfo; key: NewCaKey };
  /** The issuing CA: the intermediate, or the root of a single tier. */
  issuer: { cert: CertInfo; key: NewCaKey };
  canary: CertInfo;
  canaryKeyPem: string;
  keyStore: { root?: string; intermediate?: string };
}

/** The CA keys (each recorded in `made` as soon as it exists), the root, the intermediate and the canary. */
async function mintHierarchy(p: InitCaParams, plan: KeyPlan, made: NewCaKey[], now: Date): Promise<MintedHierarchy> {
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const keyParams = {
    keyType: p.keyType,
    ...(p.tokens ? { tokens: p.tokens } : {}),
    ...(p.passphrase !== undefined ? { passphrase: p.passphrase } : {}),
    ...(p.insecureNoPassphrase ? { insecureNoPassphrase: true } : {}),
  };
  const rootKey = await makeCaKey({ ...keyParams, role: "root", ...(plan.root ? { token: plan.root } : {}) });
  made.push(rootKey);
  const root = await createCertificate({
    serial: randomSerial(),
    subject: caName(p, `${p.name} Root CA`),
    notBefore,
    notAfter: new Date(now.getTime() + p.rootDays * DAY),
    spki: rootKey.spki,
    signer: rootKey.signer,
    signingKeyType: p.keyType,
    profile: { kind: "root", pathLen: p.intermediate ? 1 : 0 },
  });
  let intermediate: { cert: CertInfo; key: NewCaKey } | undefined;
  if (p.intermediate) {
    const key = await makeCaKey({ ...keyParams, role: "intermediate", ...(plan.intermediate ? { token: plan.intermediate } : {}) });
    made.push(key);
    const cert = await createCertificate({
      serial: randomSerial(),
      subject: caName(p, `${p.name} Intermediate CA`),
      issuer: root,
      notBefore,
      notAfter: new Date(now.getTime() + p.intermediateDays * DAY),
      spki: key.spki,
      signer: rootKey.signer,
      signingKeyType: p.keyType,
      profile: { kind: "intermediate", pathLen: 0 },
    });
    intermediate = { cert, key };
  }
  const issuer = intermediate ?? { cert: root, key: rootKey };
  const keyStore = { ...(rootKey.uri ? { root: rootKey.uri } : {}), ...(intermediate?.key.uri ? { intermediate: intermediate.key.uri } : {}) };
  return { root, rootKey, ...(intermediate ? { intermediate } : {}), issuer, ...(await mintCanary(p, issuer, notBefore)), keyStore };
}

/**
 * The canary: a client certificate revoked the moment it exists, so it is on every CRL the
 * gateways ever load. `mtls probe` presents it to prove the gateway enforces the current CRL.
 */
async function mintCanary(p: InitCaParams, issuer: { cert: CertInfo; key: NewCaKey }, notBefore: Date): Promise<{ canary: CertInfo; canaryKeyPem: string }> {
  const canaryKeys = await generateKeyPair("ec-p256");
  const canary = await createCertificate({
    serial: randomSerial(),
    subject: caName(p, `${p.name} revocation canary`),
    issuer: issuer.cert,
    notBefore,
    notAfter: issuer.cert.notAfter,
    spki: await exportSpki(canaryKeys.publicKey),
    signer: issuer.key.signer,
    signingKeyType: p.keyType,
    profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
  });
  const canaryDer = await exportPkcs8(canaryKeys.privateKey);
  const canaryKeyPem = p.insecureNoPassphrase ? encodePem("PRIVATE KEY", canaryDer) : await encryptPkcs8(canaryDer, p.passphrase as string);
  return { canary, canaryKeyPem };
}

function storeConfigFor(p: InitCaParams, m: MintedHierarchy, now: Date): StoreConfig {
  return {
    formatVersion: FORMAT_VERSION,
    createdAt: iso(now),
    ca: {
      name: p.name,
      ...(p.org ? { org: p.org } : {}),
      keyType: p.keyType,
      intermediate: p.intermediate,
      ...(p.crlUrl ? { crlUrl: validateHttpUrl(p.crlUrl, "--crl-url", "") } : {}),
      ...(p.ocspUrl ? { ocspUrl: validateHttpUrl(p.ocspUrl, "--ocsp-url", "") } : {}),
      ...(Object.keys(m.keyStore).length ? { keyStore: m.keyStore } : {}),
    },
    policy: { defaultDays: p.defaultDays, maxDays: p.maxDays, warnDays: p.warnDays },
    crl: { validityDays: p.crlDays, ...(p.crlPublishDir ? { publishDir: p.crlPublishDir } : {}) },
    canary: { serial: m.canary.serial, revokedAt: iso(now) },
  };
}

function caCertsOf(config: StoreConfig, m: MintedHierarchy): CaCerts {
  const registry = registryOf(config);
  const all: CaEntry[] = registry.list.map((r) => ({ ...r, cert: r.id === "root" ? m.root : (m.intermediate?.cert as CertInfo) }));
  return {
    root: m.root,
    ...(m.intermediate ? { intermediate: m.intermediate.cert } : {}),
    issuer: m.issuer.cert,
    issuerRole: m.intermediate ? "intermediate" : "root",
    all,
    registry,
  };
}

/** The new store, built in a scratch store by one transaction and moved into place. */
async function writeNewStore(pki: Pki, p: InitCaParams, m: MintedHierarchy, config: StoreConfig, ca: CaCerts): Promise<StagedCrls> {
  const now = pki.now;
  const scratch = await newStoreBeside(pki.storage, pki.durableStep ? { onDurableStep: pki.durableStep } : {});
  try {
    const canaryRevocation: Revocation = {
      serial: m.canary.serial,
      issuer: ca.issuerRole,
      revokedAt: iso(now),
      reason: "cessationOfOperation",
      partnerId: "(canary)",
    };
    const caKey = (k: NewCaKey) => ({ signer: k.signer, keyType: p.keyType, location: k.location });
    const keys: CaKeys = { root: caKey(m.rootKey), ...(m.intermediate ? { intermediate: caKey(m.intermediate.key) } : {}) };
    const session = await openPki(scratch.storage, { now, actor: pki.actor });
    const staged = await session.transact("ca.init", async (tx) => {
      if (m.rootKey.pem) tx.put(storeKeys.rootKey, m.rootKey.pem, { secret: true });
      tx.put(storeKeys.rootCert, m.root.pem);
      if (m.intermediate?.key.pem) tx.put(storeKeys.intermediateKey, m.intermediate.key.pem, { secret: true });
      if (m.intermediate) tx.put(storeKeys.intermediateCert, m.intermediate.cert.pem);
      tx.put(storeKeys.canaryKey, m.canaryKeyPem, { secret: true }).put(storeKeys.canaryCert, m.canary.pem);
      tx.put(storeKeys.caBundle, m.root.pem).put(storeKeys.chain, (m.intermediate ? m.intermediate.cert.pem : "") + m.root.pem);
      tx.rewrite("index", "").rewrite("revocations", serializeRevocations([canaryRevocation]));
      tx.put(storeKeys.partners, serializePartners({ partners: {} })).put(storeKeys.config, serializeConfig(config), { exclusive: true });
      // Gateways can load a CRL from the first minute on, with the canary already listed.
      const crls = await stageCrls({ config, ca, keys, revocations: [canaryRevocation], state: {}, now }, tx);
      tx.audit({ action: "ca.init", outcome: "ok", details: initAuditDetails(p, m) });
      return crls;
    });
    await scratch.place();
    return staged;
  } catch (err) {
    await scratch.discard();
    throw err;
  }
}

function initAuditDetails(p: InitCaParams, m: MintedHierarchy) {
  return {
    name: p.name,
    keyType: p.keyType,
    intermediate: p.intermediate,
    keyEncrypted: !p.insecureNoPassphrase,
    ...(m.keyStore.root ? { rootKeyUri: m.keyStore.root } : {}),
    ...(m.keyStore.intermediate ? { intermediateKeyUri: m.keyStore.intermediate } : {}),
  };
}
