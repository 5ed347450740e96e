import { loadCaCerts } from "../ca/material.js";
import { type LoadedCrl, loadPublishedCrls } from "../crl/show.js";
import { inputError, MtlsError } from "../errors.js";
import type { Pki } from "../session.js";
import { DAY } from "../time.js";
import { detectObjects } from "./detect.js";
import { type Lint, lintObjects, type PkiContext } from "./lints.js";
import type { InspectedObject } from "./objects.js";

/** Files larger than this are refused before parsing: a 100,000-entry CRL is about 4 MB. */
export const MAX_INSPECT_BYTES = 32 * 1024 * 1024;

export interface InspectParams {
  bytes: Buffer;
  /** Names the input in messages: "acme.pem", "standard input". */
  source: string;
  /** The PKCS#12 password (from --password-file). */
  password?: string;
  /** When false, a missing PKI is an error; when true, the PKI lints are skipped with a note. */
  pkiOptional: boolean;
  /** The "expiring" window; default 30 days. */
  expiringWithinMs?: number;
  /** Which extended key usage a leaf should have; default client (partner certificates). */
  purpose?: "client" | "server";
}

export interface InspectResult {
  source: string;
  format: "pem" | "der" | "zip" | "openpgp";
  objects: InspectedObject[];
  lints: Lint[];
  /** The PKI the file was checked against, if any. */
  pki?: string;
  notes: string[];
}

async function loadPki(pki: Pki, p: InspectParams): Promise<{ ctx?: PkiContext; note?: string }> {
  try {
    const config = await pki.config();
    const ca = await loadCaCerts(pki.storage, config);
    const crls = (await loadPublishedCrls(pki.storage, config, ca)).filter((l): l is LoadedCrl => !("missing" in l));
    return { ctx: { cas: ca.all.map((c) => c.cert), crls } };
  } catch (err) {
    if (p.pkiOptional && err instanceof MtlsError && err.code === "ERR_NO_PKI")
      return { note: `no PKI at ${pki.location}: not checked against a CA or CRL (pass --pki <dir>)` };
    throw err;
  }
}

/**
 * `mtls inspect`: what a certificate, chain, CSR, CRL, key, PKCS#12 or delivery bundle holds, PEM
 * or DER, and the lints it fails. A private key is described by its public half only.
 */
export async function inspectFile(pki: Pki, p: InspectParams): Promise<InspectResult> {
  if (p.bytes.length > MAX_INSPECT_BYTES)
    throw inputError("ERR_INPUT_TOO_LARGE", `${p.source} is ${p.bytes.length} bytes; inspect reads at most ${MAX_INSPECT_BYTES}`);
  if (p.bytes.length === 0) throw inputError("ERR_INSPECT_UNKNOWN", `${p.source} is empty`);
  const detected = await detectObjects(p.bytes, p.source, p.password);
  const checked = await loadPki(pki, p);
  const lints = await lintObjects(detected, {
    now: pki.now,
    expiringWithinMs: p.expiringWithinMs ?? 30 * DAY,
    purpose: p.purpose ?? "client",
    ...(checked.ctx ? { pki: checked.ctx } : {}),
  });
  const notes = [...detected.notes, ...(checked.note ? [checked.note] : [])];
  if (detected.objects.some((o) => o.type === "pkcs12" && o.unreadable.length > 0) && p.password === undefined)
    notes.push("pass --password-file <file> to read the PKCS#12 file's certificates and key");
  return { source: p.source, format: detected.format, objects: detected.objects, lints, ...(checked.ctx ? { pki: pki.location } : {}), notes };
}
