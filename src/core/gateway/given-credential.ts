// The certificate and key an operator gives `gateway serve` (--server-cert, --server-key): checked
// here, so that a file holding something else is named (exit 3) instead of failing deep inside the
// TLS server's constructor with OpenSSL's "no start line".
import { createPrivateKey, createPublicKey } from "node:crypto";
import { inputError, usageError } from "../errors.js";
import { decodePemBlocks } from "../pem.js";
import { parseCertificate } from "../pki.js";
import { assertRsaKeySound } from "../rsa-key.js";

export interface GivenCredential {
  /** The gateway's certificate chain (PEM), leaf first, and where it came from for messages. */
  certPem?: string;
  certSource?: string;
  keyPem?: string;
  keySource?: string;
}

/** Refuses one of the pair without the other: the lone file would otherwise be ignored without a word. */
export function checkCredentialPair(c: Pick<GivenCredential, "certPem" | "keyPem">): void {
  if ((c.certPem === undefined) === (c.keyPem === undefined)) return;
  const [given, missing] = c.certPem === undefined ? ["--server-key", "--server-cert"] : ["--server-cert", "--server-key"];
  throw usageError("ERR_USAGE", `${given} needs ${missing}`, "pass both, or neither for a certificate issued from the PKI for localhost");
}

/** The given chain and key when both are usable together (exit 3 naming the file otherwise); undefined when none was given. */
export function checkGivenCredential(c: GivenCredential): { certPem: string; keyPem: string } | undefined {
  checkCredentialPair(c);
  if (c.certPem === undefined || c.keyPem === undefined) return undefined;
  const certSource = c.certSource ?? "--server-cert";
  const keySource = c.keySource ?? "--server-key";
  const leafBlock = decodePemBlocks(c.certPem).find((b) => b.label === "CERTIFICATE");
  if (!leafBlock)
    throw inputError("ERR_CERT_PARSE", `${certSource} holds no PEM certificate`, "give the gateway's certificate chain in PEM, its own certificate first");
  const leaf = parseCertificate(leafBlock.der, certSource);
  assertRsaKeySound(leaf.spki, certSource);
  let keySpki: Buffer;
  try {
    keySpki = createPublicKey(createPrivateKey(c.keyPem)).export({ format: "der", type: "spki" });
  } catch (err) {
    throw inputError("ERR_KEY_CORRUPT", `${keySource} is not a readable, unencrypted private key (PEM)`, undefined, err);
  }
  if (!keySpki.equals(leaf.spki)) throw inputError("ERR_KEY_MISMATCH", `${keySource} does not belong to the certificate in ${certSource}`);
  return { certPem: c.certPem, keyPem: c.keyPem };
}
