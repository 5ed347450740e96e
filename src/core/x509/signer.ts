// The one signing interface of the core: certificates, CRLs and OCSP responses are signed through
// a Signer, so where the key lives (an encrypted file, a PKCS#11 token) is the Signer's business.
import { type KeyObject, sign, webcrypto } from "node:crypto";
import { ecdsaRawToDer } from "../der.js";
import { type KeyType, keyAlgorithms, signingDigest } from "../keys.js";
import { signatureAlgorithmDer, wrapSigned } from "./algorithm.js";

export interface Signer {
  /** The key's type: decides the signature algorithm and digest. */
  readonly keyType: KeyType;
  /** The signature AlgorithmIdentifier (DER) this signer's signatures are made with. */
  readonly algorithm: Uint8Array;
  /** The public key as SubjectPublicKeyInfo (DER): key identifiers and CertIDs derive from it. */
  readonly spki: Uint8Array;
  /**
   * Signs `tbs` (the DER to be signed) and returns the signature as X.509 carries it in the
   * BIT STRING: ECDSA as a DER Ecdsa-Sig-Value, RSA as PKCS#1 v1.5 bytes.
   */
  sign(tbs: Uint8Array): Promise<Uint8Array>;
}

/** A signer over a key held in memory (decrypted from its file): node:crypto signs synchronously. */
export function keyObjectSigner(key: KeyObject, keyType: KeyType, spki: Uint8Array): Signer {
  return {
    keyType,
    algorithm: signatureAlgorithmDer(keyType),
    spki,
    // ECDSA comes out DER-encoded (dsaEncoding "der" is node's default), RSA as PKCS#1 v1.5.
    sign: async (tbs) => sign(signingDigest(keyType), tbs, key),
  };
}

/** A signer over a WebCrypto key (non-extractable keys, keys imported once). */
export function cryptoKeySigner(key: CryptoKey, keyType: KeyType, spki: Uint8Array): Signer {
  return {
    keyType,
    algorithm: signatureAlgorithmDer(keyType),
    spki,
    sign: async (tbs) => {
      const raw = new Uint8Array(await webcrypto.subtle.sign(keyAlgorithms(keyType).sign as AlgorithmIdentifier, key, tbs));
      return keyType.startsWith("ec-") ? ecdsaRawToDer(raw) : raw;
    },
  };
}

/** Signs `tbs` and wraps it: the complete signed object (certificate, CRL, BasicOCSPResponse body). */
export async function signAndWrap(signer: Signer, tbs: Uint8Array): Promise<Buffer> {
  return wrapSigned(tbs, signer.algorithm, await signer.sign(tbs));
}

/**
 * The file-key signer: the CA key as stored in the PKI (PKCS#8 PEM, encrypted under the
 * passphrase or not), decrypted into memory for the life of the signer.
 */
export async function fileKeySigner(keyPem: string, passphrase: string | undefined, what: string, spki: Uint8Array): Promise<Signer> {
  const { decryptKeyPemAsync, keyObjectFromPkcs8, keyTypeOf } = await import("../keys.js");
  const pkcs8 = await decryptKeyPemAsync(keyPem, passphrase, what);
  return keyObjectSigner(keyObjectFromPkcs8(pkcs8), keyTypeOf(spki), spki);
}
