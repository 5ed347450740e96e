// Arithmetic checks of RSA public keys a partner hands us (#13). A parser accepts any integers,
// and some are not keys at all: with e = 1 a "signature" is the message itself, so a CSR made
// without any private key verified, was issued, and passed a TLS handshake. An even modulus has
// the factor 2; a tiny exponent invites the e = 3 forgeries of lax PKCS#1 v1.5 verifiers.
import { children, readOid, readTlv } from "./der.js";
import { inputError } from "./errors.js";

const OID_RSA = "1.2.840.113549.1.1.1";
const OID_RSA_PSS = "1.2.840.113549.1.1.10";

/**
 * 65537 ≤ e < 2^256, odd: FIPS 186-4 B.3.1 and NIST SP 800-89. e = 3 is sound with strict
 * padding checks, but gateways run many verifiers, and e = 3 is what Bleichenbacher's 2006
 * signature forgery against lax ones needs; every mainstream generator uses 65537 anyway.
 */
const MIN_EXPONENT = 65537n;
const EXPONENT_BITS_LIMIT = 256;

/** An unsigned big-endian integer without leading zero bytes, as a bigint and its bit length. */
function unsigned(bytes: Uint8Array): { value: bigint; bits: number } {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  if (b.length === 0) return { value: 0n, bits: 0 };
  const value = BigInt(`0x${Buffer.from(b).toString("hex")}`);
  return { value, bits: (b.length - 1) * 8 + (b[0] as number).toString(2).length };
}

/**
 * Why an RSA key with modulus `n` and exponent `e` (unsigned big-endian) is refused, if it is.
 * The modulus must be odd and exactly as long as its encoding says: its top bit set, so a
 * "2048-bit" key really has 2048 bits (every mainstream generator makes keys so; a shorter
 * one hides behind its byte count).
 */
export function rsaParamsProblem(n: Uint8Array, e: Uint8Array): string | undefined {
  const mod = unsigned(n);
  const exp = unsigned(e);
  if (mod.bits === 0) return "a zero modulus";
  if ((mod.value & 1n) === 0n) return "an even modulus (it has the factor 2)";
  if (mod.bits % 8 !== 0) return `a ${mod.bits}-bit modulus, not the ${Math.ceil(mod.bits / 8) * 8} bits its encoding states`;
  if ((exp.value & 1n) === 0n) return `an even public exponent (${exp.value})`;
  if (exp.value < MIN_EXPONENT) return `public exponent ${exp.value} (at least 65537 is required)`;
  if (exp.bits > EXPONENT_BITS_LIMIT) return `a ${exp.bits}-bit public exponent (below 2^256 is required)`;
  if (exp.value >= mod.value) return "a public exponent not below the modulus";
  return undefined;
}

/** A DER INTEGER's content: refused when negative or not minimally encoded (DER, X.690 8.3.2). */
function derUnsigned(buf: Uint8Array, start: number, end: number): Uint8Array | undefined {
  const b = buf.subarray(start, end);
  if (b.length === 0 || ((b[0] as number) & 0x80) !== 0) return undefined;
  if (b.length > 1 && b[0] === 0 && ((b[1] as number) & 0x80) === 0) return undefined;
  return b;
}

/**
 * Why an RSA SubjectPublicKeyInfo (rsaEncryption or RSASSA-PSS) is refused, if it is; undefined
 * for keys of other algorithms, which the key policy judges.
 */
export function rsaSpkiProblem(spki: Uint8Array): string | undefined {
  let algorithm: string;
  try {
    const [alg] = children(spki, readTlv(spki, 0));
    algorithm = readOid(spki, children(spki, alg as ReturnType<typeof readTlv>)[0] as ReturnType<typeof readTlv>);
  } catch {
    return undefined; // not DER we can read: the parser that produced it decides
  }
  if (algorithm !== OID_RSA && algorithm !== OID_RSA_PSS) return undefined;
  try {
    const [, bits] = children(spki, readTlv(spki, 0));
    if (bits?.tag !== 0x03 || spki[bits.start] !== 0) return "a malformed RSA public key";
    const keyDer = spki.subarray(bits.start + 1, bits.end);
    const outer = readTlv(keyDer, 0);
    const [n, e, ...rest] = children(keyDer, outer);
    if (!n || !e || rest.length || n.tag !== 0x02 || e.tag !== 0x02 || outer.end !== keyDer.length) return "a malformed RSA public key";
    const nBytes = derUnsigned(keyDer, n.start, n.end);
    const eBytes = derUnsigned(keyDer, e.start, e.end);
    if (!nBytes) return "a negative or non-minimally encoded modulus";
    if (!eBytes) return "a negative or non-minimally encoded public exponent";
    return rsaParamsProblem(nBytes, eBytes);
  } catch {
    return "a malformed RSA public key";
  }
}

/** Throws exit 3 when `spki` is an RSA key that fails rsaSpkiProblem. */
export function assertRsaKeySound(spki: Uint8Array, what: string): void {
  const problem = rsaSpkiProblem(spki);
  if (problem)
    throw inputError(
      "ERR_KEY_POLICY",
      `${what} has an unusable RSA key: ${problem}`,
      "use a key made by a standard tool (e.g. openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072)",
    );
}
