// The CA rollover steps (`mtls ca rollover …`): each one audited commit under the store lock.
// What changes is decided by rollover-plan.ts; this module signs, writes and publishes it.
import type { AuditEntry } from "../audit/audit.js";
import { copyToPublishDir, type PublishedCrl, publishAudit, stagePublication } from "../crl/publish.js";
import { conflictError, usageError } from "../errors.js";
import { randomSerial } from "../ids.js";
import { encryptPkcs8, exportPkcs8, exportSpki, generateKeyPair, type KeyType } from "../keys.js";
import type { TokenAccess } from "../keystore/access.js";
import { type Pkcs11Uri, parsePkcs11Uri } from "../keystore/pkcs11-uri.js";
import { encodePem } from "../pem.js";
import { type CertInfo, createCertificate } from "../pki.js";
import type { Pki } from "../session.js";
import { readIndexOf, readRevocationsOf } from "../store/blobs.js";
import { ROLLOVER_FORMAT_VERSION, type StoreConfig, serializeConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import type { Revocation } from "../store/revocations.js";
import type { StoreReader } from "../store/storage.js";
import { iso } from "../time.js";
import { cryptoKeySigner } from "../x509/signer.js";
import { makeCaKey, parseTokenFlag } from "./init-keys.js";
import {
  type CaCerts,
  type CaEntry,
  type CaKey,
  type CaKeys,
  caIdsOnDisk,
  canaryKeyEncrypted,
  certOf,
  loadCaCerts,
  loadCaKeys,
  type PassphraseSource,
  tokenUriOf,
} from "./material.js";
import type { CaId } from "./registry.js";
import type { CrossSpec, NewCaSpec } from "./rollover-plan.js";
import { caBundlePem, issuingChainPem } from "./trust.js";

export interface RolloverCa {
  id: string;
  subject: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  certPath: string;
}

export interface RolloverResult {
  step: "intermediate" | "root start" | "root finish";
  created: RolloverCa[];
  crosses: Array<RolloverCa & { subjectCa: string; issuerCa: string }>;
  issuing: string;
  trusted: string[];
  caBundlePath: string;
  crls: PublishedCrl[];
  copies: string[];
  warnings: string[];
}

export const describeCa = (id: string, cert: CertInfo, path: string): RolloverCa => ({
  id,
  subject: cert.subject,
  serial: cert.serial,
  notBefore: iso(cert.notBefore),
  notAfter: iso(cert.notAfter),
  fingerprint: cert.fingerprint,
  certPath: path,
});

/** A new CA's key: in memory until its file is written, or generated in a token, where it stays. */
interface MintedKey {
  key: CaKey;
  /** A file key, sealed by the step's protector when it is staged. */
  privateKey?: CryptoKey;
  /** A token key's URI (config.json ca.keyStore). */
  uri?: string;
}

async function newCaKey(id: CaId, keyType: KeyType, token: NewKeyToken | undefined): Promise<MintedKey> {
  if (token) {
    const made = await makeCaKey({ role: id, keyType, token: token.uri, tokens: token.access });
    return { key: { signer: made.signer, keyType, location: made.location }, uri: made.uri as string };
  }
  const keys = await generateKeyPair(keyType);
  const spki = await exportSpki(keys.publicKey);
  return { key: { signer: cryptoKeySigner(keys.privateKey, keyType, spki), keyType, location: { kind: "file", path: "" } }, privateKey: keys.privateKey };
}

/** The token a new CA key is generated in, and the PIN and sessions to reach it. */
export interface NewKeyToken {
  uri: Pkcs11Uri;
  access: TokenAccess;
}

/**
 * A new CA key and certificate; `parent` is its root (absent: self-signed). The key is made in
 * `token` when one is given. A token key the step does not commit must be discarded (see
 * discardMinted).
 */
export async function mintCa(spec: NewCaSpec, keyType: KeyType, parent?: { cert: CertInfo; key: CaKey }, token?: NewKeyToken) {
  const minted = await newCaKey(spec.id, keyType, token);
  const signer = parent?.key ?? minted.key;
  try {
    const cert = await createCertificate({
      serial: randomSerial(),
      subject: spec.subject,
      ...(parent ? { issuer: parent.cert } : {}),
      notBefore: spec.notBefore,
      notAfter: spec.notAfter,
      spki: minted.key.signer.spki,
      // Signing goes through the parent's Signer (a file or a token key), or the new key's own.
      signer: signer.signer,
      signingKeyType: signer.keyType,
      profile: spec.kind === "root" ? { kind: "root", pathLen: spec.pathLen } : { kind: "intermediate", pathLen: spec.pathLen },
    });
    return { cert, ...minted };
  } catch (err) {
    await discardMinted([minted], token?.access);
    throw err;
  }
}

/** Removes the token keys of a step that did not commit (file keys were never written). */
export async function discardMinted(minted: Array<{ uri?: string } | undefined>, access: TokenAccess | undefined): Promise<void> {
  if (!access) return;
  for (const m of minted) if (m?.uri) await (await access.sessions()).discard(parsePkcs11Uri(m.uri, "generated key"), access.pin);
}

/**
 * The token a new CA's key goes to: the one named on the command line (checked by the step
 * before the keys were unlocked), else the token of the key it takes over from (`from`), so that
 * a PKI whose keys are in a token keeps them there. A file key is followed by a file key.
 */
export function newKeyToken(
  config: StoreConfig,
  from: CaId,
  asked: string | undefined,
  flag: string,
  access: TokenAccess | undefined,
): NewKeyToken | undefined {
  const stored = tokenUriOf(config.ca.keyStore, from);
  let uri: Pkcs11Uri;
  if (asked !== undefined) uri = parseTokenFlag(asked, flag);
  else if (stored !== undefined) {
    // The token of that key: the same URI without what names the key (and its class).
    const { object: _o, id: _i, type: _t, ...token } = parsePkcs11Uri(stored, `config.json ca.keyStore.${from}`);
    uri = token;
  } else return undefined;
  if (!access) throw usageError("ERR_PIN_REQUIRED", "a PKCS#11 key store needs the token's PIN", "set MTLS_PKCS11_PIN or pass --pin-file <file>");
  return { uri, access };
}

/** A cross certificate: the subject CA's name and key, signed by another root. */
export function mintCross(spec: CrossSpec, subject: CertInfo, issuer: { cert: CertInfo; key: CaKey }): Promise<CertInfo> {
  return createCertificate({
    serial: randomSerial(),
    subject: { der: subject.subjectDer },
    issuer: issuer.cert,
    notBefore: spec.notBefore,
    notAfter: spec.notAfter,
    spki: subject.spki,
    signer: issuer.key.signer,
    signingKeyType: issuer.key.keyType,
    profile: { kind: "intermediate", pathLen: 0 },
  });
}

/** The revoked canary of the new issuing CA, so `probe`'s revoked scenario follows the rollover. */
async function mintCanary(config: StoreConfig, issuer: { cert: CertInfo; key: CaKey }, now: Date) {
  const keys = await generateKeyPair("ec-p256");
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: { rdns: [...(config.ca.org ? ([["O", config.ca.org]] as Array<[string, string]>) : []), ["CN", `${config.ca.name} revocation canary`]] },
    issuer: issuer.cert,
    notBefore: new Date(now.getTime() - 5 * 60 * 1000),
    notAfter: issuer.cert.notAfter,
    spki: await exportSpki(keys.publicKey),
    signer: issuer.key.signer,
    signingKeyType: issuer.key.keyType,
    profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
  });
  return { cert, keys };
}

/** Keys are protected like the root key already is: encrypted with the same passphrase, or (--insecure-no-passphrase stores) not. */
export async function keyProtector(store: StoreReader, passphrase: PassphraseSource | undefined) {
  const encrypted = await canaryKeyEncrypted(store);
  const secret = encrypted && passphrase ? await passphrase() : undefined;
  return async (key: CryptoKey) => {
    const der = await exportPkcs8(key);
    return secret === undefined ? encodePem("PRIVATE KEY", der) : encryptPkcs8(der, secret);
  };
}

/** The store as the step found it, with the keys of every CA in service, decrypted before the lock. */
export async function openForRollover(pki: Pki) {
  const store = pki.storage;
  const config = await pki.config();
  const ca = await loadCaCerts(store, config);
  const keys = await loadCaKeys(store, ca, pki.passphrase);
  const protect = await keyProtector(store, pki.passphrase);
  return { store, config, ca, keys, protect, now: pki.now, taken: await caIdsOnDisk(store) };
}

/** CaCerts for a registry and certificates: what the store holds once the step commits. */
export function nextCaCerts(config: StoreConfig, before: CaCerts, added: Array<{ id: string; cert: CertInfo }>): CaCerts {
  const reg = config.cas as NonNullable<StoreConfig["cas"]>;
  const certs = new Map([...before.all.map((c) => [c.id, c.cert] as const), ...added.map((a) => [a.id, a.cert] as const)]);
  const all: CaEntry[] = reg.list.map((r) => ({ ...r, cert: certs.get(r.id) as CertInfo }));
  const issuing = all.find((c) => c.id === reg.issuing) as CaEntry;
  const root = issuing.parent ? certOf({ all } as CaCerts, issuing.parent) : issuing.cert;
  return { root, ...(issuing.parent ? { intermediate: issuing.cert } : {}), issuer: issuing.cert, issuerRole: issuing.id, all, registry: reg };
}

export interface CommitStepParams {
  /** The config as the step read it: the commit is refused if the store changed since. */
  before: StoreConfig;
  next: StoreConfig;
  ca: CaCerts;
  keys: CaKeys;
  /** New store entries (CA certificates and keys, cross certificates), by storage key. */
  creates: Array<{ key: string; data: string; secret?: boolean }>;
  /** Derived entries rewritten whole (the cross bundle). */
  puts?: Array<{ key: string; data: string }>;
  /** A new canary from the new issuing CA. */
  canary?: boolean;
  /** Revocations the step adds to the journal (and so to the fresh CRLs). */
  revocations?: Revocation[];
  audit: AuditEntry;
  purpose: string;
  protect: (key: CryptoKey) => Promise<string>;
  /** Told once the step is committed, before anything that runs after the commit. */
  onCommitted?: () => void;
}

/**
 * One step as one transaction: new CA files, ca-bundle.pem, chain.pem, the canary, config.json,
 * fresh CRLs for every CA in service and the journal, with the step's audit record.
 */
export async function commitStep(pki: Pki, c: CommitStepParams): Promise<{ crls: PublishedCrl[]; copies: string[]; warnings: string[] }> {
  return pki.transact(
    "ca.rollover",
    async (tx) => {
      if (c.onCommitted) tx.afterCommit(async () => c.onCommitted?.());
      if (serializeConfig(await tx.config()) !== serializeConfig(c.before))
        throw conflictError("ERR_STORE_CHANGED", "the CA configuration changed while this step was prepared", "run the command again");
      for (const f of c.creates) tx.put(f.key, f.data, { exclusive: true, ...(f.secret ? { secret: true } : {}) });
      const added: Revocation[] = [...(c.revocations ?? [])];
      const next: StoreConfig = { ...c.next, formatVersion: Math.max(c.next.formatVersion, ROLLOVER_FORMAT_VERSION) };
      if (c.canary) {
        const issuer = { cert: c.ca.issuer, key: c.keys[c.ca.issuerRole] as CaKey };
        const canary = await mintCanary(next, issuer, tx.now);
        tx.put(storeKeys.canaryCert, canary.cert.pem).put(storeKeys.canaryKey, await c.protect(canary.keys.privateKey), { secret: true });
        next.canary = { serial: canary.cert.serial, revokedAt: iso(tx.now) };
        // The OCSP canary belongs to the old issuing CA too: `revocation serve` makes a new one.
        delete next.ocspCanary;
        added.push({ serial: canary.cert.serial, issuer: c.ca.issuerRole, revokedAt: iso(tx.now), reason: "cessationOfOperation", partnerId: "(canary)" });
      }
      for (const f of c.puts ?? []) tx.put(f.key, f.data);
      tx.put(storeKeys.caBundle, caBundlePem(c.ca)).put(storeKeys.chain, issuingChainPem(c.ca));
      tx.put(storeKeys.config, serializeConfig(next));
      const journal = await readRevocationsOf(tx);
      const pub = { config: next, ca: c.ca, keys: c.keys, journal, added, index: () => readIndexOf(tx), now: tx.now };
      const staged = await stagePublication(pub, tx);
      tx.audit(c.audit, publishAudit(staged));
      const result = { crls: staged.crls, copies: [] as string[], warnings: [] as string[] };
      tx.afterCommit(async () => {
        const copied = await copyToPublishDir(next, c.ca, staged, pki.durableStep);
        result.copies.push(...copied.copies);
        result.warnings.push(...copied.warnings);
      });
      return result;
    },
    { purpose: c.purpose },
  );
}
