// Password-based encryption for PKCS#12: PBES2 (RFC 8018) and the PKCS#12 PBE scheme with its own
// key derivation (RFC 7292 appendix B), which the 3DES bags and every PKCS#12 MAC use. node:crypto
// has the primitives (PBKDF2, AES-CBC, DES-EDE3-CBC, HMAC) but not the appendix B KDF.
import { createCipheriv, createDecipheriv, createHash, createHmac, pbkdf2, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import { body, children, NULL, octets, oid, readOid, readTlv, seq, type Tlv, uint } from "../der.js";
import { inputError } from "../errors.js";

// Made on first use: reading pbkdf2 when the module loads would load node:crypto for every
// `mtls inspect`, which imports this module to recognise PKCS#12 files (#21).
const pbkdf2Async = (password: Buffer, salt: Buffer, iterations: number, keyLength: number, digest: string): Promise<Buffer> =>
  promisify(pbkdf2)(password, salt, iterations, keyLength, digest);

export const OID = {
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacSha1: "1.2.840.113549.2.7",
  hmacSha256: "1.2.840.113549.2.9",
  hmacSha384: "1.2.840.113549.2.10",
  hmacSha512: "1.2.840.113549.2.11",
  aes128cbc: "2.16.840.1.101.3.4.1.2",
  aes192cbc: "2.16.840.1.101.3.4.1.22",
  aes256cbc: "2.16.840.1.101.3.4.1.42",
  desEde3cbc: "1.2.840.113549.3.7",
  pbeSha3Des: "1.2.840.113549.1.12.1.3",
  pbeSha2Des: "1.2.840.113549.1.12.1.4",
  pbeSha40Rc2: "1.2.840.113549.1.12.1.6",
  pbeSha128Rc2: "1.2.840.113549.1.12.1.5",
  pbeSha128Rc4: "1.2.840.113549.1.12.1.1",
  pbeSha40Rc4: "1.2.840.113549.1.12.1.2",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  sha384: "2.16.840.1.101.3.4.2.2",
  sha512: "2.16.840.1.101.3.4.2.3",
} as const;

/** Human names of the algorithms `inspect` reports. */
export const ALGORITHM_NAMES: Record<string, string> = {
  [OID.pbeSha3Des]: "pbeWithSHA1And3-KeyTripleDES-CBC",
  [OID.pbeSha2Des]: "pbeWithSHA1And2-KeyTripleDES-CBC",
  [OID.pbeSha40Rc2]: "pbeWithSHA1And40BitRC2-CBC",
  [OID.pbeSha128Rc2]: "pbeWithSHA1And128BitRC2-CBC",
  [OID.pbeSha128Rc4]: "pbeWithSHA1And128BitRC4",
  [OID.pbeSha40Rc4]: "pbeWithSHA1And40BitRC4",
  [OID.sha1]: "SHA-1",
  [OID.sha256]: "SHA-256",
  [OID.sha384]: "SHA-384",
  [OID.sha512]: "SHA-512",
  [OID.aes128cbc]: "AES-128-CBC",
  [OID.aes192cbc]: "AES-192-CBC",
  [OID.aes256cbc]: "AES-256-CBC",
  [OID.desEde3cbc]: "DES-EDE3-CBC",
  [OID.hmacSha1]: "HMAC-SHA1",
  [OID.hmacSha256]: "HMAC-SHA256",
  [OID.hmacSha384]: "HMAC-SHA384",
  [OID.hmacSha512]: "HMAC-SHA512",
};

type Hash = "sha1" | "sha256" | "sha384" | "sha512";
const HASH_BY_OID: Record<string, Hash> = { [OID.sha1]: "sha1", [OID.sha256]: "sha256", [OID.sha384]: "sha384", [OID.sha512]: "sha512" };
const HMAC_BY_OID: Record<string, Hash> = { [OID.hmacSha1]: "sha1", [OID.hmacSha256]: "sha256", [OID.hmacSha384]: "sha384", [OID.hmacSha512]: "sha512" };
const CIPHER_BY_OID: Record<string, { name: string; keyLength: number }> = {
  [OID.aes128cbc]: { name: "aes-128-cbc", keyLength: 16 },
  [OID.aes192cbc]: { name: "aes-192-cbc", keyLength: 24 },
  [OID.aes256cbc]: { name: "aes-256-cbc", keyLength: 32 },
  [OID.desEde3cbc]: { name: "des-ede3-cbc", keyLength: 24 },
};

export const hashOid = (h: Hash): string => OID[h];
export const hashByOid = (o: string): Hash | undefined => HASH_BY_OID[o];

/** RFC 7292 appendix B.1: the password as a BMPString (UTF-16BE) with a two-byte NUL terminator. */
export function bmpPassword(password: string): Buffer {
  const b = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2);
  return b;
}

const BLOCK: Record<Hash, number> = { sha1: 64, sha256: 64, sha384: 128, sha512: 128 };

/** RFC 7292 appendix B.2 key derivation. `id` 1 = key, 2 = IV, 3 = MAC key. */
export function pkcs12Kdf(hash: Hash, password: string, salt: Uint8Array, iterations: number, id: 1 | 2 | 3, length: number): Buffer {
  const v = BLOCK[hash];
  const fill = (src: Uint8Array): Buffer => {
    if (src.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length] as number;
    return out;
  };
  const I = Buffer.concat([fill(salt), fill(bmpPassword(password))]);
  const D = Buffer.alloc(v, id);
  const out: Buffer[] = [];
  let produced = 0;
  while (produced < length) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    out.push(A);
    produced += A.length;
    if (produced >= length) break;
    const B = fill(A);
    // I_j = (I_j + B + 1) mod 2^(8v), for every v-byte block of I.
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (I[j + k] as number) + (B[k] as number) + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}

/** The PKCS#12 MAC: HMAC with a key from the appendix B KDF (ID 3), over the AuthenticatedSafe. */
export function pkcs12Mac(hash: Hash, password: string, salt: Uint8Array, iterations: number, data: Uint8Array): Buffer {
  const key = pkcs12Kdf(hash, password, salt, iterations, 3, createHash(hash).digest().length);
  return createHmac(hash, key).update(data).digest();
}

/** An encryption scheme to write: what a profile asks for. */
export type EncryptionScheme = { kind: "pbes2-aes256"; iterations: number } | { kind: "pkcs12-3des"; iterations: number };

/** Encrypts `data`; returns the DER AlgorithmIdentifier (OID + parameters) and the ciphertext. */
export async function pbeEncrypt(scheme: EncryptionScheme, password: string, data: Uint8Array): Promise<{ algorithm: Buffer; encrypted: Buffer }> {
  if (scheme.kind === "pkcs12-3des") {
    const salt = randomBytes(8);
    const key = pkcs12Kdf("sha1", password, salt, scheme.iterations, 1, 24);
    const iv = pkcs12Kdf("sha1", password, salt, scheme.iterations, 2, 8);
    const c = createCipheriv("des-ede3-cbc", key, iv);
    return { algorithm: seq(oid(OID.pbeSha3Des), seq(octets(salt), uint(scheme.iterations))), encrypted: Buffer.concat([c.update(data), c.final()]) };
  }
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  // PBES2 inside PKCS#12 takes the password's bytes as they are (OpenSSL and Java agree), not the BMPString.
  const key = await pbkdf2Async(Buffer.from(password, "utf8"), salt, scheme.iterations, 32, "sha256");
  const c = createCipheriv("aes-256-cbc", key, iv);
  const algorithm = seq(
    oid(OID.pbes2),
    seq(seq(oid(OID.pbkdf2), seq(octets(salt), uint(scheme.iterations), seq(oid(OID.hmacSha256), NULL))), seq(oid(OID.aes256cbc), octets(iv))),
  );
  return { algorithm, encrypted: Buffer.concat([c.update(data), c.final()]) };
}

/** What an encrypted part of a PKCS#12 file uses, as `inspect` reports it. */
export interface SchemeInfo {
  /** e.g. "PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)" or "pbeWithSHA1And3-KeyTripleDES-CBC". */
  name: string;
  iterations?: number;
  /** False for RC2/RC4 and anything else mtls cannot decrypt (and OpenSSL 3 needs -legacy for). */
  supported: boolean;
}

interface ParsedScheme extends SchemeInfo {
  decrypt?: (password: string, data: Uint8Array) => Promise<Buffer>;
  /** What decrypt costs, in KdfBudget units; 0 when there is no decrypt. */
  work: number;
}

const intOf = (der: Uint8Array, t: Tlv | undefined): number => (t ? Number.parseInt(body(der, t).toString("hex") || "0", 16) : 0);

/** The element a well-formed structure has at this place; a readable error when a crafted one has not. */
function need(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new Error(`damaged encryption parameters: no ${what}`);
  return t;
}

/**
 * A file from outside may ask for any work factor; past this (Java's own PKCS#12 limit) it is
 * refused instead of spinning for minutes.
 */
export const MAX_ITERATIONS = 5_000_000;
const tooMany = (name: string, iterations: number): ParsedScheme => ({
  name: `${name} (${iterations} iterations: more than mtls runs)`,
  iterations,
  supported: false,
  work: 0,
});

/**
 * Key-derivation work one input may cost in all (MAC and every bag, every PKCS#12 in it), in
 * PBKDF2 iterations: a per-part cap alone let four 3DES bags at the cap run for minutes. Real
 * writers stay far below it: our modern profile costs 1.28M units, Java 11's defaults (3DES key
 * bag at 50,000, SHA-1 MAC at 100,000) 2M, OpenSSL 3's defaults (2,048) a few thousand. At the
 * limit a file costs about 3 s of CPU on our machines.
 */
export const MAX_KDF_WORK = 5_000_000;
/**
 * The appendix B KDF runs here as a loop of one-shot hashes, about 8 times the cost of a
 * PBKDF2 iteration inside OpenSSL; each of its iterations counts that much.
 */
const PKCS12_KDF_WEIGHT = 8;

/** The work budget of one input; callers share one across every part they decrypt. */
export class KdfBudget {
  private left: number;
  constructor(
    /** Names the input in the refusal: "acme.p12". */
    private readonly what: string,
    readonly limit: number = MAX_KDF_WORK,
  ) {
    this.left = limit;
  }
  /** Takes `work` from the budget, or throws (before any of it is done) when it would overdraw. */
  spend(work: number): void {
    if (work > this.left)
      throw inputError(
        "ERR_KDF_WORK",
        `${this.what} asks for more key-derivation work than mtls does for one file (${this.limit - this.left + work} PBKDF2-iteration equivalents, at most ${this.limit})`,
        "have it written with usual iteration counts (OpenSSL's default 2048, or mtls p12 create)",
      );
    this.left -= work;
  }
}

/** The work of the PKCS#12 MAC: one appendix B chain (ID 3) of `iterations` hashes. */
export const macWork = (iterations: number): number => Math.max(0, iterations) * PKCS12_KDF_WEIGHT;

function parsePbes2(der: Uint8Array, params: Tlv): ParsedScheme {
  const [kdf, enc] = children(der, need(params, 0x30, "PBES2 parameters"));
  const [kdfOid, kdfParams] = children(der, need(kdf, 0x30, "key derivation function"));
  const [encOid, ivT] = children(der, need(enc, 0x30, "encryption scheme"));
  const cipherOid = readOid(der, need(encOid, 0x06, "cipher"));
  const cipher = CIPHER_BY_OID[cipherOid];
  if (readOid(der, need(kdfOid, 0x06, "key derivation function")) !== OID.pbkdf2 || !cipher)
    return { name: `PBES2 (${ALGORITHM_NAMES[cipherOid] ?? cipherOid})`, supported: false, work: 0 };
  const [saltT, iterT, ...rest] = children(der, need(kdfParams, 0x30, "PBKDF2 parameters"));
  const prfT = rest.find((t) => t.tag === 0x30);
  const prfOid = prfT ? readOid(der, need(children(der, prfT)[0], 0x06, "PBKDF2 hash")) : OID.hmacSha1;
  const prf = HMAC_BY_OID[prfOid];
  const iterations = intOf(der, iterT);
  const name = `PBES2 (PBKDF2-${ALGORITHM_NAMES[prfOid] ?? prfOid}, ${ALGORITHM_NAMES[cipherOid]})`;
  if (!prf || saltT?.tag !== 0x04 || ivT?.tag !== 0x04 || iterations < 1) return { name, iterations, supported: false, work: 0 };
  if (iterations > MAX_ITERATIONS) return tooMany(name, iterations);
  const salt = body(der, saltT);
  const iv = body(der, ivT);
  return {
    name,
    iterations,
    supported: true,
    // PBKDF2 runs once per hash-sized block of key.
    work: iterations * Math.ceil(cipher.keyLength / createHash(prf).digest().length),
    decrypt: async (password, data) => {
      const key = await pbkdf2Async(Buffer.from(password, "utf8"), salt, iterations, cipher.keyLength, prf);
      const d = createDecipheriv(cipher.name, key, iv);
      return Buffer.concat([d.update(data), d.final()]);
    },
  };
}

/** Reads a DER AlgorithmIdentifier of a PBE scheme; `decrypt` is there when mtls can decrypt it. */
export function parseScheme(algorithm: Uint8Array): ParsedScheme {
  const outer = readTlv(algorithm, 0);
  const [oidT, params] = children(algorithm, need(outer, 0x30, "algorithm"));
  const o = readOid(algorithm, need(oidT, 0x06, "algorithm identifier"));
  if (o === OID.pbes2) return parsePbes2(algorithm, need(params, 0x30, "PBES2 parameters"));
  const name = ALGORITHM_NAMES[o] ?? o;
  if (o !== OID.pbeSha3Des || !params) return { name, supported: false, work: 0 };
  const [saltT, iterT] = children(algorithm, need(params, 0x30, "PBE parameters"));
  const salt = body(algorithm, need(saltT, 0x04, "salt"));
  const iterations = intOf(algorithm, need(iterT, 0x02, "iteration count"));
  if (iterations > MAX_ITERATIONS) return tooMany(name, iterations);
  return {
    name,
    iterations,
    supported: true,
    // Three appendix B chains: two for the 24-byte key (SHA-1 gives 20), one for the IV.
    work: 3 * iterations * PKCS12_KDF_WEIGHT,
    decrypt: async (password, data) => {
      const key = pkcs12Kdf("sha1", password, salt, iterations, 1, 24);
      const iv = pkcs12Kdf("sha1", password, salt, iterations, 2, 8);
      const d = createDecipheriv("des-ede3-cbc", key, iv);
      return Buffer.concat([d.update(data), d.final()]);
    },
  };
}
