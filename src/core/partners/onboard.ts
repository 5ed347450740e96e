import { join } from "node:path";
import { exportPartnerBundle } from "../bundle/export.js";
import type { PassphraseSource } from "../ca/material.js";
import { precheckIssueRequest } from "../identity/precheck.js";
import { issuePartnerCert } from "../issue/issue.js";
import type { KeyType } from "../keys.js";
import type { San } from "../sans.js";
import { readPartners } from "../store/partners.js";
import { openStore } from "../store/store.js";
import { addPartner } from "./partners.js";

export interface OnboardParams {
  pkiDir: string;
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
  passphrase: PassphraseSource;
  now: Date;
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

/** Registers (or updates) a partner, issues its certificate and writes its encrypted bundle. */
export async function onboardPartner(p: OnboardParams): Promise<OnboardResult> {
  await precheckIssueRequest({
    pkiDir: p.pkiDir,
    partnerId: p.partnerId,
    ...(p.csr ? { csr: p.csr, csrSource: p.csrSource ?? "the CSR" } : {}),
    ...(p.sans?.length ? { sans: p.sans } : {}),
    ...(p.days ? { days: p.days } : {}),
    now: p.now,
  });
  const reg = await addPartner({
    pkiDir: p.pkiDir,
    partnerId: p.partnerId,
    ...(p.pgpKey ? { pgpKey: p.pgpKey, pgpSource: p.pgpSource ?? "the OpenPGP key" } : {}),
    ...(p.name ? { name: p.name } : {}),
    ...(p.contact ? { contact: p.contact } : {}),
    now: p.now,
  });
  const { layout } = await openStore(p.pkiDir);
  if (!(await readPartners(layout.partners)).partners[reg.partner.id]?.pgp) {
    const { inputError } = await import("../errors.js");
    throw inputError(
      "ERR_NO_PGP_KEY",
      `partner ${reg.partner.id} has no OpenPGP key on file`,
      "pass --pgp-key <file.asc>: onboarding delivers an encrypted bundle",
    );
  }
  const issued = await issuePartnerCert({
    pkiDir: p.pkiDir,
    partnerId: p.partnerId,
    ...(p.csr ? { csr: p.csr, csrSource: p.csrSource ?? "the CSR" } : {}),
    ...(p.generateKeyType ? { generateKeyType: p.generateKeyType, bundleDir: p.bundleDir, ...(p.bundleOut ? { bundleOut: p.bundleOut } : {}) } : {}),
    ...(p.cn !== undefined ? { cn: p.cn } : {}),
    ...(p.sans?.length ? { sans: p.sans } : {}),
    ...(p.days ? { days: p.days } : {}),
    ...(p.gatewayUrl ? { gatewayUrl: p.gatewayUrl } : {}),
    passphrase: p.passphrase,
    now: p.now,
  });
  let bundle = issued.bundle;
  if (!bundle) {
    const out = p.bundleOut ?? join(p.bundleDir, `${issued.partnerId}-${issued.serial.slice(0, 8)}.zip.pgp`);
    const d = await exportPartnerBundle({
      pkiDir: p.pkiDir,
      partnerId: issued.partnerId,
      serial: issued.serial,
      out,
      encrypt: true,
      passphrase: p.passphrase,
      ...(p.gatewayUrl ? { gatewayUrl: p.gatewayUrl } : {}),
      now: p.now,
    });
    bundle = {
      path: out,
      bytes: d.bytes,
      signingKeyCreated: d.signingKeyCreated,
      ...(d.recipientFingerprint ? { recipientFingerprint: d.recipientFingerprint } : {}),
      ...(d.signerFingerprint ? { signerFingerprint: d.signerFingerprint } : {}),
    };
  }
  return {
    partnerId: issued.partnerId,
    serial: issued.serial,
    notAfter: issued.notAfter,
    bundlePath: bundle.path,
    recipientFingerprint: bundle.recipientFingerprint ?? "",
    signerFingerprint: bundle.signerFingerprint ?? "",
    signerPublicKeyPath: layout.homePublicKey,
    ...(reg.partner.contact ? { contact: reg.partner.contact } : {}),
    keyHeldBy: p.csr ? "partner" : "bundle",
  };
}
