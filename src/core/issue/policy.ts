import { inputError } from "../errors.js";
import { describePublicKey } from "../keys.js";

/**
 * Key policy for partner certificates: RSA 2048-8192 (rsaEncryption) or ECDSA P-256/P-384.
 * P-521 is refused because BoringSSL-based gateways (Envoy) do not offer it for client auth;
 * RSA-PSS-only and EdDSA keys because several gateways and Java clients cannot use them.
 * Returns the key's label ("ec-p256", "rsa-3072").
 */
export function checkKeyPolicy(spki: Uint8Array, what: string): string {
  const k = describePublicKey(spki);
  const refuse = (why: string) =>
    inputError("ERR_KEY_POLICY", `${what} has a ${k.label} key: ${why}`, "use an RSA key of at least 2048 bits or an EC key on P-256 or P-384");
  switch (k.family) {
    case "rsa":
      if ((k.bits ?? 0) < 2048) throw refuse("RSA keys must have at least 2048 bits");
      if ((k.bits ?? 0) > 8192) throw refuse("RSA keys larger than 8192 bits are not accepted");
      return k.label;
    case "ec":
      if (k.label === "ec-p256" || k.label === "ec-p384") return k.label;
      throw refuse(`curve ${k.curve} is not accepted (only P-256 and P-384)`);
    case "dsa":
      throw refuse("DSA keys are not accepted");
    case "unknown":
      throw refuse("the key algorithm is not recognised");
    default:
      throw refuse(`${k.family} keys are not accepted`);
  }
}
