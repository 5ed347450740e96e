import { readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { copyToPublishDir, type StagedCrls, stageCrls } from "../crl/publish.js";
import { conflictError, fsError, inputError } from "../errors.js";
import { randomSerial } from "../ids.js";
import { encryptPkcs8, exportPkcs8, exportSpki, generateKeyPair, type KeyType } from "../keys.js";
import type { TokenAccess } from "../keystore/key-store.js";
import { encodePem } from "../pem.js";
import { type CertInfo, createCertificate, type DistinguishedName } from "../pki.js";
import { layoutOf, openPki, type Pki } from "../session.js";
import { FORMAT_VERSION, type StoreConfig, serializeConfig } from "../store/config.js";
import { ensureDir, exists } from "../store/fs.js";
import { storeKeys } from "../store/keys.js";
import { layoutOf as storeLayout } from "../store/layout.js";
import { serializePartners } from "../store/partners.js";
import { type Revocation, serializeRevocations } from "../store/revocations.js";
import { BACKDATE_MS, DAY, iso } from "../time.js";
import { discardCaKeys, type KeyPlan, makeCaKey, type NewCaKey, planKeys } from "./init-keys.js";
import type { CaCerts, CaEntry } from "./material.js";
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
  if (!p.name.trim()) throw inputError("ERR_CA_NAME", "the CA name is empty", 'pass --name, e.g. --name "Acme Partner"');
  // A leading "#" means "hex-encoded DER follows" in RFC 4514 names, and control characters end
  // up in every certificate, CRL and gateway comment: both are refused rather than encoded.
  for (const [flag, value] of [
    ["--name", p.name],
    ["--org", p.org ?? ""],
  ] as const) {
    if (value.startsWith("#") || /[\u0000-\u001f\u007f-\u009f]/.test(value))
      throw inputError("ERR_CA_NAME", `${flag} may not begin with "#" or hold control characters`, `e.g. ${flag} "Acme Partner"`);
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
    if (!Number.isInteger(v) || v < 1) throw inputError("ERR_DAYS", `${flag} must be a whole number of days, at least 1 (got ${v})`);
  }
  if (p.intermediate && p.intermediateDays > p.rootDays)
    throw inputError(
      "ERR_DAYS",
      `the intermediate (${p.intermediateDays} days) would outlive the root (${p.rootDays} days)`,
      "lower --intermediate-days or raise --root-days",
    );
  if (p.defaultDays > p.maxDays) throw inputError("ERR_DAYS", `--default-days ${p.defaultDays} exceeds --max-days ${p.maxDays}`);
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

/** Refuses to touch a directory that already holds a CA, or anything else. */
async function checkTarget(dir: string): Promise<void> {
  if (await exists(join(dir, "config.json")))
    throw conflictError("ERR_CA_EXISTS", `a CA already exists in ${dir}`, "use another --pki directory; mtls never overwrites a CA");
  let entries: string[] = [];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return;
    throw fsError(err, dir, "read");
  }
  if (entries.length > 0) throw conflictError("ERR_PKI_NOT_EMPTY", `${dir} exists and is not empty`, "point --pki at a new or empty directory");
}

/**
 * Creates a root CA and (by default) an issuing intermediate in a new PKI directory. Everything
 * is built in a sibling temp directory and renamed into place, so a failure leaves nothing.
 */
export async function initCa(pki: Pki, p: InitCaParams): Promise<InitCaResult> {
  validate(p);
  const plan = planKeys(p);
  await checkTarget(layoutOf(pki).root);
  const made: NewCaKey[] = [];
  try {
    return await buildCa(pki, p, plan, made);
  } catch (err) {
    // Nothing half-made survives: the temp directory is gone, and so are keys made in a token.
    await discardCaKeys(made, p.tokens);
    throw err;
  }
}

async function buildCa(pki: Pki, p: InitCaParams, plan: KeyPlan, made: NewCaKey[]): Promise<InitCaResult> {
  const final = layoutOf(pki);
  const now = pki.now;
  const warnings: string[] = [];
  if (p.insecureNoPassphrase)
    warnings.push("the CA keys are stored unencrypted (--insecure-no-passphrase): anyone who can read the PKI directory can issue certificates");

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

  // The canary: a client certificate revoked the moment it exists, so it is on every CRL the
  // gateways ever load. `mtls probe` presents it to prove the gateway enforces the current CRL.
  const issuer = intermediate ? { cert: intermediate.cert, key: intermediate.key } : { cert: root, key: rootKey };
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
  const keyStore = { ...(rootKey.uri ? { root: rootKey.uri } : {}), ...(intermediate?.key.uri ? { intermediate: intermediate.key.uri } : {}) };

  const config: StoreConfig = {
    formatVersion: FORMAT_VERSION,
    createdAt: iso(now),
    ca: {
      name: p.name,
      ...(p.org ? { org: p.org } : {}),
      keyType: p.keyType,
      intermediate: p.intermediate,
      ...(p.crlUrl ? { crlUrl: validateHttpUrl(p.crlUrl, "--crl-url", "") } : {}),
      ...(p.ocspUrl ? { ocspUrl: validateHttpUrl(p.ocspUrl, "--ocsp-url", "") } : {}),
      ...(Object.keys(keyStore).length ? { keyStore } : {}),
    },
    policy: { defaultDays: p.defaultDays, maxDays: p.maxDays, warnDays: p.warnDays },
    crl: { validityDays: p.crlDays, ...(p.crlPublishDir ? { publishDir: p.crlPublishDir } : {}) },
    canary: { serial: canary.serial, revokedAt: iso(now) },
  };

  let staged: StagedCrls | undefined;
  let caCerts: CaCerts | undefined;
  await ensureDir(dirname(final.root));
  const tmpDir = join(dirname(final.root), `.${basename(final.root)}.init-${process.pid}`);
  const t = storeLayout(tmpDir);
  try {
    await rm(tmpDir, { recursive: true, force: true });
    await ensureDir(t.root, 0o755);
    await Promise.all([ensureDir(t.caDir), ensureDir(t.privateDir, 0o700), ensureDir(t.certsDir), ensureDir(t.crlDir)]);
    const canaryRevocation: Revocation = {
      serial: canary.serial,
      issuer: intermediate ? "intermediate" : "root",
      revokedAt: iso(now),
      reason: "cessationOfOperation",
      partnerId: "(canary)",
    };
    const registry = registryOf(config);
    const all: CaEntry[] = registry.list.map((r) => ({ ...r, cert: r.id === "root" ? root : (intermediate?.cert as CertInfo) }));
    const ca: CaCerts = {
      root,
      ...(intermediate ? { intermediate: intermediate.cert } : {}),
      issuer: issuer.cert,
      issuerRole: intermediate ? "intermediate" : "root",
      all,
      registry,
    };
    caCerts = ca;
    const caKey = (k: NewCaKey) => ({ signer: k.signer, keyType: p.keyType, location: k.location });
    const keys = { root: caKey(rootKey), ...(intermediate ? { intermediate: caKey(intermediate.key) } : {}) };
    // The new store is built in a scratch directory by one transaction, then renamed into place.
    const scratch = await openPki(tmpDir, { now, actor: pki.actor, ...(pki.durableStep ? { onDurableStep: pki.durableStep } : {}) });
    staged = await scratch.transact("ca.init", async (tx) => {
      if (rootKey.pem) tx.put(storeKeys.rootKey, rootKey.pem, { secret: true });
      tx.put(storeKeys.rootCert, root.pem);
      if (intermediate?.key.pem) tx.put(storeKeys.intermediateKey, intermediate.key.pem, { secret: true });
      if (intermediate) tx.put(storeKeys.intermediateCert, intermediate.cert.pem);
      tx.put(storeKeys.canaryKey, canaryKeyPem, { secret: true }).put(storeKeys.canaryCert, canary.pem);
      tx.put(storeKeys.caBundle, root.pem).put(storeKeys.chain, (intermediate ? intermediate.cert.pem : "") + root.pem);
      tx.rewrite("index", "").rewrite("revocations", serializeRevocations([canaryRevocation]));
      tx.put(storeKeys.partners, serializePartners({ partners: {} })).put(storeKeys.config, serializeConfig(config));
      // Gateways can load a CRL from the first minute on, with the canary already listed.
      const crls = await stageCrls({ layout: t, config, ca, keys, revocations: [canaryRevocation], state: {}, now }, tx);
      tx.audit({
        action: "ca.init",
        outcome: "ok",
        details: {
          name: p.name,
          keyType: p.keyType,
          intermediate: p.intermediate,
          keyEncrypted: !p.insecureNoPassphrase,
          ...(keyStore.root ? { rootKeyUri: keyStore.root } : {}),
          ...(keyStore.intermediate ? { intermediateKeyUri: keyStore.intermediate } : {}),
        },
      });
      return crls;
    });
    // rename(2) onto an empty directory replaces it; onto a non-empty one it fails (checked above).
    await rename(tmpDir, final.root).catch((err) => Promise.reject(fsError(err, final.root, "create")));
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  // The CA exists from here on: a failed copy is a warning, not a failed init (#13).
  if (staged && caCerts) warnings.push(...(await copyToPublishDir(config, caCerts, staged, pki.durableStep)).warnings);

  return {
    pkiDir: final.root,
    root: summarize(root, p.keyType, final.rootCert, final.rootKey, rootKey),
    ...(intermediate ? { intermediate: summarize(intermediate.cert, p.keyType, final.intermediateCert, final.intermediateKey, intermediate.key) } : {}),
    caBundlePath: final.caBundle,
    chainPath: final.chain,
    crlBundlePath: final.crlBundle,
    keyEncrypted: !p.insecureNoPassphrase,
    warnings,
  };
}
