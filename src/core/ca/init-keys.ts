// The CA keys of a new CA: made in memory and sealed into files, or generated inside a PKCS#11
// token where they stay (only their URI and public key reach the PKI).
import { usageError } from "../errors.js";
import { encryptPkcs8, exportPkcs8, exportSpki, generateKeyPair, type KeyType } from "../keys.js";
import { type KeyLocation, type TokenAccess, tokenLocation, tokenSigner } from "../keystore/key-store.js";
import { formatPkcs11Uri, type Pkcs11Uri, parsePkcs11Uri } from "../keystore/pkcs11-uri.js";
import { encodePem } from "../pem.js";
import { cryptoKeySigner, type Signer } from "../x509/signer.js";
import type { CaId } from "./registry.js";

export interface NewCaKey {
  role: CaId;
  spki: Buffer;
  signer: Signer;
  location: KeyLocation;
  /** The key file's content (PEM, encrypted unless insecure); absent for a token key. */
  pem?: string;
  /** The stored URI of a token key (config.json ca.keyStore). */
  uri?: string;
}

export interface KeyPlan {
  /** Token of each role, or undefined for a file key. */
  root?: Pkcs11Uri;
  intermediate?: Pkcs11Uri;
}

/** A token named on the command line (--key-store): mtls names the keys it puts there, so the URI names no key. */
export function parseTokenFlag(text: string, flag: string): Pkcs11Uri {
  const uri = parsePkcs11Uri(text, flag);
  if (uri.object !== undefined || uri.id !== undefined)
    throw usageError(
      "ERR_PKCS11_URI",
      `${flag} names a token, not a key: leave out object= and id= (mtls names the keys it puts there)`,
      "e.g. --key-store 'pkcs11:token=mtls-ca?module-path=/usr/lib/softhsm/libsofthsm2.so'",
    );
  return uri;
}

/** Tokens hold only the EC keys mtls can sign with there. */
export function checkTokenKeyType(keyType: KeyType, hint: string): void {
  if (keyType !== "ec-p256" && keyType !== "ec-p384")
    throw usageError("ERR_PKCS11_KEY_TYPE", `a ${keyType} CA key cannot be generated in a token by mtls`, hint);
}

/**
 * Which key goes where: --key-store holds both CA keys (the issuing one at least), and
 * --root-key-store puts the root elsewhere (an offline token). Checked before anything is made.
 */
export function planKeys(p: { keyStore?: string; rootKeyStore?: string; keyType: KeyType; intermediate: boolean }): KeyPlan {
  const store = p.keyStore !== undefined ? parseTokenFlag(p.keyStore, "--key-store") : undefined;
  const rootStore = p.rootKeyStore !== undefined ? parseTokenFlag(p.rootKeyStore, "--root-key-store") : store;
  if (store || rootStore) checkTokenKeyType(p.keyType, "use --key-type ec-p256 or ec-p384 with --key-store / --root-key-store");
  return { ...(rootStore ? { root: rootStore } : {}), ...(store && p.intermediate ? { intermediate: store } : {}) };
}

export interface MakeKeyParams {
  role: CaId;
  keyType: KeyType;
  token?: Pkcs11Uri;
  tokens?: TokenAccess;
  passphrase?: string;
  insecureNoPassphrase?: boolean;
}

/** One CA key pair, in a token or in memory (then sealed for its file). */
export async function makeCaKey(p: MakeKeyParams): Promise<NewCaKey> {
  if (p.token) {
    const { tokens } = p;
    if (!tokens) throw usageError("ERR_PIN_REQUIRED", "a PKCS#11 key store needs the token's PIN", "set MTLS_PKCS11_PIN or pass --pin-file <file>");
    const sessions = await tokens.sessions();
    const made = await sessions.generate(p.token, p.keyType, p.role, tokens.pin);
    const key = await sessions.key(made.uri, p.keyType, tokens.pin).catch(async (err) => {
      await sessions.discard(made.uri, tokens.pin);
      throw err;
    });
    return { role: p.role, spki: made.spki, signer: tokenSigner(key, made.spki), location: tokenLocation(made.uri), uri: formatPkcs11Uri(made.uri) };
  }
  const pair = await generateKeyPair(p.keyType);
  const spki = await exportSpki(pair.publicKey);
  const der = await exportPkcs8(pair.privateKey);
  const pem = p.insecureNoPassphrase ? encodePem("PRIVATE KEY", der) : await encryptPkcs8(der, p.passphrase as string);
  return { role: p.role, spki, signer: cryptoKeySigner(pair.privateKey, p.keyType, spki), location: { kind: "file", path: "" }, pem };
}

/** Removes token keys a failed init generated (file keys vanish with the temp directory). */
export async function discardCaKeys(keys: Array<NewCaKey | undefined>, tokens: TokenAccess | undefined): Promise<void> {
  if (!tokens) return;
  for (const k of keys) {
    if (!k?.uri) continue;
    const sessions = await tokens.sessions();
    await sessions.discard(parsePkcs11Uri(k.uri, "generated key"), tokens.pin);
  }
}
