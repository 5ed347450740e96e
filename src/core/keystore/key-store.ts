// Where a CA key lives: an encrypted file in the PKI (the default) or a PKCS#11 token, named in
// config.json by its RFC 7512 URI. Either way the rest of the core signs through a Signer.
import { randomBytes, verify } from "node:crypto";
import { inputError } from "../errors.js";
import { type KeyType, keyTypeOf } from "../keys.js";
import type { CertInfo } from "../pki.js";
import { signatureAlgorithmDer } from "../x509/algorithm.js";
import type { Signer } from "../x509/signer.js";
import type { TokenAccess } from "./access.js";
import type { TokenKey } from "./pkcs11.js";
import { describeToken, formatPkcs11Uri, type Pkcs11Uri } from "./pkcs11-uri.js";

export type { TokenAccess } from "./access.js";

/** Where a key is, as `ca show`, `doctor` and `status` report it. */
export type KeyLocation = { kind: "file"; path: string } | { kind: "pkcs11"; uri: string; token: string };

export function tokenLocation(uri: Pkcs11Uri): KeyLocation {
  return { kind: "pkcs11", uri: formatPkcs11Uri(uri), token: describeToken(uri) };
}

/** A Signer over a token key. Each signature is one C_Sign in the command's open session. */
export function tokenSigner(key: TokenKey, spki: Uint8Array): Signer {
  return { keyType: key.keyType, algorithm: signatureAlgorithmDer(key.keyType), spki, sign: async (tbs) => key.sign(tbs) };
}

/**
 * Opens the token key of a CA and proves it is the key of `cert`: a test signature must verify
 * under the certificate's public key, so a URI pointing at the wrong key fails here, not in a
 * gateway.
 */
export async function openTokenCaKey(
  access: TokenAccess,
  uri: Pkcs11Uri,
  cert: CertInfo,
  what: string,
): Promise<{ signer: Signer; key: TokenKey; keyType: KeyType }> {
  const keyType = keyTypeOf(cert.spki);
  const sessions = await access.sessions();
  const key = await sessions.key(uri, keyType, access.pin);
  const challenge = randomBytes(32);
  const sig = key.sign(challenge);
  const ok = verify(keyType === "ec-p384" ? "sha384" : "sha256", challenge, { key: Buffer.from(cert.spki), format: "der", type: "spki" }, sig);
  if (!ok)
    throw inputError(
      "ERR_CA_KEY_MISMATCH",
      `${what} in ${describeToken(uri)} does not match its certificate (${cert.subject})`,
      "check the key store URI in config.json against `pkcs11-tool --list-objects`",
    );
  return { signer: tokenSigner(key, cert.spki), key, keyType };
}
