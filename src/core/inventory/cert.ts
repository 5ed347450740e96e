// One issued certificate by serial, as PEM (`mtls cert show`): the way to a certificate whatever
// holds it, a file of its own or the pack of the batch that issued it (which writes no
// per-serial files, store/pack.ts).
import { sha256Fingerprint } from "../cert.js";
import { envError, inputError } from "../errors.js";
import { parseSerial } from "../ids.js";
import { decodePemBlocks } from "../pem.js";
import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import { type CertStatus, statusOf } from "./list.js";

const DAY = 86_400_000;

export interface ShownCertificate {
  serial: string;
  partnerId: string;
  kind: "client" | "server";
  subject: string;
  notAfter: string;
  status: CertStatus;
  /** The certificate, PEM; with `chain`, followed by the intermediate that issued it, as a client presents them. */
  pem: string;
}

/** The certificate with `serial` (any case, optional colons); unknown serial: exit 3. Needs no passphrase. */
export async function showCertificate(pki: Pki, p: { serial: string; chain?: boolean }): Promise<ShownCertificate> {
  const serial = parseSerial(p.serial);
  const config = await pki.config();
  const { records } = await readIndexOf(pki.storage);
  const r = records.find((x) => x.serial === serial);
  if (!r) throw inputError("ERR_UNKNOWN_SERIAL", `no certificate with serial ${serial} in this PKI`, "see `mtls list` for serials");
  const key = p.chain ? storeKeys.chainFile(serial) : storeKeys.certFile(serial);
  const bytes = await pki.storage.get(key);
  if (!bytes) throw envError("ERR_CERT_MISSING", `the index names certificate ${serial}, but ${pki.storage.where(key)} is missing`, "run `mtls doctor`");
  const pem = Buffer.from(bytes).toString("utf8");
  // What the store holds under that name must be the certificate the index recorded: a damaged or
  // planted file (or pack entry) is never printed as this serial's.
  const first = decodePemBlocks(pem)[0];
  if (first?.label !== "CERTIFICATE" || sha256Fingerprint(first.der) !== r.fingerprint)
    throw envError("ERR_CERT_MISMATCH", `${pki.storage.where(key)} is not the certificate the index records for serial ${serial}`, "run `mtls doctor`");
  return {
    serial,
    partnerId: r.partnerId,
    kind: r.kind ?? "client",
    subject: r.subject,
    notAfter: r.notAfter,
    status: statusOf(r, pki.now, config.policy.warnDays * DAY),
    pem,
  };
}
