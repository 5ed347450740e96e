import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { lstat, readdir } from "node:fs/promises";
import { Exit, envError, fsError, inputError, MtlsError } from "../errors.js";
import { INPUT_LIMITS, readFileBounded } from "../input.js";
import { decryptKeyPemAsync, importSigningKey, isEncryptedKeyPem, type KeyType, keyObjectFromPkcs8, keyTypeOf } from "../keys.js";
import { pemOrDer } from "../pem.js";
import { type CertInfo, parseCertificate } from "../pki.js";
import type { CaRecord, CaRegistry, StoreConfig } from "../store/config.js";
import { readText } from "../store/fs.js";
import type { Layout } from "../store/layout.js";
import { corruptError } from "../store/records.js";
import { keyObjectSigner, type Signer } from "../x509/signer.js";
import { type CaId, isCaId, publishOrder, registryOf } from "./registry.js";

/** Supplies the CA key passphrase when, and only when, a key turns out to be encrypted. */
export type PassphraseSource = () => Promise<string>;

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

/** Whether the root key is stored encrypted: new CA keys are protected the same way. */
export async function rootKeyEncrypted(layout: Layout): Promise<boolean> {
  return isEncryptedKeyPem(await readText(layout.rootKey));
}

/** CA ids whose certificate or key file exists (with or without a registry entry). */
export async function caIdsOnDisk(layout: Layout): Promise<Set<CaId>> {
  const names = [...(await readdir(layout.caDir).catch(() => [])), ...(await readdir(layout.privateDir).catch(() => []))];
  return new Set(names.map((n) => n.replace(/\.(pem|key)$/, "")).filter(isCaId));
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
export async function readCertFile(path: string, what: string): Promise<CertInfo> {
  const bytes = await readFileBounded(path, INPUT_LIMITS.certificates, what, { noFollow: true });
  return parseCertificate(pemOrDer(bytes, ["CERTIFICATE"], what), what);
}

/** A CA certificate of the store; one that does not parse is a damaged store (exit 5, naming the file). */
function readCaCert(path: string, what: string): Promise<CertInfo> {
  return readCertFile(path, what).catch((err) => {
    if (err instanceof MtlsError && err.exit === Exit.INPUT) throw corruptError(path, undefined, err.message);
    throw err;
  });
}

export async function loadCaCerts(layout: Layout, config: StoreConfig): Promise<CaCerts> {
  const registry = registryOf(config);
  const all: CaEntry[] = await Promise.all(
    registry.list.map(async (r) => ({ ...r, cert: await readCaCert(layout.caCert(r.id), `the ${r.id} CA certificate`) })),
  );
  const issuing = all.find((c) => c.id === registry.issuing) as CaEntry;
  if (issuing.kind === "root") return { root: issuing.cert, issuer: issuing.cert, issuerRole: issuing.id, all, registry };
  const root = (all.find((c) => c.id === issuing.parent) as CaEntry).cert;
  return { root, intermediate: issuing.cert, issuer: issuing.cert, issuerRole: issuing.id, all, registry };
}

export interface CaKey {
  key: CryptoKey;
  /** The same key for node:crypto's synchronous signing (partner leaves, in bulk). */
  keyObject?: KeyObject;
  keyType: KeyType;
  /** How certificates and CRLs are signed with this key (a file key here; a token key elsewhere). */
  signer: Signer;
}

/**
 * Loads and decrypts a CA key, refusing a key file others can read and a key that does not
 * belong to the certificate it is supposed to sign for.
 */
export async function loadCaKey(path: string, cert: CertInfo, passphrase: PassphraseSource | undefined, what: string): Promise<CaKey> {
  let mode: number;
  try {
    const st = await lstat(path);
    if (!st.isFile()) throw envError("ERR_KEY_FILE", `${path} is not a regular file`, "restore the key file from your backup");
    mode = st.mode;
  } catch (err) {
    if (err instanceof Error && err.name === "MtlsError") throw err;
    throw fsError(err, path, "read");
  }
  if (mode & 0o077) {
    throw envError("ERR_KEY_PERMISSIONS", `${path} is readable by other users (mode ${(mode & 0o777).toString(8)})`, `run: chmod 600 ${path}`);
  }
  const pem = await readText(path);
  const encrypted = pem.includes("ENCRYPTED PRIVATE KEY");
  const pkcs8 = await decryptKeyPemAsync(pem, encrypted && passphrase ? await passphrase() : undefined, what);
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
  return { key: await importSigningKey(pkcs8, keyType), keyObject, keyType, signer: keyObjectSigner(keyObject, keyType, cert.spki) };
}

/** CA keys by CA id ("root", "intermediate", after a rollover "intermediate-2" …). */
export interface CaKeys {
  [id: CaId]: CaKey | undefined;
}

/** The key of the CA that signs partner certificates: the intermediate, or the root in a one-tier PKI. */
export function loadIssuingKey(layout: Layout, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKey> {
  return loadCaKey(layout.caKey(ca.issuerRole), ca.issuer, passphrase, `the ${ca.issuerRole} CA key`);
}

/** The key of any CA of the store. */
export const loadKeyOf = (layout: Layout, ca: CaCerts, id: CaId, passphrase: PassphraseSource | undefined): Promise<CaKey> =>
  loadCaKey(layout.caKey(id), certOf(ca, id), passphrase, `the ${id} CA key`);

/** The keys of every CA that signs CRLs. Decrypt before taking the store lock: it is slow. */
export async function loadCaKeys(layout: Layout, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKeys> {
  const ids = crlCas(ca).map((c) => c.id);
  const keys = await Promise.all(ids.map((id) => loadKeyOf(layout, ca, id, passphrase)));
  return Object.fromEntries(ids.map((id, i) => [id, keys[i]]));
}
