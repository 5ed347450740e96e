import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { lstat } from "node:fs/promises";
import { Exit, envError, fsError, inputError, MtlsError } from "../errors.js";
import { INPUT_LIMITS, readFileBounded } from "../input.js";
import { decryptKeyPemAsync, type KeyType, keyObjectFromPkcs8, keyTypeOf } from "../keys.js";
import { type CaRole, type KeyLocation, openTokenCaKey, type TokenAccess, tokenLocation } from "../keystore/key-store.js";
import { parsePkcs11Uri } from "../keystore/pkcs11-uri.js";
import { pemOrDer } from "../pem.js";
import { type CertInfo, parseCertificate } from "../pki.js";
import type { StoreConfig } from "../store/config.js";
import { readText } from "../store/fs.js";
import type { Layout } from "../store/layout.js";
import { corruptError } from "../store/records.js";
import { keyObjectSigner, type Signer } from "../x509/signer.js";

/**
 * Supplies the CA key passphrase when, and only when, a key turns out to be encrypted. Token
 * access (the PIN source and the command's open PKCS#11 sessions) rides along on the same
 * value, so every path that can reach a CA key file can reach a CA key in a token.
 */
export type PassphraseSource = (() => Promise<string>) & { tokens?: TokenAccess };

export interface CaCerts {
  root: CertInfo;
  intermediate?: CertInfo;
  /** The CA that signs partner certificates: the intermediate, or the root for a single tier. */
  issuer: CertInfo;
  issuerRole: "intermediate" | "root";
  /** CA keys in a PKCS#11 token (config.json ca.keyStore), by role. */
  keyStore?: { root?: string; intermediate?: string };
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
  const keyStore = config.ca.keyStore ? { keyStore: config.ca.keyStore } : {};
  if (!config.ca.intermediate) return { root, issuer: root, issuerRole: "root", ...keyStore };
  const intermediate = await readCaCert(layout.intermediateCert, "the intermediate CA certificate");
  return { root, intermediate, issuer: intermediate, issuerRole: "intermediate", ...keyStore };
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
  return {
    signer: keyObjectSigner(keyObject, keyType, cert.spki),
    keyObject,
    keyType,
    location: { kind: "file", path },
  };
}

/** A CA key in a PKCS#11 token: the token must be there, the PIN right, and the key the certificate's. */
async function loadTokenCaKey(uriText: string, role: CaRole, cert: CertInfo, passphrase: PassphraseSource | undefined, what: string): Promise<CaKey> {
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

/** A CA's key, from its file or its token as config.json says. */
export function loadRoleKey(layout: Layout, ca: CaCerts, role: CaRole, cert: CertInfo, passphrase: PassphraseSource | undefined): Promise<CaKey> {
  const what = `the ${role} CA key`;
  const uri = ca.keyStore?.[role];
  if (uri !== undefined) return loadTokenCaKey(uri, role, cert, passphrase, what);
  return loadCaKey(role === "root" ? layout.rootKey : layout.intermediateKey, cert, passphrase, what);
}

export interface CaKeys {
  root: CaKey;
  intermediate?: CaKey;
}

/** Both CA keys (CRLs are signed by each CA). Decrypt before taking the store lock: it is slow. */
/** The key of the CA that signs partner certificates: the intermediate, or the root in a one-tier PKI. */
export function loadIssuingKey(layout: Layout, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKey> {
  return loadRoleKey(layout, ca, ca.issuerRole, ca.issuer, passphrase);
}

export async function loadCaKeys(layout: Layout, ca: CaCerts, passphrase: PassphraseSource | undefined): Promise<CaKeys> {
  const [root, intermediate] = await Promise.all([
    loadRoleKey(layout, ca, "root", ca.root, passphrase),
    ca.intermediate ? loadRoleKey(layout, ca, "intermediate", ca.intermediate, passphrase) : undefined,
  ]);
  return intermediate ? { root, intermediate } : { root };
}

/**
 * Proves the CA passphrase by opening a key sealed with it: the issuing CA key, or, when that key
 * is in a token, the canary's key (sealed with the same passphrase at `ca init`).
 */
export async function provePassphrase(layout: Layout, ca: CaCerts, passphrase: PassphraseSource): Promise<void> {
  if (ca.keyStore?.[ca.issuerRole] === undefined) {
    await loadIssuingKey(layout, ca, passphrase);
    return;
  }
  const pem = await readText(layout.canaryKey);
  if (pem.includes("ENCRYPTED PRIVATE KEY")) await decryptKeyPemAsync(pem, await passphrase(), "the canary key");
}
