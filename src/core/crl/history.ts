// What has been published already, so that nothing published is ever taken back (#13):
// every serial on a signed CRL (in the store or in the publish directory) stays on every later
// CRL, and CRL Numbers continue from the highest one seen anywhere, not only from state.json.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { CaCerts } from "../ca/material.js";
import { fsError } from "../errors.js";
import { REVOCATION_REASONS, type RevocationReason } from "../store/index-file.js";
import type { Layout } from "../store/layout.js";
import type { Revocation } from "../store/revocations.js";
import { iso } from "../time.js";
import { type ParsedCrl, parseCrl, verifyCrlSignature } from "./encode.js";
import type { CaRole, CrlState } from "./publish.js";

export interface SeenCrl {
  role: CaRole;
  path: string;
  where: "store" | "publish";
  /** Absent when the file is missing. */
  crl?: ParsedCrl;
  number?: number;
  signatureValid?: boolean;
  /** Why the file could not be read as a CRL. */
  damaged?: string;
}

export interface CrlHistory {
  seen: SeenCrl[];
  /** Highest CRL Number of a validly signed CRL, per CA. */
  numbers: Partial<Record<CaRole, number>>;
  /** Every serial on a validly signed CRL, with the issuing CA, date and reason listed. */
  listed: Map<string, { role: CaRole; revokedAt: Date; reason: string }>;
}

export const rolesOf = (ca: CaCerts): CaRole[] => (ca.intermediate ? ["intermediate", "root"] : ["root"]);

/** The DER CRL paths of each CA in the store and, when configured, in the publish directory. */
export function crlPaths(layout: Layout, publishDir: string | undefined, ca: CaCerts): Array<{ role: CaRole; path: string; where: SeenCrl["where"] }> {
  return rolesOf(ca).flatMap((role) => [
    { role, path: layout.crlDer(role), where: "store" as const },
    ...(publishDir ? [{ role, path: join(publishDir, `${role}.crl`), where: "publish" as const }] : []),
  ]);
}

export async function readSeen(at: { role: CaRole; path: string; where: SeenCrl["where"] }, ca: CaCerts): Promise<SeenCrl> {
  let der: Buffer;
  try {
    der = await readFile(at.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return at;
    // The publish directory belongs to the web server or gateway as much as to us: a problem
    // there is reported (and repaired by the next publish), never a reason to refuse a change.
    if (at.where === "publish") return { ...at, damaged: `unreadable (${code ?? "error"})` };
    throw fsError(err, at.path, "read");
  }
  let crl: ParsedCrl;
  try {
    crl = parseCrl(der);
  } catch {
    return { ...at, damaged: "not a readable CRL" };
  }
  const signatureValid = await verifyCrlSignature(crl, at.role === "root" ? ca.root : (ca.intermediate ?? ca.root)).catch(() => false);
  const n = crl.number === undefined ? undefined : Number(crl.number);
  return { ...at, crl, signatureValid, ...(n !== undefined && Number.isSafeInteger(n) ? { number: n } : {}) };
}

/** Reads every published CRL; unreadable ones are reported, never trusted. */
export async function readCrlHistory(layout: Layout, publishDir: string | undefined, ca: CaCerts): Promise<CrlHistory> {
  const seen = await Promise.all(crlPaths(layout, publishDir, ca).map((at) => readSeen(at, ca)));
  const numbers: CrlHistory["numbers"] = {};
  const listed: CrlHistory["listed"] = new Map();
  for (const s of seen) {
    if (!s.crl || !s.signatureValid) continue;
    if (s.number !== undefined) numbers[s.role] = Math.max(numbers[s.role] ?? 0, s.number);
    for (const e of s.crl.entries) if (!listed.has(e.serial)) listed.set(e.serial, { role: s.role, revokedAt: e.revokedAt, reason: e.reason });
  }
  return { seen, numbers, listed };
}

/** state.json raised to the highest number published anywhere: the next CRL gets one more. */
export function mergeCrlNumbers(state: CrlState, history: CrlHistory): CrlState {
  const out: CrlState = {};
  for (const role of ["root", "intermediate"] as const) {
    const n = Math.max(state[role]?.number ?? 0, history.numbers[role] ?? 0);
    if (n > 0) out[role] = { number: n };
  }
  return out;
}

/**
 * Serials a signed CRL lists that the journal lacks (a crash after the CRL was written, before
 * the journal append; or a damaged journal): journal entries that put them back.
 */
export function unjournaled(history: CrlHistory, journal: readonly Revocation[], owners: ReadonlyMap<string, string>): Revocation[] {
  const have = new Set(journal.map((e) => e.serial));
  const out: Revocation[] = [];
  for (const [serial, l] of history.listed) {
    if (have.has(serial)) continue;
    const reason = (REVOCATION_REASONS as readonly string[]).includes(l.reason) ? (l.reason as RevocationReason) : "unspecified";
    out.push({ serial, issuer: l.role, revokedAt: iso(l.revokedAt), reason, partnerId: owners.get(serial) ?? "(unrecorded)" });
  }
  return out;
}
