import { children, readTlv } from "../der.js";
import { inputError } from "../errors.js";
import { describePublicKey } from "../keys.js";
import { assertRsaKeySound } from "../rsa-key.js";

/**
 * Key policy for partner certificates: RSA 2048-8192 (rsaEncryption) or ECDSA P-256/P-384.
 * P-521 is refused because BoringSSL-based gateways (Envoy) do not offer it for client auth;
 * RSA-PSS-only and EdDSA keys because several gateways and Java clients cannot use them.
 * Returns the key's label ("ec-p256", "rsa-3072").
 */
export function checkKeyPolicy(spki: Uint8Array, what: string): string {
  // The arithmetic first: Node may not even parse a key with an even modulus, and "even modulus"
  // is the useful message.
  assertRsaKeySound(spki, what);
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

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Why a subject Name's strings are not what their ASN.1 types promise, if they are not:
 * UTF8String must be valid UTF-8, PrintableString and IA5String must keep to their alphabets,
 * BMPString must have whole UCS-2 units, and the legacy types are not accepted at all.
 */
export function subjectEncodingProblem(nameDer: Uint8Array): string | undefined {
  try {
    for (const set of children(nameDer, readTlv(nameDer, 0))) {
      for (const atv of children(nameDer, set)) {
        const value = children(nameDer, atv)[1];
        if (!value) return "an attribute without a value";
        const bytes = nameDer.subarray(value.start, value.end);
        switch (value.tag) {
          case 0x0c:
            try {
              strictUtf8.decode(bytes);
            } catch {
              return "a UTF8String that is not valid UTF-8";
            }
            break;
          case 0x13:
            if (!PRINTABLE.test(Buffer.from(bytes).toString("latin1"))) return "a PrintableString with characters outside its alphabet";
            break;
          case 0x16:
            if (bytes.some((b) => b > 0x7f)) return "an IA5String with non-ASCII bytes";
            break;
          case 0x1e:
            if (bytes.length % 2) return "a BMPString with an odd number of bytes";
            break;
          default:
            return `a string of ASN.1 type ${value.tag} (T61String, UniversalString …), which mtls does not issue`;
        }
      }
    }
  } catch {
    return "a malformed Name";
  }
  return undefined;
}
