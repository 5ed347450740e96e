import { inputError } from "../errors.js";
import { precheckIssueRequest } from "../identity/precheck.js";
import { issuePartnerCert } from "../issue/issue.js";
import type { KeyType } from "../keys.js";
import type { San } from "../sans.js";
import type { Pki } from "../session.js";
import { readPartnersOf } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import { preparePartnerRegistration } from "./partners.js";

export interface OnboardParams {
  partnerId: string;
  name?: string;
  contact?: string;
  /** The partner's OpenPGP public key; optional when one is on file already. */
  pgpKey?: Uint8Array;
  pgpSource?: string;
  csr?: Uint8Array;
  csrSource?: string;
  generateKeyType?: KeyType;
  /** Replaces the CSR's subject (or the default CN=<partner id>) with CN=<cn>. */
  cn?: string;
  sans?: San[];
  days?: number;
  /** The bundle to write; default ./<partner>-<serial prefix>.zip.pgp in bundleDir. */
  bundleOut?: string;
  bundleDir: string;
  gatewayUrl?: string;
}

export interface OnboardResult {
  partnerId: string;
  serial: string;
  notAfter: string;
  bundlePath: string;
  recipientFingerprint: string;
  signerFingerprint: string;
  signerPublicKeyPath: string;
  contact?: string;
  keyHeldBy: "partner" | "bundle";
}

/**
 * Registers (or updates) a partner, issues its certificate and writes its encrypted bundle, as
 * one transaction: everything is checked first (id, contact, OpenPGP key, CSR, validity), then
 * the registration, key file, certificate, index and audit records commit together under one
 * lock, with the bundle written just before the commit and removed if it fails.
 */
export async function onboardPartner(pki: Pki, p: OnboardParams): Promise<OnboardResult> {
  const now = pki.now;
  const registration = await preparePartnerRegistration({
    partnerId: p.partnerId,
    ...(p.pgpKey ? { pgpKey: p.pgpKey, pgpSource: p.pgpSource ?? "the OpenPGP key" } : {}),
    ...(p.name ? { name: p.name } : {}),
    ...(p.contact ? { contact: p.contact } : {}),
    now,
  });
  // The identity check's early answer (issuing checks again under the lock), before the home
  // party's signing key is made on first use.
  await precheckIssueRequest(pki, {
    partnerId: p.partnerId,
    ...(p.csr ? { csr: p.csr, csrSource: p.csrSource ?? "the CSR" } : {}),
    // The certificate names what --cn says, not the CSR's subject: so must the check.
    ...(p.cn !== undefined ? { cn: p.cn } : {}),
    ...(p.sans?.length ? { sans: p.sans } : {}),
    ...(p.days ? { days: p.days } : {}),
    now,
  });
  await pki.config();
  const known = (await readPartnersOf(pki.storage)).partners[registration.id];
  if (!registration.key && !known?.pgp)
    throw inputError(
      "ERR_NO_PGP_KEY",
      `partner ${registration.id} has no OpenPGP key on file`,
      "pass --pgp-key <file.asc>: onboarding delivers an encrypted bundle",
    );
  const issued = await issuePartnerCert(pki, {
    partnerId: registration.id,
    onboard: registration,
    ...(p.csr ? { csr: p.csr, csrSource: p.csrSource ?? "the CSR" } : {}),
    ...(p.generateKeyType ? { generateKeyType: p.generateKeyType } : {}),
    bundleDir: p.bundleDir,
    ...(p.bundleOut ? { bundleOut: p.bundleOut } : {}),
    ...(p.cn !== undefined ? { cn: p.cn } : {}),
    ...(p.sans?.length ? { sans: p.sans } : {}),
    ...(p.days ? { days: p.days } : {}),
    ...(p.gatewayUrl ? { gatewayUrl: p.gatewayUrl } : {}),
  });
  const bundle = issued.bundle;
  if (!bundle) throw new Error("onboarding issued no bundle");
  const contact = registration.contact ?? known?.contact;
  return {
    partnerId: issued.partnerId,
    serial: issued.serial,
    notAfter: issued.notAfter,
    bundlePath: bundle.path,
    recipientFingerprint: bundle.recipientFingerprint ?? "",
    signerFingerprint: bundle.signerFingerprint ?? "",
    signerPublicKeyPath: pki.storage.where(storeKeys.homePublicKey),
    ...(contact ? { contact } : {}),
    keyHeldBy: p.csr ? "partner" : "bundle",
  };
}
