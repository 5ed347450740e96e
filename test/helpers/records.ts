// Index records for tests that build a journal or a record list by hand.
import type { CertRecord } from "../../src/core/store/index-file.js";

/**
 * An index record as mtls writes one: the fields a test varies, the rest as for a CSR-issued
 * client certificate of the intermediate (keys in the order mtls writes them; an override keeps
 * its key's place).
 */
export function certRecord(
  serial: string,
  f: Pick<CertRecord, "partnerId" | "subject" | "notBefore" | "notAfter" | "issuedAt"> & Partial<CertRecord>,
): CertRecord {
  const { partnerId, subject, notBefore, notAfter, issuedAt, ...extra } = f;
  return {
    serial,
    partnerId,
    subject,
    sans: [],
    keyType: "ec-p256",
    notBefore,
    notAfter,
    issuedAt,
    fingerprint: `sha256:${serial}`,
    source: "csr",
    issuer: "intermediate",
    certPath: `certs/${serial}.pem`,
    status: "valid",
    ...extra,
  };
}
