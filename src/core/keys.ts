import {
  createCipheriv,
  createDecipheriv,
  createECDH,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  generateKeyPair as nodeGenerateKeyPair,
  pbkdf2,
  randomBytes,
  webcrypto,
} from "node:crypto";
import { promisify } from "node:util";
import { body, children, NULL, octets, oid, readOid, readTlv, seq, type Tlv, tlv, uint } from "./der.js";
import { Exit, inputError, MtlsError } from "./errors.js";
import { KEY_TYPES, type KeyType } from "./key-types.js";
import { MAX_ITERATIONS } from "./p12/pbe.js";
import { decodePemBlocks, encodePem } from "./pem.js";
import { assertRsaKeySound } from "./rsa-key.js";

export { KEY_TYPES, type KeyType };

export function parseKeyType(value: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(value)) return value as KeyType;
  throw inputError("ERR_KEY_TYPE", `unknown key type "${value}"`, `use one of: ${KEY_TYPES.join(", ")}`);
}

interface KeyAlgorithms {
  generate: EcKeyGenParams | RsaHashedKeyGenParams;
  import: EcKeyImportParams | RsaHashedImportParams;
  /** Signature made by this key: the digest follows the key's strength (P-384 signs with SHA-384). */
  sign: EcdsaParams | Algorithm;
}

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

export function keyAlgorithms(type: KeyType): KeyAlgorithms {
  switch (type) {
    case "ec-p256":
      return {
        generate: { name: "ECDSA", namedCurve: "P-256" },
        import: { name: "ECDSA", namedCurve: "P-256" },
        sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
      };
    case "ec-p384":
      return {
        generate: { name: "ECDSA", namedCurve: "P-384" },
        import: { name: "ECDSA", namedCurve: "P-384" },
        sign: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
      };
    default: {
      // The hash is fixed when an RSA key is created or imported: @peculiar/x509 takes it from the
      // key, not from the signing algorithm we pass (libraries.md §1.4 pitfall 8).
      const modulusLength = Number(type.slice(4));
      const hash = "SHA-256";
      return {
        generate: { name: "RSASSA-PKCS1-v1_5", modulusLength, publicExponent: RSA_EXPONENT, hash },
        import: { name: "RSASSA-PKCS1-v1_5", hash },
        sign: { name: "RSASSA-PKCS1-v1_5" },
      };
    }
  }
}

// Read on use, not at load: the module loads for commands that never touch a key (#21).
const subtle = (): SubtleCrypto => webcrypto.subtle as SubtleCrypto;

export async function generateKeyPair(type: KeyType): Promise<CryptoKeyPair> {
  const pair = (await subtle().generateKey(keyAlgorithms(type).generate, true, ["sign", "verify"])) as CryptoKeyPair;
  if (type.startsWith("rsa-")) checkGeneratedKey(type, await exportSpki(pair.publicKey));
  return pair;
}

/**
 * A generated RSA key goes through the same checks as a partner's, and must have exactly the
 * size asked for: a key that is not what it says is refused wherever it comes from (#13).
 */
function checkGeneratedKey(type: KeyType, spki: Uint8Array): void {
  assertRsaKeySound(spki, `the generated ${type} key`);
  const label = describePublicKey(spki).label;
  if (label !== type) throw inputError("ERR_KEY_POLICY", `the generated ${type} key is a ${label} key`, "report this: the crypto library misbehaved");
}

const EC_CURVES = {
  "ec-p256": { ecdh: "prime256v1", oid: "1.2.840.10045.3.1.7", size: 32 },
  "ec-p384": { ecdh: "secp384r1", oid: "1.3.132.0.34", size: 48 },
} as const;

/**
 * An EC key pair as DER, byte for byte what OpenSSL's PKCS#8 and SPKI encoders write (a unit test
 * compares them). Made with node:crypto's ECDH (the same OpenSSL key generation) and encoded here:
 * OpenSSL 3.0's encoders made generateKeyPairSync ~0.23 ms per P-256 key against ~0.03 ms, and
 * its thread-pool variant ran no faster on two cores (the encoders serialise), measured over
 * 1,000 keys (#21). The private scalar is left-padded to the curve size (RFC 5915).
 */
function generateEcKeyDer(type: keyof typeof EC_CURVES): { spki: Buffer; pkcs8: Buffer } {
  const curve = EC_CURVES[type];
  const ecdh = createECDH(curve.ecdh);
  const point = ecdh.generateKeys();
  const scalar = ecdh.getPrivateKey();
  const d = Buffer.concat([Buffer.alloc(curve.size - scalar.length), scalar]);
  const algorithm = seq(oid("1.2.840.10045.2.1"), oid(curve.oid));
  const bits = tlv(0x03, Buffer.concat([Buffer.from([0]), point]));
  const ecPrivateKey = seq(uint(1), octets(d), tlv(0xa1, bits));
  return { spki: seq(algorithm, bits), pkcs8: seq(uint(0), algorithm, octets(ecPrivateKey)) };
}

/** A key pair as DER (SPKI and PKCS#8); RSA keys go to the thread pool so several generate on all cores at once. */
export async function generateKeyPairDer(type: KeyType): Promise<{ spki: Buffer; pkcs8: Buffer }> {
  if (type === "ec-p256" || type === "ec-p384") return generateEcKeyDer(type);
  const modulusLength = Number(type.slice(4));
  return new Promise((resolve, reject) =>
    nodeGenerateKeyPair(
      "rsa",
      { modulusLength, publicExponent: 0x10001, publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } },
      (err, publicKey, privateKey) => {
        if (err) return reject(err);
        try {
          checkGeneratedKey(type, publicKey);
          resolve({ spki: publicKey, pkcs8: privateKey });
        } catch (e) {
          reject(e);
        }
      },
    ),
  );
}

export async function exportPkcs8(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await subtle().exportKey("pkcs8", key));
}

export async function exportSpki(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await subtle().exportKey("spki", key));
}

/** The same key as a node:crypto KeyObject, for synchronous signing. */
export const keyObjectFromPkcs8 = (pkcs8: Uint8Array): KeyObject => createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });

/** The digest that goes with a signing key (node:crypto names). */
export const signingDigest = (type: KeyType): "sha256" | "sha384" => (type === "ec-p384" ? "sha384" : "sha256");

export async function importSigningKey(pkcs8: Uint8Array, type: KeyType): Promise<CryptoKey> {
  return subtle().importKey("pkcs8", new Uint8Array(pkcs8), keyAlgorithms(type).import, false, ["sign"]);
}

/** What a public key is, in our vocabulary: "ec-p256", "rsa-3072", "ed25519", "dsa-2048" ... */
export interface PublicKeyInfo {
  family: "ec" | "rsa" | "rsa-pss" | "ed25519" | "ed448" | "dsa" | "x25519" | "x448" | "dh" | "unknown";
  bits?: number;
  curve?: string;
  label: string;
}

const CURVE_NAMES: Record<string, string> = { prime256v1: "p256", secp384r1: "p384", secp521r1: "p521" };

export function describePublicKey(spki: Uint8Array): PublicKeyInfo {
  let key: ReturnType<typeof createPublicKey>;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch {
    return { family: "unknown", label: "unknown" };
  }
  const family = (key.asymmetricKeyType ?? "unknown") as PublicKeyInfo["family"];
  const details = key.asymmetricKeyDetails ?? {};
  if (family === "ec") {
    const curve = details.namedCurve ?? "unknown";
    return { family, curve, label: `ec-${CURVE_NAMES[curve] ?? curve}` };
  }
  if (family === "rsa" || family === "rsa-pss" || family === "dsa") {
    const bits = details.modulusLength;
    return { family, ...(bits ? { bits } : {}), label: `${family}-${bits ?? "?"}` };
  }
  return { family, label: family };
}

/** The key type of a CA key we created, recovered from its public key. */
export function keyTypeOf(spki: Uint8Array): KeyType {
  assertRsaKeySound(spki, "the CA certificate");
  const label = describePublicKey(spki).label;
  if ((KEY_TYPES as readonly string[]).includes(label)) return label as KeyType;
  throw inputError("ERR_KEY_TYPE", `unsupported CA key type ${label}`);
}

// --- Keys at rest -----------------------------------------------------------------------------

/**
 * PBKDF2-HMAC-SHA256 work factor for keys at rest. Node's KeyObject.export({cipher}) fixes
 * PBKDF2 at 2,048 iterations (cheap to brute-force), so we write PBES2 ourselves with OWASP's
 * figure; OpenSSL and Node both read it (about 150 ms per decryption on our machines).
 */
export const PBKDF2_ITERATIONS = 600_000;

const OID_PBES2 = "1.2.840.113549.1.5.13";
const OID_PBKDF2 = "1.2.840.113549.1.5.12";
const OID_HMAC_SHA256 = "1.2.840.113549.2.9";
const OID_AES256_CBC = "2.16.840.1.101.3.4.1.42";

/** RFC 8018 PBES2 EncryptedPrivateKeyInfo, PEM "ENCRYPTED PRIVATE KEY" (opens with `openssl pkey`). */
export async function encryptPkcs8(pkcs8: Uint8Array, passphrase: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  return sealPbes2(pkcs8, passphrase, "ENCRYPTED PRIVATE KEY", iterations);
}

/**
 * Any secret in the envelope the CA keys use: the EncryptedPrivateKeyInfo layout (PBES2,
 * PBKDF2-HMAC-SHA256, AES-256-CBC) under its own PEM label, so a secret that is not PKCS#8 (the
 * home party's OpenPGP key) costs an attacker as much per guess as the CA keys do.
 */
export async function sealPbes2(data: Uint8Array, passphrase: string, label: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = await promisify(pbkdf2)(Buffer.from(passphrase, "utf8"), salt, iterations, 32, "sha256");
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  const encrypted = Buffer.concat([cipher.update(data), cipher.final()]);
  const algorithm = seq(
    oid(OID_PBES2),
    seq(seq(oid(OID_PBKDF2), seq(octets(salt), uint(iterations), seq(oid(OID_HMAC_SHA256), NULL))), seq(oid(OID_AES256_CBC), octets(iv))),
  );
  return encodePem(label, seq(algorithm, octets(encrypted)));
}

/**
 * Opens a sealPbes2 envelope. `plausible` checks the plaintext: CBC padding can pass by chance
 * under a wrong passphrase; a recognisable structure cannot.
 */
export async function openPbes2(pem: string, label: string, passphrase: string, what: string, plausible: (b: Buffer) => boolean): Promise<Buffer> {
  const block = decodePemBlocks(pem).find((b) => b.label === label);
  const params = block ? readOurPbes2(block.der) : undefined;
  if (!params) throw inputError("ERR_KEY_CORRUPT", `${what} is not a readable encrypted key`, "restore the key file from your backup");
  refuseCostlyKdf((block as { der: Buffer }).der, what);
  const key = await promisify(pbkdf2)(Buffer.from(passphrase, "utf8"), params.salt, params.iterations, 32, "sha256");
  try {
    const decipher = createDecipheriv("aes-256-cbc", key, params.iv);
    const plain = Buffer.concat([decipher.update(params.encrypted), decipher.final()]);
    if (!plausible(plain)) throw new Error("implausible plaintext");
    return plain;
  } catch (err) {
    throw inputError("ERR_PASSPHRASE_WRONG", `wrong passphrase for ${what} (or its file is damaged)`, "check MTLS_CA_PASSPHRASE or the passphrase file", err);
  }
}

export const isEncryptedKeyPem = (pem: string): boolean => pem.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----");

const OID_SCRYPT = "1.3.6.1.4.1.11591.4.11";
/**
 * scrypt's N·r·p past which a key is refused: OpenSSL's own default (`pkcs8 -scrypt`) is
 * 16384·8·1, and its memory limit bounds N·r but not p.
 */
const MAX_SCRYPT_WORK = 1 << 22;

/**
 * The work an EncryptedPrivateKeyInfo asks for before its passphrase can be tried: PBKDF2 or
 * PKCS#5 v1 / PKCS#12 PBE iterations, or scrypt's N·r·p. undefined when it cannot be read
 * (the decryption itself then names the damage).
 */
function kdfWork(der: Uint8Array): { iterations: number; limit: number } | undefined {
  try {
    const [alg] = children(der, readTlv(der, 0));
    const [algOid, params] = children(der, alg as Tlv);
    const int = (t: Tlv | undefined) => (t?.tag === 0x02 ? Number.parseInt(body(der, t).toString("hex") || "0", 16) : 0);
    if (readOid(der, algOid as Tlv) !== OID_PBES2) return { iterations: int(children(der, params as Tlv)[1]), limit: MAX_ITERATIONS };
    const [kdf] = children(der, params as Tlv);
    const [kdfOid, kdfParams] = children(der, kdf as Tlv);
    const [, a, b, c] = children(der, kdfParams as Tlv);
    if (readOid(der, kdfOid as Tlv) === OID_SCRYPT) return { iterations: int(a) * int(b) * int(c), limit: MAX_SCRYPT_WORK };
    return { iterations: int(a), limit: MAX_ITERATIONS };
  } catch {
    return undefined;
  }
}

/**
 * Refuses a key file whose key derivation would run for minutes: OpenSSL derives synchronously,
 * and a crafted file asks for 2^31 iterations as easily as for 600,000.
 */
function refuseCostlyKdf(der: Uint8Array, what: string): void {
  const work = kdfWork(der);
  if (work && work.iterations > work.limit)
    throw inputError(
      "ERR_KDF_WORK",
      `${what} asks for ${work.iterations} key-derivation iterations; mtls runs at most ${work.limit}`,
      "re-encrypt the key with a usual work factor, e.g. openssl pkcs8 -topk8 -v2 aes-256-cbc -iter 600000",
    );
}

const refuseCostlyKdfPem = (pem: string, what: string): void => {
  for (const b of decodePemBlocks(pem)) if (b.label === "ENCRYPTED PRIVATE KEY") refuseCostlyKdf(b.der, what);
};

/**
 * PKCS#8 DER from a key file, decrypting it when it is encrypted. `what` names the key in errors;
 * a wrong passphrase is an input error (exit 3) that never echoes the passphrase.
 */
export function decryptKeyPem(pem: string, passphrase: string | undefined, what: string): Buffer {
  const encrypted = isEncryptedKeyPem(pem);
  if (encrypted && passphrase === undefined) {
    throw new MtlsError(
      "ERR_PASSPHRASE_REQUIRED",
      `${what} is encrypted and no passphrase was given`,
      Exit.USAGE,
      "set MTLS_CA_PASSPHRASE or pass --passphrase-file <file>",
    );
  }
  if (encrypted) refuseCostlyKdfPem(pem, what);
  try {
    const key = createPrivateKey(encrypted ? { key: pem, format: "pem", passphrase: passphrase ?? "" } : { key: pem, format: "pem" });
    return key.export({ format: "der", type: "pkcs8" });
  } catch (err) {
    // OpenSSL's "bad decrypt" is a wrong passphrase (or a damaged ciphertext: CBC cannot tell);
    // anything else means the file itself is not a key.
    const badDecrypt = /bad decrypt|BAD_DECRYPT|INTERRUPTED_OR_CANCELLED/i.test(`${(err as NodeJS.ErrnoException).code} ${(err as Error).message}`);
    if (encrypted && badDecrypt)
      throw inputError("ERR_PASSPHRASE_WRONG", `wrong passphrase for ${what} (or its file is damaged)`, "check MTLS_CA_PASSPHRASE or the passphrase file", err);
    const blocks = decodePemBlocks(pem);
    throw inputError(
      "ERR_KEY_CORRUPT",
      `${what} is not a readable private key${blocks.length ? "" : " (no PEM block)"}`,
      "restore the key file from your backup",
      err,
    );
  }
}

interface Pbes2Params {
  salt: Buffer;
  iterations: number;
  iv: Buffer;
  encrypted: Buffer;
}

/** Our own PBES2 layout (PBKDF2-HMAC-SHA256, AES-256-CBC); undefined for anything else. */
function readOurPbes2(der: Buffer): Pbes2Params | undefined {
  try {
    const outer = readTlv(der, 0);
    const [alg, enc] = children(der, outer);
    // Strict about the shape: anything unexpected goes to OpenSSL, which names the damage.
    if (outer.tag !== 0x30 || outer.end !== der.length || alg?.tag !== 0x30 || enc?.tag !== 0x04) return undefined;
    const [algOid, params] = children(der, alg as Tlv);
    if (readOid(der, algOid as Tlv) !== OID_PBES2) return undefined;
    const [kdf, cipher] = children(der, params as Tlv);
    const [kdfOid, kdfParams] = children(der, kdf as Tlv);
    const [cipherOid, ivT] = children(der, cipher as Tlv);
    if (readOid(der, kdfOid as Tlv) !== OID_PBKDF2 || readOid(der, cipherOid as Tlv) !== OID_AES256_CBC) return undefined;
    const [saltT, iterT, prf] = children(der, kdfParams as Tlv);
    if (!prf || prf.tag !== 0x30 || readOid(der, children(der, prf)[0] as Tlv) !== OID_HMAC_SHA256) return undefined;
    const iterations = Number.parseInt(body(der, iterT as Tlv).toString("hex"), 16);
    if (!Number.isSafeInteger(iterations) || iterations < 1) return undefined;
    return { salt: body(der, saltT as Tlv), iterations, iv: body(der, ivT as Tlv), encrypted: body(der, enc as Tlv) };
  } catch {
    return undefined;
  }
}

/**
 * Like decryptKeyPem, but runs the key derivation of our own key files on the libuv thread pool,
 * so several CA keys decrypt in parallel and the event loop stays free.
 */
export async function decryptKeyPemAsync(pem: string, passphrase: string | undefined, what: string): Promise<Buffer> {
  const block = isEncryptedKeyPem(pem) && passphrase !== undefined ? decodePemBlocks(pem).find((b) => b.label === "ENCRYPTED PRIVATE KEY") : undefined;
  const params = block ? readOurPbes2(block.der) : undefined;
  if (!params) return decryptKeyPem(pem, passphrase, what);
  refuseCostlyKdf((block as { der: Buffer }).der, what);
  const key = await promisify(pbkdf2)(Buffer.from(passphrase as string, "utf8"), params.salt, params.iterations, 32, "sha256");
  try {
    const decipher = createDecipheriv("aes-256-cbc", key, params.iv);
    const pkcs8 = Buffer.concat([decipher.update(params.encrypted), decipher.final()]);
    createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }); // padding can pass by chance; structure cannot
    return pkcs8;
  } catch (err) {
    throw inputError("ERR_PASSPHRASE_WRONG", `wrong passphrase for ${what} (or its file is damaged)`, "check MTLS_CA_PASSPHRASE or the passphrase file", err);
  }
}
