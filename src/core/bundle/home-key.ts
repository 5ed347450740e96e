import { readFile } from "node:fs/promises";
import { stageAudit } from "../audit/audit.js";
import { loadCaCerts, type PassphraseSource, provePassphrase } from "../ca/material.js";
import { conflictError } from "../errors.js";
import { INPUT_LIMITS, readFileBounded } from "../input.js";
import { readConfig, type StoreConfig, serializeConfig } from "../store/config.js";
import { ensureDir, StoreWriter } from "../store/fs.js";
import { withLock } from "../store/lock.js";
import { openStore, type Store } from "../store/store.js";
import { generateSigningKey, importSigningKey, type PgpKeyInfo, type SigningKeyPair } from "./pgp.js";

export interface SigningKeyResult {
  fingerprint: string;
  userId: string;
  publicKeyPath: string;
  created: boolean;
  info: PgpKeyInfo;
}

async function store(s: Store, pair: SigningKeyPair): Promise<void> {
  const { layout } = s;
  await withLock(layout.lock, async () => {
    const config: StoreConfig = await readConfig(layout.root);
    if (config.delivery)
      throw conflictError(
        "ERR_PGP_EXISTS",
        `the home party already has an OpenPGP signing key (${config.delivery.signingKeyFingerprint})`,
        "partners pin that key; replacing it is not supported",
      );
    config.delivery = { signingKeyFingerprint: pair.info.fingerprint, userId: pair.info.userIds[0] ?? "" };
    await ensureDir(layout.pgpDir);
    // Replace, not create: until config.json names a key, key files there are what a crash
    // during an earlier creation left, referenced by nothing (#13).
    const tx = new StoreWriter()
      .put(layout.homePrivateKey, pair.privateArmored, 0o600)
      .put(layout.homePublicKey, pair.publicArmored)
      .put(layout.config, serializeConfig(config));
    await stageAudit(tx, layout, [{ action: "pgp.init", outcome: "ok", details: { fingerprint: pair.info.fingerprint } }], new Date());
    await tx.commit();
  });
}

/**
 * The CA passphrase, proven against the issuing CA key first: the signing key is sealed with it,
 * and a mistyped one would lock that key for good (#13). An unencrypted CA key proves nothing;
 * the passphrase is then taken as given.
 */
async function checkedPassphrase(s: Store, passphrase: PassphraseSource): Promise<string> {
  await provePassphrase(s.layout, await loadCaCerts(s.layout, s.config), passphrase);
  return passphrase();
}

export interface InitSigningKeyParams {
  pkiDir: string;
  /** Protects the private key at rest, like the CA keys (the CA passphrase). */
  passphrase: PassphraseSource;
  name?: string;
  email?: string;
  /** Import this armored private key instead of generating one. */
  importArmored?: string;
  importPassphrase?: string;
  now: Date;
}

/** Creates (or imports) the home party's OpenPGP signing key, once. */
export async function initSigningKey(p: InitSigningKeyParams): Promise<SigningKeyResult> {
  const s = await openStore(p.pkiDir);
  if (s.config.delivery)
    throw conflictError(
      "ERR_PGP_EXISTS",
      `the home party already has an OpenPGP signing key (${s.config.delivery.signingKeyFingerprint})`,
      "see `mtls pgp show`",
    );
  const passphrase = await checkedPassphrase(s, p.passphrase);
  const pair = p.importArmored
    ? await importSigningKey(p.importArmored, p.importPassphrase, passphrase, p.now)
    : await generateSigningKey({ name: p.name ?? `${s.config.ca.name} partner delivery`, ...(p.email ? { email: p.email } : {}), passphrase, now: p.now });
  await store(s, pair);
  return { fingerprint: pair.info.fingerprint, userId: pair.info.userIds[0] ?? "", publicKeyPath: s.layout.homePublicKey, created: true, info: pair.info };
}

/** The signing key, created on first use so `partner export` works on a fresh PKI. */
export async function ensureSigningKey(
  s: Store,
  passphrase: PassphraseSource,
  now: Date,
): Promise<{ privateArmored: string; fingerprint: string; userId: string; created: boolean }> {
  let created = false;
  if (!s.config.delivery) {
    const pair = await generateSigningKey({ name: `${s.config.ca.name} partner delivery`, passphrase: await checkedPassphrase(s, passphrase), now });
    try {
      await store(s, pair);
      created = true;
    } catch (err) {
      // Another process created it first: use theirs.
      if ((err as { code?: string }).code !== "ERR_PGP_EXISTS") throw err;
    }
    s.config = await readConfig(s.layout.root);
  }
  const delivery = s.config.delivery as NonNullable<StoreConfig["delivery"]>;
  const privateArmored = (await readFileBounded(s.layout.homePrivateKey, INPUT_LIMITS.pgpKey, s.layout.homePrivateKey, { noFollow: true })).toString("utf8");
  return { privateArmored, fingerprint: delivery.signingKeyFingerprint, userId: delivery.userId, created };
}

export async function showSigningKey(p: {
  pkiDir: string;
}): Promise<{ fingerprint: string; userId: string; publicKeyPath: string; publicKey: string } | undefined> {
  const s = await openStore(p.pkiDir);
  if (!s.config.delivery) return undefined;
  return {
    ...s.config.delivery,
    fingerprint: s.config.delivery.signingKeyFingerprint,
    publicKeyPath: s.layout.homePublicKey,
    publicKey: await readFile(s.layout.homePublicKey, "utf8"),
  };
}
