// What a gateway verifies client certificates against: the CA bundle and every CA's CRL (`gateway
// serve` loads them, `gateway config` copies or embeds them).
// Node checks revocation only when it is given at least one CRL: handed none, it accepts revoked
// certificates without a word. So a bundle that lacks the CRL of a CA that publishes one is
// refused here, and the caller keeps what it had (or does not start).
import { type CaCerts, type CaEntry, crlCas, loadCaCerts } from "../ca/material.js";
import { parseCrlSerials, verifyCrlSignature } from "../crl/decode.js";
import { envError } from "../errors.js";
import { decodePemBlocks, encodePem } from "../pem.js";
import { mustGet, readConfigOf } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";

export interface TlsMaterial {
  ca: Buffer;
  /** One PEM CRL per entry: Node reads one CRL per entry of its `crl` option. */
  crl: string[];
  /** The CRL bundle as published, for configs that copy or embed it. */
  crlBundle: Buffer;
}

/** Whether one of the CRLs was signed by this CA (its name, then its key). */
async function hasCrlOf(crls: ReturnType<typeof parseCrlSerials>[], ca: CaEntry): Promise<boolean> {
  for (const crl of crls) if (crl.issuerDer.equals(ca.cert.subjectDer) && (await verifyCrlSignature(crl, ca.cert))) return true;
  return false;
}

/**
 * The CA bundle and the CRLs, read afresh (config.json too: a rollover adds a CA, a retirement
 * takes one away), or checked against `ca` when the caller has loaded the CAs already. They are
 * read before the bundle: a CA added after that read only adds a CRL the check does not ask for.
 * Throws (exit 5, naming the bundle) unless every CA that publishes a CRL has one in it.
 */
export async function readTlsMaterial(store: StoreReader, ca?: CaCerts): Promise<TlsMaterial> {
  const cas = crlCas(ca ?? (await loadCaCerts(store, await readConfigOf(store))));
  const where = store.where(storeKeys.crlBundle);
  const [caBundle, crlBytes] = await Promise.all([mustGet(store, storeKeys.caBundle), store.get(storeKeys.crlBundle)]);
  if (!crlBytes) throw envError("ERR_NO_CRL", `the CRL bundle ${where} is missing`, "run `mtls crl publish`");
  const ders = decodePemBlocks(Buffer.from(crlBytes).toString("latin1"))
    .filter((b) => b.label === "X509 CRL")
    .map((b) => b.der);
  let parsed: ReturnType<typeof parseCrlSerials>[];
  try {
    parsed = ders.map((der) => parseCrlSerials(der));
  } catch (err) {
    throw envError("ERR_CRL_CORRUPT", `${where} holds a CRL that cannot be read (${(err as Error).message})`, "run `mtls crl publish`", err);
  }
  const missing: string[] = [];
  for (const ca of cas) if (!(await hasCrlOf(parsed, ca))) missing.push(ca.id);
  if (missing.length)
    throw envError(
      "ERR_NO_CRL",
      `${where} holds no CRL of the ${missing.join(", ")} CA${missing.length > 1 ? "s" : ""}: client certificates could not be checked for revocation`,
      "run `mtls crl publish`",
    );
  return { ca: Buffer.from(caBundle), crl: ders.map((der) => encodePem("X509 CRL", der)), crlBundle: Buffer.from(crlBytes) };
}
