import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { type CertInfo, parseCertificate } from "../cert.js";
import { Exit, envError, inputError, MtlsError } from "../errors.js";
import { checkSize, INPUT_LIMITS } from "../input.js";
import { decryptKeyPemAsync, isEncryptedKeyPem, type KeyType, keyObjectFromPkcs8, keyTypeOf } from "../keys.js";
import { type KeyLocation, openTokenCaKey, type TokenAccess, tokenLocation } from "../keystore/key-store.js";
import { parsePkcs11Uri } from "../keystore/pkcs11-uri.js";
import { pemOrDer } from "../pem.js";
import { mustGet, utf8 } from "../store/blobs.js";
import type { CaRecord, CaRegistry, StoreConfig } from "../store/config.js";
import { type Issuer, storeKeys } from "../store/keys.js";
import { corruptError } from "../store/records.js";
import type { StoreReader } from "../store/storage.js";
import { keyObjectSigner, type Signer } from "../x509/signer.js";
import { type CaId, isCaId, publishOrder, registryOf } from "./registry.js";

/**
 * Supplies the CA key passphrase when, and only when, a key turns out to be encrypted. Token
 * access (the PIN source and the command's open PKCS#11 sessions) rides along on the same
 * value, so every path that can reach a CA key file can reach a CA key in a token.
 */
export type PassphraseSource = (() => Promise<string>) & {
  tokens?: TokenAccess;
  /** It answers without asking anyone (a file, the environment): a key may be opened ahead of need. */
  unattended?: boolean;
};

/** One CA of the store with its certificate. */
export interface CaEntry extends CaRecord {
  cert: CertInfo;
}

export interface CaCerts {
  /** The root of the issuing hierarchy. */
  root: CertInfo;
  /** The issuing intermediate (absent for a single tier). */
  intermediate?: CertInfo;
  /** The CA that signs partner certificates: the intermediate, or the root for a single tier. */
  issuer: CertInfo;
  /** Its id: "intermediate" or "root" until a rollover, then e.g. "intermediate-2" (see registry.ts). */
  issuerRole: CaId;
  /** Every CA of the store, oldest first (after a rollover: old ones, retired ones too). */
  all: CaEntry[];
  registry: CaRegistry;
  /** CA keys in a PKCS#11 token (config.json ca.keyStore), by CA id. */
  keyStore?: Record<CaId, string>;
}

/** A CA of the store by id; an id the store does not know is a damaged record. */
export function caEntry(ca: CaCerts, id: CaId): CaEntry {
  const e = ca.all.find((c) => c.id === id);
  if (!e) throw envError("ERR_STORE_CORRUPT", `the store names a CA "${id}" it does not hold`, "run `mtls doctor`, or restore config.json from your backup");
  return e;
}

export const certOf = (ca: CaCerts, id: CaId): CertInfo => caEntry(ca, id).cert;

/** The CAs whose CRLs are published, issuing CA first (see registry.publishOrder). */
export const crlCas = (ca: CaCerts): CaEntry[] => publishOrder(ca.registry).map((r) => caEntry(ca, r.id));

/**
 * What a partner sends after its certificate: the intermediate that issued it ("" when a root
 * did). A certificate keeps the chain of the CA that issued it, whatever CA issues today.
 */
export function intermediatePemOf(ca: CaCerts, issuerId: CaId): string {
  const e = ca.all.find((c) => c.id === issuerId);
  return e && e.kind === "intermediate" ? e.cert.pem : "";
}

/**
 * Whether the store's file keys are encrypted, as the canary key shows (always a file, sealed
 * with the CA passphrase unless the CA was made with --insecure-no-passphrase): new CA keys are
 * protected the same way, also when the first CA keys are in a token.
 */
export async function canaryKeyEncrypted(store: StoreReader): Promise<boolean> {
  return isEncryptedKeyPem(utf8(await mustGet(store, storeKeys.canaryKey, { secret: true })));
}

/** CA ids whose certificate or key the store holds (with or without a registry entry). */
export async function caIdsOnDisk(store: StoreReader): Promise<Set<CaId>> {
  // A CA doctor moved aside as unrecorded (ca/unrecorded/) keeps its id: a new CA never reuses it.
  const keys = [...(await store.list("ca/")), ...(await store.list("private/"))].filter(
    (k) => k.split("/").length === 2 || (k.split("/").length === 3 && k.split("/")[1] === "unrecorded"),
  );
  return new Set(keys.map((k) => (k.split("/").at(-1) as string).replace(/\.(pem|key)$/, "")).filter(isCaId));
}

/** Which CA of the store issued a certificate (by name and key id); the issuing CA when none matches. */
export function issuerIdOf(ca: CaCerts, cert: CertInfo): CaId {
  const e = ca.all.find((c) => c.cert.subject === cert.issuer && (!cert.authorityKeyId || c.cert.subjectKeyId === cert.authorityKeyId));
  return e?.id ?? ca.issuerRole;
}

/** The issuing intermediate's and root's certificates of a CA: leaf → root order, for PKCS#12. */
export function chainCertsOf(ca: CaCerts, issuerId: CaId): CertInfo[] {
  const e = ca.all.find((c) => c.id === issuerId);
  if (!e) return [ca.root];
  if (e.kind === "root") return [e.cert];
  return [e.cert, certOf(ca, e.parent as CaId)];
}

/** A certificate of the store; a link planted in its place is not followed (#13). */
export async function readCertFile(store: StoreReader, key: string, what: string): Promise<CertInfo> {
  const bytes = Buffer.from(await mustGet(store, key));
  checkSize(bytes, INPUT_LIMITS.certificates, what);
  return parseCertificate(pemOrDer(bytes, ["CERTIFICATE"], what), what);
}

/** A CA certificate of the store; one that does not parse is a damaged store (exit 5, naming the file). */
function readCaCert(store: StoreReader, key: string, what: string): Promise<CertInfo> {
  return readCertFile(store, key, what).catch((err) => {
    if (err instanceof MtlsError && err.exit === Exit.INPUT) throw corruptError(store.where(key), undefined, err.message);
    throw err;
  });
}

export async function loadCaCerts(store: StoreReader, config: StoreConfig): Promise<CaCerts> {
  const registry = registryOf(config);
  const all: CaEntry[] = await Promise.all(
    registry.list.map(async (r) => ({ ...r, cert: await readCaCert(store, storeKeys.caCert(r.id), `the ${r.id} CA certificate`) })),
  );
  const keyStore = config.ca.keyStore ? { keyStore: config.ca.keyStore } : {};
  const issuing = all.find((c) => c.id === registry.issuing) as CaEntry;
  if (issuing.kind === "root") return { root: issuing.cert, issuer: issuing.cert, issuerRole: issuing.id, all, registry, ...keyStore };
  const root = (all.find((c) => c.id === issuing.parent) as CaEntry).cert;
  return { root, intermediate: issuing.cert, issuer: issuing.cert, issuerRole: issuing.id, all, registry, ...keyStore };
}

export interface CaKey {
  /**
   * Every signature by this CA goes through it, wherever the key lives. (There is deliberately
   * no CryptoKey here: a token key has none, so signing code that took one would fail on it.)
   */
  signer: Signer;
  /** A file key for node:crypto's synchronous signing (partner leaves, in bulk). */
  keyObject?: KeyObject;
  keyType: KeyType;
  location: KeyLocation;
}

/**
 * Loads and decrypts a CA key, refusing a key others can read (the storage's getSecret) and a
 * key that does not belong to the certificate it is supposed to sign for.
 */
export async function loadCaKey(
  store: StoreReader,
  key: string,
  certificate: CertInfo | Promise<CertInfo>,
  passphrase: PassphraseSource | undefined,
  what: string,
): Promise<CaKey> {
  const pem = utf8(await mustGet(store, key, { secret: true }));
  const encrypted = pem.includes("ENCRYPTED PRIVATE KEY");
  const pkcs8 = await decryptKeyPemAsync(pem, encrypted && passphrase ? await passphrase() : undefined, what).catch((err) =>
    // A key file of the store that is no key is damage to the store, not bad input.
    Promise.reject(
      err?.code === "ERR_KEY_CORRUPT"
        ? envError("ERR_KEY_CORRUPT", `${what} (${store.where(key)}) is not a readable private key`, "restore it from your backup", err)
        : err,
    ),
  );
  const cert = await certificate;
  const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "der", type: "spki" });
  if (!spki.equals(cert.spki)) {
    throw inputError(
      "ERR_CA_KEY_MISMATCH",
      `${what} does not match its certificate (${cert.subject})`,
      "restore the matching key and certificate from your backup",
    );
  }
  const keyType = keyTypeOf(cert.spki);
  const keyObject = keyObjectFromPkcs8(pkcs8);
  return {
    signer: keyObjectSigner(keyObject, keyType, cert.spki),
    keyObject,
    keyType,
    location: { kind: "file", path: store.where(key) },
  };
}

/** A CA key in a PKCS#11 token: the token must be there, the PIN right, and the key the certificate's. */
async function loadTokenCaKey(uriText: string, role: CaId, cert: CertInfo, passphrase: PassphraseSource | undefined, what: string): Promise<CaKey> {
  const uri = parsePkcs11Uri(uriText, `config.json ca.keyStore.${role}`);
  if (!passphrase?.tokens)
    throw new MtlsError(
      "ERR_PIN_REQUIRED",
      `${what} is in a PKCS#11 token and no PIN source was given`,
      Exit.USAGE,
      "set MTLS_PKCS11_PIN or pass --pin-file <file>",
    );
  const { signer, keyType } = await openTokenCaKey(passphrase.tokens, uri, cert, what);
  return { signer, keyType, location: tokenLocation(uri) };
}

/** The token URI config.json gives a CA's key, or undefined for a key in private/<id>.key. */
export const tokenUriOf = (keyStore: Record<CaId, string> | undefined, id: CaId): string | undefined =>
  keyStore && Object.hasOwn(keyStore, id) ? keyStore[id] : undefined;

/** A CA's key, from its file or its token as config.json says. */
export function loadRoleKey(store: StoreReader, ca: CaCerts, role: CaId, cert: CertInfo, passphrase: PassphraseSource | undefined): Promise<CaKey> {
  const what = `the ${role} CA key`;
  const uri = tokenUriOf(ca.keyStore, role);
  if (uri !== undefined) return loadTokenCaKey(uri, role, cert, passphrase, what);
  return loadCaKey(store, storeKeys.caKey(role as Issuer), cert, passphrase, what);
}

/** CA keys by CA id ("root", "intermediate", after a rollover "intermediate-2" …). */
export interface CaKeys {
  [id: CaId]: CaKey | undefined;
}

/** The key of the CA that signs partner certificates: the intermediate, or the root in a one-tier PKI. */
export function loadIssuingKey(store: StoreReader, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKey> {
  return loadRoleKey(store, ca, ca.issuerRole, ca.issuer, passphrase);
}

/**
 * loadIssuingKey begun before the CA certificates are read, from config.json alone: a file key's
 * derivation (the slow part) runs in the thread pool while they are read and the request is
 * checked (#21); the key is still held to its certificate once that is read.
 */
export async function loadIssuingKeyEarly(
  store: StoreReader,
  config: StoreConfig,
  certs: Promise<CaCerts>,
  passphrase: PassphraseSource | undefined,
): Promise<CaKey> {
  const role = registryOf(config).issuing;
  if (tokenUriOf(config.ca.keyStore, role) !== undefined) return loadIssuingKey(store, await certs, passphrase);
  const issuer = certs.then((ca) => ca.issuer);
  // Awaited only once the key is decrypted: the certificates' own failure (a missing CA file) is
  // the caller's to report, who awaits `certs` too; this copy of it must not crash the process.
  issuer.catch(() => {});
  return loadCaKey(store, storeKeys.caKey(role as Issuer), issuer, passphrase, `the ${role} CA key`);
}

/** The key of any CA of the store. */
export const loadKeyOf = (store: StoreReader, ca: CaCerts, id: CaId, passphrase: PassphraseSource | undefined): Promise<CaKey> =>
  loadRoleKey(store, ca, id, certOf(ca, id), passphrase);

/** The keys of every CA that signs CRLs. Decrypt before taking the store lock: it is slow. */
export async function loadCaKeys(store: StoreReader, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKeys> {
  const ids = crlCas(ca).map((c) => c.id);
  const keys = await Promise.all(ids.map((id) => loadKeyOf(store, ca, id, passphrase)));
  return Object.fromEntries(ids.map((id, i) => [id, keys[i]]));
}

/**
 * Proves the CA passphrase by opening a key sealed with it: the issuing CA key, or, when that key
 * is in a token, the canary's key (sealed with the same passphrase at `ca init`).
 */
export async function provePassphrase(store: StoreReader, ca: CaCerts, passphrase: PassphraseSource): Promise<void> {
  const issuing = tokenUriOf(ca.keyStore, ca.issuerRole);
  if (issuing === undefined) {
    await loadIssuingKey(store, ca, passphrase);
    return;
  }
  const pem = utf8(await mustGet(store, storeKeys.canaryKey));
  if (pem.includes("ENCRYPTED PRIVATE KEY")) await decryptKeyPemAsync(pem, await passphrase(), "the canary key");
}
