import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { lstat } from "node:fs/promises";
import { Exit, envError, fsError, inputError, MtlsError } from "../errors.js";
import { INPUT_LIMITS, readFileBounded } from "../input.js";
import { decryptKeyPemAsync, importSigningKey, type KeyType, keyObjectFromPkcs8, keyTypeOf } from "../keys.js";
import { pemOrDer } from "../pem.js";
import { type CertInfo, parseCertificate } from "../pki.js";
import type { StoreConfig } from "../store/config.js";
import { readText } from "../store/fs.js";
import type { Layout } from "../store/layout.js";
import { corruptError } from "../store/records.js";
import { keyObjectSigner, type Signer } from "../x509/signer.js";

/** Supplies the CA key passphrase when, and only when, a key turns out to be encrypted. */
export type PassphraseSource = () => Promise<string>;

export interface CaCerts {
  root: CertInfo;
  intermediate?: CertInfo;
  /** The CA that signs partner certificates: the intermediate, or the root for a single tier. */
  issuer: CertInfo;
  issuerRole: "intermediate" | "root";
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
  const root = await readCaCert(layout.rootCert, "the root CA certificate");
  if (!config.ca.intermediate) return { root, issuer: root, issuerRole: "root" };
  const intermediate = await readCaCert(layout.intermediateCert, "the intermediate CA certificate");
  return { root, intermediate, issuer: intermediate, issuerRole: "intermediate" };
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

export interface CaKeys {
  root: CaKey;
  intermediate?: CaKey;
}

/** Both CA keys (CRLs are signed by each CA). Decrypt before taking the store lock: it is slow. */
/** The key of the CA that signs partner certificates: the intermediate, or the root in a one-tier PKI. */
export function loadIssuingKey(layout: Layout, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKey> {
  return loadCaKey(ca.issuerRole === "root" ? layout.rootKey : layout.intermediateKey, ca.issuer, passphrase, `the ${ca.issuerRole} CA key`);
}

export async function loadCaKeys(layout: Layout, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKeys> {
  const [root, intermediate] = await Promise.all([
    loadCaKey(layout.rootKey, ca.root, passphrase, "the root CA key"),
    ca.intermediate ? loadCaKey(layout.intermediateKey, ca.intermediate, passphrase, "the intermediate CA key") : undefined,
  ]);
  return intermediate ? { root, intermediate } : { root };
}
