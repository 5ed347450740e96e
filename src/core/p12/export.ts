import { chainCertsOf, loadCaCerts, readCertFile } from "../ca/material.js";
import { inputError } from "../errors.js";
import { parseSerial, validatePartnerId } from "../ids.js";
import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import { makeP12, type P12FileResult, type P12Profile, readKeyFor, writeP12 } from "./p12.js";

export interface ExportP12Params {
  partnerId: string;
  /** Default: the partner's newest valid certificate. */
  serial?: string;
  /** The partner's private key: mtls never keeps one, so whoever holds it supplies it. */
  key: Uint8Array;
  keySource: string;
  keyPassphrase?: string;
  profile: P12Profile;
  out: string;
  passwordFile?: string;
  force: boolean;
}

/** `partner export --format p12`: the partner's certificate from the PKI, its chain, and the key the user holds. */
export async function exportPartnerP12(pki: Pki, p: ExportP12Params): Promise<P12FileResult> {
  const id = validatePartnerId(p.partnerId);
  const config = await pki.config();
  const mine = (await readIndexOf(pki.storage)).records.filter((r) => r.partnerId === id);
  if (mine.length === 0) throw inputError("ERR_UNKNOWN_PARTNER", `partner "${id}" has no certificate in this PKI`, "see `mtls partner list`");
  const serial = p.serial ? parseSerial(p.serial) : undefined;
  const record = serial ? mine.find((r) => r.serial === serial) : mine.filter((r) => r.status === "valid" && Date.parse(r.notAfter) > pki.now.getTime()).at(-1);
  if (!record)
    throw inputError(
      serial ? "ERR_UNKNOWN_SERIAL" : "ERR_NO_CERT",
      `partner ${id} has no ${serial ? `certificate with serial ${serial}` : "valid certificate"}`,
    );
  if (record.status === "revoked") throw inputError("ERR_REVOKED", `certificate ${record.serial} is revoked`, "issue a new certificate first");
  const leaf = await readCertFile(pki.storage, storeKeys.certFile(record.serial), `certificate ${record.serial}`);
  const ca = await loadCaCerts(pki.storage, config);
  const chain = [leaf, ...chainCertsOf(ca, record.issuer)];
  const pkcs8 = readKeyFor(leaf, p.key, p.keySource, p.keyPassphrase);
  const built = await makeP12({ profile: p.profile, pkcs8, certs: chain.map((c) => c.der), friendlyName: id });
  const result = await writeP12(built, {
    out: p.out,
    force: p.force,
    friendlyName: id,
    leaf,
    count: chain.length,
    ...(p.passwordFile ? { passwordFile: p.passwordFile } : {}),
  });
  await pki.transact("bundle.export", async (tx) => {
    tx.audit({ action: "bundle.export", outcome: "p12", serial: record.serial, partner: id, details: { profile: p.profile } });
  });
  return result;
}
