import { type CaCerts, chainCertsOf, issuerIdOf, loadCaCerts, readCertFile } from "../ca/material.js";
import { certChainPem } from "../ca/trust.js";
import { inputError } from "../errors.js";
import { parseSerial, validatePartnerId } from "../ids.js";
import type { CertInfo } from "../pki.js";
import type { Pki, Tx } from "../session.js";
import { readIndexOf, readPartnersOf } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import type { PartnerRecord } from "../store/partners.js";
import { checkNewOutput, writeFileAtomic } from "../user-files.js";
import { type BundleInput, buildBundleZip, type Manifest } from "./bundle.js";
import { checkGatewayUrl } from "./gateway-url.js";
import { ensureSigningKey, type HomeSigningKey, noPassphrase } from "./home-key.js";
import { checkStagedPartnerKey, readPinnedPartnerKey } from "./partner-key.js";
import { encryptAndSign, startUnlock } from "./pgp.js";

export interface DeliveredBundle {
  path: string;
  encrypted: boolean;
  armored: boolean;
  bytes: number;
  recipientFingerprint?: string;
  signerFingerprint?: string;
  signingKeyCreated: boolean;
  manifest: Manifest;
}

export interface DeliverParams {
  pki: Pki;
  /** The home party's signing key when the caller has it (staged in its own transaction). */
  signer?: HomeSigningKey;
  partner: PartnerRecord;
  cert: CertInfo;
  ca: CaCerts;
  privateKeyPem?: string;
  out: string;
  /**
   * The transaction issuing `cert`, when it is: the bundle is then written in its commit, once the
   * store holds the certificate (Tx.writeFile), rather than at once.
   */
  stage?: Pick<Tx, "writeFile">;
  encrypt: boolean;
  armor: boolean;
  force: boolean;
  gatewayUrl?: string;
  p12?: BundleInput["p12"];
  now: Date;
  /** The recipient key, when it is being registered in the same commit (onboarding). */
  recipientArmored?: string;
}

/** What is never delivered: a private key in the clear, an encrypted bundle without a recipient key. */
function refuseUnsafeDelivery(p: DeliverParams): void {
  if (!p.encrypt && p.privateKeyPem)
    throw inputError(
      "ERR_PLAINTEXT_KEY",
      "a bundle holding a private key is never written unencrypted",
      "register the partner's OpenPGP key with `mtls partner add --pgp-key`",
    );
  if (p.encrypt && !p.partner.pgp) {
    throw inputError(
      "ERR_NO_PGP_KEY",
      `partner ${p.partner.id} has no OpenPGP key on file`,
      `run \`mtls partner add ${p.partner.id} --pgp-key <file.asc>\` (or --no-encrypt for a bundle without a key)`,
    );
  }
}

/** What must hold before anything is written: a safe delivery, and an output that can be made. */
async function preflight(p: DeliverParams): Promise<void> {
  refuseUnsafeDelivery(p);
  // Before the signing key: a first delivery commits it, and a bad --out must find the store as it was.
  await checkNewOutput(p.out, p.force);
}

/** Builds the zip, encrypts it to the partner and signs it, and writes it to `out` (0600). */
export async function deliverBundle(p: DeliverParams): Promise<DeliveredBundle> {
  await preflight(p);
  // With a signing key on file (nothing to create), its PBKDF2 unlock starts now and runs in the
  // thread pool while the recipient key is checked and the zip is built (#21).
  const passphrase = p.pki.passphrase ?? noPassphrase;
  const early =
    p.encrypt && p.partner.pgp
      ? p.signer
        ? Promise.resolve(p.signer)
        : p.pki.config().then((c) => (c.delivery ? ensureSigningKey(p.pki, p.now) : undefined))
      : undefined;
  const earlyKey = early?.then((s) => (s ? startUnlock(s.privateArmored, passphrase) : undefined));
  early?.catch(() => {}); // both are awaited below, unless an earlier step fails first
  earlyKey?.catch(() => {});
  // Reading the recipient's key loads openpgp, which holds the main thread for ~25 ms. With a
  // passphrase nobody is asked for, a sealed key's PBKDF2 goes to the thread pool first, so the
  // two overlap; a failure here is reported where earlyKey is awaited, after the recipient check.
  if (earlyKey && p.pki.passphrase?.unattended) await earlyKey.catch(() => {});
  // The pinned recipient first: a mismatch must leave the store as it was, signing key included.
  const recipientArmored = !(p.encrypt && p.partner.pgp)
    ? undefined
    : p.recipientArmored !== undefined
      ? await checkStagedPartnerKey(p.recipientArmored, p.partner)
      : await readPinnedPartnerKey(p.pki.storage, p.partner, p.now);
  const signer = p.encrypt ? ((await early) ?? p.signer ?? (await ensureSigningKey(p.pki, p.now))) : undefined;
  const { zip, manifest } = await buildBundleZip({
    partnerId: p.partner.id,
    ...(p.partner.name ? { partnerName: p.partner.name } : {}),
    cert: p.cert,
    // A certificate of an earlier CA keeps that CA's chain and root (#18).
    chainPem: certChainPem(p.cert.pem, p.ca, issuerIdOf(p.ca, p.cert)),
    rootPem: (chainCertsOf(p.ca, issuerIdOf(p.ca, p.cert)).at(-1) ?? p.ca.root).pem,
    issuerSubject: p.cert.issuer,
    ...(p.privateKeyPem ? { privateKeyPem: p.privateKeyPem } : {}),
    signer: signer ? { fingerprint: signer.fingerprint, userId: signer.userId } : { fingerprint: "(unsigned)", userId: "(unsigned: plain zip)" },
    ...(signer && recipientArmored && p.partner.pgp ? { recipientFingerprint: p.partner.pgp.fingerprint.replace(/\s+/g, "").toUpperCase() } : {}),
    ...(p.gatewayUrl ? { gatewayUrl: p.gatewayUrl } : {}),
    ...(p.p12 ? { p12: p.p12 } : {}),
  });
  let data: Uint8Array = zip;
  if (signer && recipientArmored) {
    const signerKey = earlyKey ? (await earlyKey)?.key : undefined;
    data = await encryptAndSign({
      data: zip,
      filename: "bundle.zip",
      recipientArmored,
      signerArmored: signer.privateArmored,
      signerPassphrase: passphrase,
      ...(signerKey ? { signerKey } : {}),
      armor: p.armor,
      now: p.now,
    });
  }
  if (p.stage) p.stage.writeFile(p.out, data, { mode: 0o600, exclusive: !p.force });
  else await writeFileAtomic(p.out, data, { mode: 0o600, exclusive: !p.force, step: p.pki.durableStep });
  return {
    path: p.out,
    encrypted: Boolean(signer),
    armored: Boolean(signer) && p.armor,
    bytes: data.length,
    ...(p.partner.pgp && signer ? { recipientFingerprint: p.partner.pgp.fingerprint, signerFingerprint: signer.fingerprint } : {}),
    signingKeyCreated: signer?.created ?? false,
    manifest,
  };
}

export interface ExportParams {
  partnerId: string;
  /** Default: the partner's newest valid certificate. */
  serial?: string;
  out: string;
  /** False writes a plain zip (never with a private key inside). */
  encrypt: boolean;
  armor?: boolean;
  force?: boolean;
  gatewayUrl?: string;
}

/** What `partner export` delivered, and which certificate it picked. */
export interface ExportedBundle extends DeliveredBundle {
  serial: string;
  notAfter: string;
  /** True when no --serial was given and the newest valid certificate was chosen. */
  picked: boolean;
}

/** Exports a delivery bundle for one of the partner's certificates. */
export async function exportPartnerBundle(pki: Pki, p: ExportParams): Promise<ExportedBundle> {
  const id = validatePartnerId(p.partnerId);
  if (p.gatewayUrl) checkGatewayUrl(p.gatewayUrl);
  const config = await pki.config();
  const [{ records: index }, reg] = await Promise.all([readIndexOf(pki.storage), readPartnersOf(pki.storage)]);
  const mine = index.filter((r) => r.partnerId === id);
  const partner = reg.partners[id];
  if (!partner && mine.length === 0) throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${id}" in this PKI`, "see `mtls partner list`");
  const now = pki.now;
  let record = mine.filter((r) => r.status === "valid" && Date.parse(r.notAfter) > now.getTime()).at(-1);
  if (p.serial) {
    const serial = parseSerial(p.serial);
    record = mine.find((r) => r.serial === serial);
    if (!record) throw inputError("ERR_UNKNOWN_SERIAL", `partner ${id} has no certificate with serial ${serial}`, `see \`mtls partner show ${id}\``);
    if (record.status === "revoked") throw inputError("ERR_REVOKED", `certificate ${serial} is revoked`, "issue a new certificate first");
  }
  if (!record) throw inputError("ERR_NO_CERT", `partner ${id} has no valid certificate to deliver`, `issue one: mtls partner issue ${id} ...`);
  const cert = await readCertFile(pki.storage, storeKeys.certFile(record.serial), `certificate ${record.serial}`);
  const ca = await loadCaCerts(pki.storage, config);
  const delivered = await deliverBundle({
    pki,
    partner: partner ?? { id, createdAt: record.issuedAt, updatedAt: record.issuedAt },
    cert,
    ca,
    out: p.out,
    encrypt: p.encrypt,
    armor: p.armor ?? false,
    force: p.force ?? false,
    ...(p.gatewayUrl ? { gatewayUrl: p.gatewayUrl } : {}),
    now,
  });
  await pki.transact("bundle.export", async (tx) => {
    tx.audit({
      action: "bundle.export",
      outcome: delivered.encrypted ? "encrypted" : "plain",
      serial: record.serial,
      partner: id,
      ...(delivered.recipientFingerprint ? { details: { recipient: delivered.recipientFingerprint } } : {}),
    });
  });
  return { ...delivered, serial: record.serial, notAfter: record.notAfter, picked: !p.serial };
}
