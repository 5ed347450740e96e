// What has been published already, so that nothing published is ever taken back (#13):
// every serial on a signed CRL (in the store or in the publish directory) stays on every later
// CRL, and CRL Numbers continue from the highest one seen anywhere, not only from state.json.
import { join } from "node:path";
import { type CaCerts, certOf, crlCas } from "../ca/material.js";
import type { StoreConfig } from "../store/config.js";
import { type CertRecord, REVOCATION_REASONS, type RevocationReason } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import type { Revocation } from "../store/revocations.js";
import type { StoreReader } from "../store/storage.js";
import { iso } from "../time.js";
import { readOptionalFile } from "../user-files.js";
import { type ParsedCrl, parseCrl, parseCrlSerials, verifyCrlSignature } from "./decode.js";
import type { CaRole, CrlState } from "./publish.js";

export interface SeenCrl {
  role: CaRole;
  /** The store's name for it (see Storage.where), or its path in the publish directory. */
  path: string;
  where: "store" | "publish";
  /** Reads its bytes again (for the rare full parse); undefined when it is gone. */
  read: () => Promise<Uint8Array | undefined>;
  /** Absent when the file is missing. Its header only: `entries` is empty, see `serials`. */
  crl?: ParsedCrl;
  serials?: string[];
  number?: number;
  signatureValid?: boolean;
  /** Why the file could not be read as a CRL. */
  damaged?: string;
}

export interface CrlHistory {
  seen: SeenCrl[];
  /** Highest CRL Number of a validly signed CRL, per CA. */
  numbers: Partial<Record<CaRole, number>>;
}

/** The CAs that publish CRLs, issuing CA first. */
export const rolesOf = (ca: CaCerts): CaRole[] => crlCas(ca).map((c) => c.id);

type Where = Pick<SeenCrl, "role" | "path" | "where" | "read">;

/** A CRL in the publish directory (a file the web server or gateway reads). */
export const publishedAt = (role: CaRole, path: string): Where => ({ role, path, where: "publish", read: () => readOptionalFile(path) });

/** The DER CRL of each CA in the store and, when configured, in the publish directory. */
export function crlSources(store: StoreReader, publishDir: string | undefined, ca: CaCerts): Where[] {
  return rolesOf(ca).flatMap((role) => {
    const key = storeKeys.crlDer(role);
    const inStore: Where = { role, path: store.where(key), where: "store", read: () => store.get(key) };
    return [inStore, ...(publishDir ? [publishedAt(role, join(publishDir, `${role}.crl`))] : [])];
  });
}

/** Why a file of the publish directory could not be read, as doctor and status say it. */
function unreadable(err: unknown): string {
  if ((err as { code?: string }).code === "ERR_NOT_A_FILE") return "not a regular file";
  return `unreadable (${(err as { cause?: NodeJS.ErrnoException }).cause?.code ?? "error"})`;
}

async function readDer(at: Where): Promise<Buffer | SeenCrl> {
  try {
    const bytes = await at.read();
    return bytes ? Buffer.from(bytes) : at;
  } catch (err) {
    // The publish directory belongs to the web server or gateway as much as to us: a problem
    // there is reported (and repaired by the next publish), never a reason to refuse a change.
    if (at.where === "publish") return { ...at, damaged: unreadable(err) };
    throw err;
  }
}

async function judge(at: Where, der: Buffer, ca: CaCerts): Promise<SeenCrl> {
  let parsed: ReturnType<typeof parseCrlSerials>;
  try {
    parsed = parseCrlSerials(der);
  } catch {
    return { ...at, damaged: "not a readable CRL" };
  }
  const { serials, ...crl } = parsed;
  const signatureValid = await verifyCrlSignature(crl, certOf(ca, at.role)).catch(() => false);
  const n = crl.number === undefined ? undefined : Number(crl.number);
  return { ...at, crl, serials, signatureValid, ...(n !== undefined && Number.isSafeInteger(n) ? { number: n } : {}) };
}

/** One published CRL, read and its signature checked. */
export async function readSeen(at: Where, ca: CaCerts): Promise<SeenCrl> {
  const der = await readDer(at);
  return Buffer.isBuffer(der) ? judge(at, der, ca) : der;
}

/** Reads every published CRL; unreadable ones are reported, never trusted. */
export async function readCrlHistory(store: StoreReader, publishDir: string | undefined, ca: CaCerts): Promise<CrlHistory> {
  const seen: SeenCrl[] = [];
  const judged: Array<{ der: Buffer; seen: SeenCrl }> = [];
  for (const at of crlSources(store, publishDir, ca)) {
    const der = await readDer(at);
    if (!Buffer.isBuffer(der)) {
      seen.push(der);
      continue;
    }
    // The publish directory usually holds the very same bytes: judge them once.
    const same = judged.find((j) => j.seen.role === at.role && j.der.equals(der));
    const s = same ? { ...same.seen, ...at } : await judge(at, der, ca);
    judged.push({ der, seen: s });
    seen.push(s);
  }
  const numbers: CrlHistory["numbers"] = {};
  for (const s of seen) if (s.signatureValid && s.number !== undefined) numbers[s.role] = Math.max(numbers[s.role] ?? 0, s.number);
  return { seen, numbers };
}

/** state.json raised to the highest number published anywhere: the next CRL gets one more. */
export function mergeCrlNumbers(state: CrlState, history: CrlHistory): CrlState {
  const out: CrlState = {};
  for (const role of new Set([...Object.keys(state), ...Object.keys(history.numbers)])) {
    const n = Math.max(state[role]?.number ?? 0, history.numbers[role] ?? 0);
    if (n > 0) out[role] = { number: n };
  }
  return out;
}

/**
 * Whose certificate each serial is, as a revocation names it: its partner in the index, and
 * "(canary)" for the canary config.json names, as `ca init` and `ca rollover` recorded it.
 */
export function revocationOwners(config: Pick<StoreConfig, "canary">, records: readonly CertRecord[] = []): Map<string, string> {
  const owners = new Map(records.map((r) => [r.serial, r.partnerId]));
  if (config.canary) owners.set(config.canary.serial, "(canary)");
  return owners;
}

/**
 * Serials a signed CRL lists that the journal lacks (a crash after the CRL was written, before
 * the journal append; or a damaged journal): journal entries that put them back.
 */
export async function unjournaled(history: CrlHistory, journal: readonly Revocation[], owners: ReadonlyMap<string, string>): Promise<Revocation[]> {
  const have = new Set(journal.map((e) => e.serial));
  const missing: Array<[string, SeenCrl]> = [];
  for (const s of history.seen) {
    if (!s.serials || !s.signatureValid) continue;
    for (const serial of s.serials)
      if (!have.has(serial)) {
        have.add(serial);
        missing.push([serial, s]);
      }
  }
  if (missing.length === 0) return [];
  // The rare path: the date and reason the CRL gives, from a full read of the CRLs that list them.
  const details = new Map<string, { revokedAt: Date; reason: string }>();
  for (const at of new Set(missing.map(([, l]) => l))) {
    let entries: ParsedCrl["entries"] = [];
    try {
      entries = parseCrl(Buffer.from((await at.read()) ?? [])).entries;
    } catch {} // replaced since: the serial is still kept, dated at the epoch
    for (const e of entries) if (!details.has(e.serial)) details.set(e.serial, e);
  }
  return missing.map(([serial, l]) => {
    const d = details.get(serial);
    const reason = d && (REVOCATION_REASONS as readonly string[]).includes(d.reason) ? (d.reason as RevocationReason) : "unspecified";
    return { serial, issuer: l.role, revokedAt: d ? iso(d.revokedAt) : iso(new Date(0)), reason, partnerId: owners.get(serial) ?? "(unrecorded)" };
  });
}

/**
 * What in the publish directory lags the store: a CRL missing, unreadable, not signed by this
 * CA or older than the store's, or a copy (PEM, bundle) whose bytes differ from the store's,
 * as a crash in the middle of copying leaves them. Gateways load these files (#13).
 */
export async function publishDirLag(store: StoreReader, publishDir: string, history: CrlHistory): Promise<Array<{ path: string; why: string }>> {
  const out: Array<{ path: string; why: string }> = [];
  const roles = [...new Set(history.seen.map((s) => s.role))];
  for (const s of history.seen.filter((x) => x.where === "publish")) {
    const store = history.seen.find((x) => x.where === "store" && x.role === s.role);
    const why = !s.crl
      ? (s.damaged ?? "missing")
      : !s.signatureValid
        ? "not signed by this CA"
        : (s.number ?? 0) < (store?.number ?? 0)
          ? `CRL #${s.number ?? "?"}, older than the store's #${store?.number}`
          : undefined;
    if (why) out.push({ path: s.path, why });
  }
  const copies: Array<[string, string]> = [
    ...roles.map((r) => [storeKeys.crlPem(r), `${r}.crl.pem`] as [string, string]),
    [storeKeys.crlBundle, "crl-bundle.pem"],
  ];
  for (const [key, name] of copies) {
    const [mine, theirs] = await Promise.all([
      store.get(key).catch(() => undefined),
      readOptionalFile(join(publishDir, name)).catch((err: unknown) => new Error(unreadable(err))),
    ]);
    const why = theirs instanceof Error ? theirs.message : theirs ? "not the store's current copy" : "missing";
    if (mine && !(Buffer.isBuffer(theirs) && theirs.equals(mine))) out.push({ path: join(publishDir, name), why });
  }
  return out;
}
