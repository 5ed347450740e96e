import { loadCaCerts, type PassphraseSource, provePassphrase } from "../ca/material.js";
import { conflictError, usageError } from "../errors.js";
import { checkSize, INPUT_LIMITS } from "../input.js";
import { checkAddress } from "../notify/address.js";
import type { Pki, Tx } from "../session.js";
import { mustGet, readConfigOf, utf8 } from "../store/blobs.js";
import { type StoreConfig, serializeConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";
import { generateSigningKey, importSigningKey, type PgpKeyInfo, type SigningKeyPair } from "./pgp.js";

export interface SigningKeyResult {
  fingerprint: string;
  userId: string;
  publicKeyPath: string;
  created: boolean;
  info: PgpKeyInfo;
}

/**
 * Stages a new signing key into `tx`, unless config.json (as read under the lock) names one
 * already: then another process was first, and false says to use theirs.
 */
export async function stageSigningKey(tx: Tx, pair: SigningKeyPair): Promise<boolean> {
  const config: StoreConfig = { ...(await tx.config()) };
  if (config.delivery) return false;
  config.delivery = { signingKeyFingerprint: pair.info.fingerprint, userId: pair.info.userIds[0] ?? "" };
  // Replace, not create: until config.json names a key, key files there are what a crash
  // during an earlier creation left, referenced by nothing (#13).
  tx.put(storeKeys.homePrivateKey, pair.privateArmored, { secret: true })
    .put(storeKeys.homePublicKey, pair.publicArmored)
    .put(storeKeys.config, serializeConfig(config));
  tx.audit({ action: "pgp.init", outcome: "ok", details: { fingerprint: pair.info.fingerprint } });
  return true;
}

async function store(pki: Pki, pair: SigningKeyPair): Promise<void> {
  await pki.transact("pgp.init", async (tx) => {
    const current = await tx.config();
    if (!(await stageSigningKey(tx, pair)))
      throw conflictError(
        "ERR_PGP_EXISTS",
        `the home party already has an OpenPGP signing key (${current.delivery?.signingKeyFingerprint})`,
        "partners pin that key; replacing it is not supported",
      );
  });
}

/**
 * The CA passphrase, proven against the issuing CA key first: the signing key is sealed with it,
 * and a mistyped one would lock that key for good (#13). An unencrypted CA key proves nothing;
 * the passphrase is then taken as given.
 */
async function checkedPassphrase(pki: Pki, passphrase: PassphraseSource): Promise<string> {
  await provePassphrase(pki.storage, await loadCaCerts(pki.storage, await pki.config()), passphrase);
  return passphrase();
}

export interface InitSigningKeyParams {
  name?: string;
  email?: string;
  /** Import this armored private key instead of generating one. */
  importArmored?: string;
  importPassphrase?: string;
}

/** Creates (or imports) the home party's OpenPGP signing key, once; protected by the CA passphrase. */
export async function initSigningKey(pki: Pki, p: InitSigningKeyParams): Promise<SigningKeyResult> {
  // The user ID goes to partners' keyrings: an address OpenPGP.js would refuse deep in key generation is named here.
  if (p.email !== undefined) checkAddress(p.email, "--email");
  const now = pki.now; // one instant: a key must not be created after the time it is used at
  const config = await pki.config();
  if (config.delivery)
    throw conflictError(
      "ERR_PGP_EXISTS",
      `the home party already has an OpenPGP signing key (${config.delivery.signingKeyFingerprint})`,
      "see `mtls pgp show`",
    );
  const passphrase = await checkedPassphrase(pki, pki.passphrase ?? noPassphrase);
  const pair = p.importArmored
    ? await importSigningKey(p.importArmored, p.importPassphrase, passphrase, now)
    : await generateSigningKey({ name: p.name ?? `${config.ca.name} partner delivery`, ...(p.email ? { email: p.email } : {}), passphrase, now });
  await store(pki, pair);
  return {
    fingerprint: pair.info.fingerprint,
    userId: pair.info.userIds[0] ?? "",
    publicKeyPath: pki.storage.where(storeKeys.homePublicKey),
    created: true,
    info: pair.info,
  };
}

/** For a CA without a passphrase source: the signing key cannot be opened without one. */
export const noPassphrase: PassphraseSource = async () => {
  throw usageError("ERR_PASSPHRASE_REQUIRED", "no passphrase for the home party's signing key", "set MTLS_CA_PASSPHRASE or pass --passphrase-file <file>");
};

export interface HomeSigningKey {
  privateArmored: string;
  fingerprint: string;
  userId: string;
  created: boolean;
}

/**
 * A new signing key for a store that has none yet, made before the lock is taken (key
 * generation and the passphrase check are slow): stage it with stageSigningKey. Undefined when
 * the store has one.
 */
export async function prepareSigningKey(pki: Pki, now: Date = pki.now): Promise<SigningKeyPair | undefined> {
  const config = await pki.config();
  if (config.delivery) return undefined;
  return generateSigningKey({
    name: `${config.ca.name} partner delivery`,
    passphrase: await checkedPassphrase(pki, pki.passphrase ?? noPassphrase),
    now,
  });
}

/** The stored signing key named by `config`. */
export async function loadSigningKey(store: StoreReader, config: StoreConfig): Promise<HomeSigningKey> {
  const delivery = config.delivery as NonNullable<StoreConfig["delivery"]>;
  const bytes = await mustGet(store, storeKeys.homePrivateKey);
  checkSize(bytes, INPUT_LIMITS.pgpKey, store.where(storeKeys.homePrivateKey));
  const privateArmored = utf8(bytes);
  return { privateArmored, fingerprint: delivery.signingKeyFingerprint, userId: delivery.userId, created: false };
}

/** The signing key, created on first use (its own transaction) so `partner export` works on a fresh PKI. */
export async function ensureSigningKey(pki: Pki, now: Date = pki.now): Promise<HomeSigningKey> {
  const pair = await prepareSigningKey(pki, now);
  if (pair) {
    const created = await pki.transact("pgp.init", (tx) => stageSigningKey(tx, pair));
    if (created) return { privateArmored: pair.privateArmored, fingerprint: pair.info.fingerprint, userId: pair.info.userIds[0] ?? "", created };
  }
  // config.json afresh: another process may have created the key since this session read it.
  return loadSigningKey(pki.storage, await readConfigOf(pki.storage));
}

export async function showSigningKey(pki: Pki): Promise<{ fingerprint: string; userId: string; publicKeyPath: string; publicKey: string } | undefined> {
  const config = await pki.config();
  if (!config.delivery) return undefined;
  return {
    ...config.delivery,
    fingerprint: config.delivery.signingKeyFingerprint,
    publicKeyPath: pki.storage.where(storeKeys.homePublicKey),
    publicKey: utf8(await mustGet(pki.storage, storeKeys.homePublicKey)),
  };
}
