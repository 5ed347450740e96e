// The adapter for openpgp (OpenPGP.js), loaded lazily: even from its code cache its load holds
// the main thread for ~25 ms, and only the bundle commands need it.
//
// GnuPG 2.2 (Debian 12's, what partners will mostly use) compatibility, measured in
// shared/notes/libraries.md §4: we keep openpgp's defaults, i.e. v4 keys (`v6Keys: false`),
// "ecc" keys on curve25519Legacy (EdDSA legacy + ECDH cv25519), SEIPDv1 with MDC
// (`aeadProtect: false`). RFC 9580 keys (`type: "curve25519"`, algorithms 25/27) and v6 keys are
// unreadable for GnuPG 2.2, so we neither generate them nor accept them as recipients.
import type * as OpenPgp from "openpgp";
import { inputError, type MtlsError } from "../errors.js";
import { INPUT_LIMITS } from "../input.js";
import { openPbes2, sealPbes2 } from "../keys.js";
import { rsaParamsProblem } from "../rsa-key.js";
import { iso } from "../time.js";

let loaded: Promise<typeof OpenPgp> | undefined;
const pgp = () => {
  loaded ??= import("openpgp");
  return loaded;
};

/**
 * The most a message may hold once decompressed; openpgp enforces it chunk by chunk as it
 * inflates a compressed packet, whether that packet is inside the encryption or bare. A message's
 * content outgrows the message only through compression, and the bundles we write are stored zips
 * of a few KiB to a few MiB, sent uncompressed: the bundle input limit (which the zip reader also
 * applies to the files inside) is theirs too. Without it, 4 MB of zlib (or a few KB of bzip2)
 * became gigabytes in memory before the signature was even looked at: anyone with the partner's
 * public key can encrypt to it, and an unsigned message shows itself as one only once decrypted
 * and decompressed.
 */
export const MAX_MESSAGE_CONTENT_BYTES = INPUT_LIMITS.bundle;
const CONTENT_LIMIT = { maxDecompressedMessageSize: MAX_MESSAGE_CONTENT_BYTES };

/** openpgp's words when a compressed packet passes the limit (its zlib/zip path, then its bzip2 one). */
const PAST_LIMIT = /Maximum decompressed (message )?size exceeded/;

/** The input error for `err` when it is openpgp refusing to decompress past the limit. */
function contentTooLarge(err: unknown, what: string): MtlsError | undefined {
  if (!PAST_LIMIT.test(String((err as Error | undefined)?.message))) return undefined;
  const mib = MAX_MESSAGE_CONTENT_BYTES / (1024 * 1024);
  return inputError(
    "ERR_BUNDLE_TOO_LARGE",
    `${what} is larger than ${mib} MiB once decompressed`,
    "do not use it: a delivery bundle holds a few KiB; ask the home party for a new one",
    err,
  );
}

/** Parses a binary or armored message. A bare compressed packet is already inflated here, hence the limit. */
async function parseMessage(lib: typeof OpenPgp, bytes: Uint8Array): Promise<{ armored: boolean; message: OpenPgp.Message<Uint8Array> }> {
  const armored = Buffer.from(bytes.subarray(0, 64)).toString("latin1").includes("-----BEGIN PGP MESSAGE");
  // An armored message is text; decrypting it yields the same binary data.
  const binary = armored ? (await lib.unarmor(Buffer.from(bytes).toString("latin1"))).data : bytes;
  return { armored, message: await lib.readMessage({ binaryMessage: binary as Uint8Array, config: CONTENT_LIMIT }) };
}

export interface PgpKeyInfo {
  /** Upper-case hex, as `gpg --fingerprint` prints it without spaces. */
  fingerprint: string;
  algorithm: string;
  created: string;
  expires?: string;
  userIds: string[];
  encryptionAlgorithm?: string;
}

const algorithmLabel = (a: OpenPgp.AlgorithmInfo): string =>
  a.bits ? `${a.algorithm}-${a.bits}` : a.curve ? `${a.algorithm}/${a.curve}` : String(a.algorithm);

/** Reads an armored or binary key, whether it arrives as text or as the bytes of a file. */
async function readAnyKey(input: string | Uint8Array): Promise<OpenPgp.Key> {
  const lib = await pgp();
  const text = typeof input === "string" ? input : Buffer.from(input).toString("latin1");
  if (text.includes("-----BEGIN PGP")) return lib.readKey({ armoredKey: text });
  return lib.readKey({ binaryKey: typeof input === "string" ? Buffer.from(input, "latin1") : input });
}

/** The primary key fingerprint (upper-case hex) of an armored or binary key; throws when unreadable. */
export async function readKeyFingerprint(input: string | Uint8Array): Promise<string> {
  return (await readAnyKey(input)).getFingerprint().toUpperCase();
}

async function describe(key: OpenPgp.Key, now: Date): Promise<PgpKeyInfo> {
  const expires = await key.getExpirationTime().catch(() => null);
  let encryptionAlgorithm: string | undefined;
  try {
    encryptionAlgorithm = algorithmLabel((await key.getEncryptionKey(undefined, now)).getAlgorithmInfo());
  } catch {}
  return {
    fingerprint: key.getFingerprint().toUpperCase(),
    algorithm: algorithmLabel(key.getAlgorithmInfo()),
    created: iso(key.getCreationTime()),
    ...(expires instanceof Date ? { expires: iso(expires) } : {}),
    userIds: key.getUserIDs(),
    ...(encryptionAlgorithm ? { encryptionAlgorithm } : {}),
  };
}

const WEAK_RSA = /^rsa\w*-(\d+)$/i;
function tooWeak(label: string): boolean {
  const m = WEAK_RSA.exec(label) ?? /^(?:dsa|elgamal)-(\d+)$/i.exec(label);
  return m ? Number(m[1]) < 2048 : false;
}

/**
 * Checks a partner's public key before we encrypt anything to it: it must be a public key, not
 * revoked, not expired, able to encrypt, not weak (RSA under 2048 bits), and readable by GnuPG 2.2.
 * Returns the key (re-armored) and what people need to compare it out of band.
 */
export async function checkRecipientKey(text: string | Uint8Array, what: string, now: Date): Promise<{ armored: string; info: PgpKeyInfo }> {
  let key: OpenPgp.Key;
  try {
    key = await readAnyKey(text);
  } catch (err) {
    throw inputError("ERR_PGP_KEY", `${what} is not a readable OpenPGP public key`, "export it with `gpg --armor --export <fingerprint>`", err);
  }
  const refuse = (why: string, hint = "ask the partner for a current encryption key (RSA ≥ 2048 or Curve25519)") =>
    inputError("ERR_PGP_KEY", `${what} (${key.getFingerprint().toUpperCase()}) ${why}`, hint);
  if (key.isPrivate())
    throw inputError(
      "ERR_PGP_KEY",
      `${what} is a private key`,
      "register the partner's public key only (`gpg --armor --export`); the private key stays with the partner",
    );
  if (key.keyPacket.version !== 4) throw refuse(`is a v${key.keyPacket.version} key, which GnuPG 2.2 cannot read`);
  if (await key.isRevoked(undefined, undefined, now)) throw refuse("is revoked");
  const expires = await key.getExpirationTime().catch(() => null);
  if (expires instanceof Date && expires.getTime() <= now.getTime()) throw refuse(`expired on ${iso(expires)}`);
  const info = await describe(key, now);
  // Weakness first: OpenPGP.js will not encrypt to RSA-1024 either, and "too weak" is the real reason.
  for (const label of key.getKeys().map((k) => algorithmLabel(k.getAlgorithmInfo()))) {
    if (tooWeak(label)) throw refuse(`is too weak (${label}); at least 2048 bits are required`);
  }
  const rsa = rsaKeysProblem(key);
  if (rsa) throw refuse(`has an unusable RSA key: ${rsa}`);
  if (!info.encryptionAlgorithm) throw refuse("has no valid encryption subkey (expired, revoked or missing)");
  for (const label of [info.algorithm, info.encryptionAlgorithm]) {
    if (tooWeak(label)) throw refuse(`is too weak (${label}); at least 2048 bits are required`);
    if (/^(ed25519|x25519|ed448|x448)$/i.test(label)) throw refuse(`uses ${label} (RFC 9580), which GnuPG 2.2 cannot use`);
  }
  return { armored: key.armor(), info };
}

/** The RSA arithmetic checks of the primary key and every subkey (e = 1 "encrypts" to plaintext). */
function rsaKeysProblem(key: OpenPgp.Key): string | undefined {
  for (const k of key.getKeys()) {
    const params = k.keyPacket.publicParams as { n?: Uint8Array; e?: Uint8Array };
    const problem = params.n && params.e ? rsaParamsProblem(params.n, params.e) : undefined;
    if (problem) return problem;
  }
  return undefined;
}

/**
 * The home party's private key at rest: the armored OpenPGP key inside the PBES2 envelope of the
 * CA keys (PBKDF2-HMAC-SHA256 × 600,000), under the CA passphrase. OpenPGP's own S2K, as
 * OpenPGP.js writes it, hashes 16 MiB per guess, about a sixth of the CA keys' work, so the same
 * passphrase was cheaper to guess here (#13). Older stores keep their S2K-protected file, which
 * still opens.
 */
export const SEALED_PGP_LABEL = "MTLS ENCRYPTED OPENPGP PRIVATE KEY";
const ARMORED_PRIVATE = "-----BEGIN PGP PRIVATE KEY BLOCK-----";

const sealHomeKey = (key: OpenPgp.PrivateKey, passphrase: string): Promise<string> => sealPbes2(Buffer.from(key.armor(), "utf8"), passphrase, SEALED_PGP_LABEL);

export interface SigningKeyPair {
  /** Armored private key, sealed with the passphrase (see SEALED_PGP_LABEL). */
  privateArmored: string;
  publicArmored: string;
  info: PgpKeyInfo;
}

/** The home party's signing key: a GnuPG-2.2-compatible v4 EdDSA key with an ECDH subkey. */
export async function generateSigningKey(p: { name: string; email?: string; passphrase: string; now: Date }): Promise<SigningKeyPair> {
  const lib = await pgp();
  const { privateKey, publicKey } = await lib.generateKey({
    type: "ecc",
    curve: "curve25519Legacy",
    userIDs: [{ name: p.name, ...(p.email ? { email: p.email } : {}) }],
    date: p.now,
    format: "object",
  });
  const info = await describe(publicKey, p.now);
  return { privateArmored: await sealHomeKey(privateKey, p.passphrase), publicArmored: publicKey.armor(), info };
}

/** Reads an existing private signing key (`pgp init --import`), re-encrypting it with our passphrase. */
export async function importSigningKey(text: string, keyPassphrase: string | undefined, storePassphrase: string, now: Date): Promise<SigningKeyPair> {
  const lib = await pgp();
  let key: OpenPgp.PrivateKey;
  try {
    key = await lib.readPrivateKey({ armoredKey: text });
  } catch (err) {
    throw inputError("ERR_PGP_KEY", "the file is not an armored OpenPGP private key", "export it with `gpg --armor --export-secret-keys <fingerprint>`", err);
  }
  if (!key.isDecrypted()) {
    try {
      key = await lib.decryptKey({ privateKey: key, passphrase: keyPassphrase ?? "" });
    } catch (err) {
      throw inputError("ERR_PASSPHRASE_WRONG", "cannot unlock the imported OpenPGP key", "set MTLS_PGP_PASSPHRASE to its passphrase", err);
    }
  }
  try {
    await key.getSigningKey(undefined, now);
  } catch (err) {
    throw inputError("ERR_PGP_KEY", "the imported key cannot sign (no valid signing key)", undefined, err);
  }
  const rsa = rsaKeysProblem(key);
  if (rsa) throw inputError("ERR_PGP_KEY", `the imported key has an unusable RSA key: ${rsa}`);
  const publicArmored = key.toPublic().armor();
  return { privateArmored: await sealHomeKey(key, storePassphrase), publicArmored, info: await describe(key.toPublic(), now) };
}

async function unlock(text: string, passphrase: () => Promise<string>, what: string): Promise<OpenPgp.PrivateKey> {
  return (await beginUnlock(text, passphrase, what)).key;
}

/**
 * Starts unlocking an armored private key. When this resolves, a sealed key's PBKDF2 runs in the
 * thread pool, and `key` follows once openpgp has loaded: the KDF must start before the load,
 * which holds the main thread, for the two to overlap (#21). A key protected by OpenPGP's own S2K
 * instead is decrypted by openpgp, on the main thread, once loaded.
 */
async function beginUnlock(text: string, passphrase: () => Promise<string>, what: string): Promise<{ key: Promise<OpenPgp.PrivateKey> }> {
  const sealed = text.includes(`-----BEGIN ${SEALED_PGP_LABEL}-----`);
  const opening = sealed
    ? openPbes2(text, SEALED_PGP_LABEL, await passphrase(), what, (b) => b.subarray(0, ARMORED_PRIVATE.length).toString("latin1") === ARMORED_PRIVATE)
    : undefined;
  opening?.catch(() => {}); // awaited in readUnlocked; this only keeps it from counting as unhandled meanwhile
  const key = readUnlocked(text, opening, passphrase, what);
  key.catch(() => {}); // the caller awaits it (or has failed already for another reason)
  return { key };
}

async function readUnlocked(text: string, opening: Promise<Buffer> | undefined, passphrase: () => Promise<string>, what: string): Promise<OpenPgp.PrivateKey> {
  const lib = await pgp();
  const armored = opening ? (await opening).toString("utf8") : text;
  let key: OpenPgp.PrivateKey;
  try {
    key = await lib.readPrivateKey({ armoredKey: armored });
  } catch (err) {
    throw inputError("ERR_PGP_KEY", `${what} is not an armored OpenPGP private key`, "export it with `gpg --armor --export-secret-keys <fingerprint>`", err);
  }
  if (key.isDecrypted()) return key;
  try {
    return await lib.decryptKey({ privateKey: key, passphrase: await passphrase() });
  } catch (err) {
    if (err instanceof Error && err.name === "MtlsError") throw err;
    throw inputError("ERR_PASSPHRASE_WRONG", `wrong passphrase for ${what}`, undefined, err);
  }
}

/**
 * Starts unlocking the home party's signing key (see beginUnlock), so that the work before
 * encryptAndSign, openpgp's load among it, overlaps its PBKDF2. Hand `key` to encryptAndSign as
 * `signerKey` (#21).
 */
export function startUnlock(signerArmored: string, passphrase: () => Promise<string>): Promise<{ key: Promise<OpenPgp.PrivateKey> }> {
  return beginUnlock(signerArmored, passphrase, "the home party's signing key");
}

/** Encrypts to the recipient and signs with the home party's key; binary or ASCII-armored. */
export async function encryptAndSign(p: {
  data: Uint8Array;
  filename: string;
  recipientArmored: string;
  signerArmored: string;
  signerPassphrase: () => Promise<string>;
  /** The signing key from startUnlock, when it was started early. */
  signerKey?: Promise<OpenPgp.PrivateKey>;
  armor: boolean;
  now: Date;
}): Promise<Uint8Array> {
  const lib = await pgp();
  const [recipient, signer] = await Promise.all([
    lib.readKey({ armoredKey: p.recipientArmored }),
    p.signerKey ?? unlock(p.signerArmored, p.signerPassphrase, "the home party's signing key"),
  ]);
  const message = await lib.createMessage({ binary: p.data, filename: p.filename, format: "binary", date: p.now });
  if (p.armor) return Buffer.from(await lib.encrypt({ message, encryptionKeys: recipient, signingKeys: signer, date: p.now, format: "armored" }));
  return lib.encrypt({ message, encryptionKeys: recipient, signingKeys: signer, date: p.now, format: "binary" });
}

/**
 * Decrypts with the partner's key and requires a valid signature by `signerArmored`. Each way
 * this can fail is its own input error: wrong key, damaged message, missing or bad signature.
 */
export async function decryptAndVerify(p: {
  message: Uint8Array;
  keyArmored: string;
  keyPassphrase: () => Promise<string>;
  signerArmored: string;
}): Promise<{ data: Uint8Array; filename: string; signer: PgpKeyInfo; recipientFingerprint: string }> {
  const lib = await pgp();
  let signerKey: OpenPgp.Key;
  try {
    signerKey = await readAnyKey(p.signerArmored);
  } catch (err) {
    throw inputError("ERR_PGP_KEY", "the --signer file is not an OpenPGP public key", "use the home party's public key file you received out of band", err);
  }
  const key = await unlock(p.keyArmored, p.keyPassphrase, "your OpenPGP private key");
  let message: OpenPgp.Message<Uint8Array>;
  try {
    message = (await parseMessage(lib, p.message)).message;
  } catch (err) {
    throw (
      contentTooLarge(err, "the bundle's content") ??
      inputError("ERR_BUNDLE_CORRUPT", "the bundle is not an OpenPGP message (damaged or truncated)", "ask the home party to send it again", err)
    );
  }
  let result: OpenPgp.DecryptMessageResult & { data: Uint8Array };
  try {
    // Not streamed: openpgp holds a SEIPDv1 packet's whole plaintext until its MDC checks out
    // anyway (allowUnauthenticatedStream is false), CONTENT_LIMIT bounds what decompression adds,
    // and the data is used only once the signature below is verified.
    result = await lib.decrypt({ message, decryptionKeys: key, verificationKeys: signerKey, format: "binary", config: CONTENT_LIMIT });
  } catch (err) {
    const tooLarge = contentTooLarge(err, "the bundle's content");
    if (tooLarge) throw tooLarge;
    const msg = String((err as Error).message);
    if (/session key|No decryption key|decryption key/i.test(msg))
      throw inputError("ERR_BUNDLE_KEY", "the bundle was not encrypted to this key", "use the private key whose public key you gave the home party", err);
    throw inputError(
      "ERR_BUNDLE_CORRUPT",
      "the bundle failed its integrity check (modified or damaged in transit)",
      "ask the home party to send it again",
      err,
    );
  }
  const sig = result.signatures[0];
  if (!sig) throw inputError("ERR_BUNDLE_SIGNATURE", "the bundle is not signed", "do not use it; ask the home party");
  try {
    await sig.verified;
  } catch (err) {
    throw inputError(
      "ERR_BUNDLE_SIGNATURE",
      `the bundle's signature is not a valid signature by ${signerKey.getFingerprint().toUpperCase()}`,
      "do not use it: it was not signed by the key you trust",
      err,
    );
  }
  return {
    data: result.data as Uint8Array,
    filename: result.filename,
    signer: await describe(signerKey, new Date()),
    recipientFingerprint: key.getFingerprint().toUpperCase(),
  };
}

/** A partner-side encryption key pair, unprotected (the demo's stand-in for `gpg --gen-key`). */
export async function generatePartnerKey(p: {
  name: string;
  email: string;
  now: Date;
}): Promise<{ publicArmored: string; privateArmored: string; fingerprint: string }> {
  const lib = await pgp();
  const { privateKey, publicKey } = await lib.generateKey({
    type: "ecc",
    curve: "curve25519Legacy",
    userIDs: [{ name: p.name, email: p.email }],
    date: p.now,
    format: "armored",
  });
  return { publicArmored: publicKey, privateArmored: privateKey, fingerprint: (await lib.readKey({ armoredKey: publicKey })).getFingerprint().toUpperCase() };
}

/**
 * What can be learned of an encrypted bundle without its key: the key ids it is encrypted to
 * (`gpg --list-packets` shows the same "keyid"). Throws when the bytes are not an OpenPGP message.
 */
export async function messageRecipients(bytes: Uint8Array, what: string): Promise<{ armored: boolean; recipients: string[] }> {
  const lib = await pgp();
  const { armored, message } = await parseMessage(lib, bytes).catch((err) => Promise.reject(contentTooLarge(err, `the OpenPGP message in ${what}`) ?? err));
  return { armored, recipients: message.getEncryptionKeyIDs().map((k) => k.toHex().toUpperCase()) };
}
