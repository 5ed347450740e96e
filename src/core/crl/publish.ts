import { join } from "node:path";
import type { AuditEntry } from "../audit/audit.js";
import { type CaCerts, type CaKeys, crlCas, loadCaCerts, loadCaKeys } from "../ca/material.js";
import { type CaId, isCaId } from "../ca/registry.js";
import { conflictError, usageError } from "../errors.js";
import { encodePem } from "../pem.js";
import type { Pki, Tx } from "../session.js";
import { getText, readIndexOf, readRevocationsOf } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { type CertRecord, type IndexSnapshot, stageIndex } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import { isObject } from "../store/records.js";
import { type Revocation, type RevocationsSnapshot, serializeRevocations } from "../store/revocations.js";
import type { StoreReader } from "../store/storage.js";
import { DAY, iso } from "../time.js";
import { checkOutputFile, type DurableStepHook, ensureDir, readOptionalFile, writeFileAtomic } from "../user-files.js";
import { buildCrl, type CrlEntry } from "./encode.js";
import { mergeCrlNumbers, publishedAt, readCrlHistory, readSeen, revocationOwners, unjournaled } from "./history.js";
import { CRL_MAX_VALIDITY_DAYS, crlValidityProblem } from "./validity.js";

/** A CA id: "root", "intermediate", after a rollover "intermediate-2" … (see ca/registry.ts). */
export type CaRole = CaId;

/** Last CRL Number used per CA, so numbers only ever grow (RFC 5280 §5.2.3). */
export type CrlState = Partial<Record<CaId, { number: number }>>;

export interface PublishedCrl {
  issuer: CaRole;
  issuerSubject: string;
  number: number;
  thisUpdate: string;
  nextUpdate: string;
  entries: number;
  pemPath: string;
  derPath: string;
}

export interface PublishResult {
  crls: PublishedCrl[];
  bundlePath: string;
  copies: string[];
  warnings: string[];
}

/** A few minutes of back-dating so a gateway whose clock runs slow does not see a future CRL. */
const THIS_UPDATE_BACKDATE_MS = 5 * 60 * 1000;

/**
 * The last CRL Numbers, and why state.json could not be used if it could not. It is only a
 * cache of what the published CRLs say (see mergeCrlNumbers): damage costs nothing but a report.
 */
export async function readCrlState(store: StoreReader): Promise<{ state: CrlState; damaged?: string }> {
  const text = await getText(store, storeKeys.crlState);
  if (text === undefined) return { state: {} };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { state: {}, damaged: "not valid JSON" };
  }
  if (!isObject(v)) return { state: {}, damaged: "not a JSON object" };
  const state: CrlState = {};
  for (const [role, entry] of Object.entries(v)) {
    if (!isCaId(role)) return { state, damaged: `"${role}" is not a CA` };
    const n = isObject(entry) ? entry.number : undefined;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) return { state, damaged: `"${role}.number" is not a positive integer` };
    state[role] = { number: n };
  }
  return { state };
}

export interface RenderCrlsParams {
  config: StoreConfig;
  ca: CaCerts;
  keys: CaKeys;
  revocations: readonly Revocation[];
  state: CrlState;
  now: Date;
  validityDays?: number;
}

/**
 * Signs fresh CRLs for every CA and stages them (PEM, DER, the combined bundle, the new state)
 * into `tx`. Each CA's CRL lists the journal's revocations it issued: for the issuing CA the
 * partner certificates and the canary; for the root above an intermediate, revoked intermediates.
 */
export interface StagedCrls {
  crls: PublishedCrl[];
  /** File name (inside the CRL directory) and content of everything published. */
  files: Array<{ name: string; data: string | Buffer }>;
  /** A validity beyond the bounds set today, a CRL cut at its CA's expiry, an expired CA. */
  warnings: string[];
}

export async function stageCrls(p: RenderCrlsParams, tx: Tx): Promise<StagedCrls> {
  const thisUpdate = new Date(p.now.getTime() - THIS_UPDATE_BACKDATE_MS);
  const validityDays = p.validityDays ?? p.config.crl.validityDays;
  const nextUpdate = new Date(p.now.getTime() + validityDays * DAY);
  const warnings: string[] = [];
  if (validityDays > CRL_MAX_VALIDITY_DAYS)
    warnings.push(
      `the CRLs are valid for ${validityDays} days: an old one can be replayed to a gateway until then; set at most ${CRL_MAX_VALIDITY_DAYS} with \`mtls ca policy set --crl-days\``,
    );
  const entriesOf = (role: CaRole): CrlEntry[] =>
    p.revocations.filter((r) => r.issuer === role).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason }));

  // Numbers of retired CAs stay in the state: should one ever publish again, it continues.
  const state: CrlState = { ...p.state };
  const crls: PublishedCrl[] = [];
  const pems: string[] = [];
  const files: StagedCrls["files"] = [];
  for (const { id: role, cert } of crlCas(p.ca)) {
    const key = p.keys[role];
    if (!key) throw new Error(`no key loaded for CA ${role}`);
    const number = (state[role]?.number ?? 0) + 1;
    state[role] = { number };
    const entries = entriesOf(role);
    const next = crlNextUpdate(role, cert.notAfter, p.now, nextUpdate, warnings);
    const der = await buildCrl({ issuer: cert, keyType: key.keyType, signer: key.signer, number, thisUpdate, nextUpdate: next, entries });
    const pem = encodePem("X509 CRL", der);
    pems.push(pem);
    tx.put(storeKeys.crlDer(role), der).put(storeKeys.crlPem(role), pem);
    files.push({ name: `${role}.crl`, data: der }, { name: `${role}.crl.pem`, data: pem });
    crls.push({
      issuer: role,
      issuerSubject: cert.subject,
      number,
      thisUpdate: iso(thisUpdate),
      nextUpdate: iso(next),
      entries: entries.length,
      pemPath: tx.where(storeKeys.crlPem(role)),
      derPath: tx.where(storeKeys.crlDer(role)),
    });
  }
  const bundle = pems.join("");
  files.push({ name: "crl-bundle.pem", data: bundle });
  tx.put(storeKeys.crlBundle, bundle).put(storeKeys.crlState, `${JSON.stringify(state, null, 2)}\n`);
  return { crls, files, warnings };
}

/**
 * A CA's CRL never promises a next one after the CA's certificate ends, when no CA certificate
 * is there to check it against. A CA already expired still publishes (its revocations stay
 * known), with a warning: every certificate it issued has expired with it.
 */
function crlNextUpdate(role: CaRole, caNotAfter: Date, now: Date, nextUpdate: Date, warnings: string[]): Date {
  if (caNotAfter.getTime() <= now.getTime()) {
    warnings.push(`CA ${role} expired on ${iso(caNotAfter)}; its CRL is still published, but no certificate it issued is valid: retire it with a rollover`);
    return nextUpdate;
  }
  if (caNotAfter.getTime() >= nextUpdate.getTime()) return nextUpdate;
  warnings.push(`the ${role} CRL's nextUpdate is ${iso(caNotAfter)}, when CA ${role} expires: roll it over before then (\`mtls ca rollover\`)`);
  return caNotAfter;
}

/** The audit record of a publication: the issuing CA's new CRL Number and its entry count. */
export function publishAudit(staged: StagedCrls): AuditEntry {
  return { action: "crl.publish", outcome: "ok", details: { number: staged.crls[0]?.number ?? 0, entries: staged.crls[0]?.entries ?? 0 } };
}

export interface PublicationParams {
  config: StoreConfig;
  ca: CaCerts;
  keys: CaKeys;
  /** The journal as read under the lock, and the revocations this change adds to it. */
  journal: RevocationsSnapshot;
  added: readonly Revocation[];
  /**
   * For the partner ids of serials recovered from a published CRL: the index, or how to read it
   * (publishing reads the large index only in that rare case).
   */
  index?: IndexSnapshot | (() => Promise<IndexSnapshot>);
  now: Date;
  validityDays?: number;
}

/**
 * The one way a change publishes CRLs: fresh CRLs staged into `tx`, then the journal append.
 * Serials a signed CRL already lists (store or publish directory) stay listed, and the journal
 * gets them back in the same commit; CRL Numbers continue from the highest published anywhere.
 * Stage the audit and index appends after this: the journal append comes first, so an audit
 * record of a revocation always has its journal line (the journal is the commit point).
 */
export async function stagePublication(p: PublicationParams, tx: Tx): Promise<StagedCrls & { recovered: Revocation[] }> {
  const history = await readCrlHistory(tx, p.config.crl.publishDir, p.ca);
  const state = mergeCrlNumbers((await readCrlState(tx)).state, history);
  let recovered = await unjournaled(history, [...p.journal.entries, ...p.added], revocationOwners(p.config));
  if (recovered.length && p.index) {
    const index = typeof p.index === "function" ? await p.index() : p.index;
    const owners = new Map(index.records.map((r) => [r.serial, r.partnerId]));
    recovered = recovered.map((e) => ({ ...e, partnerId: owners.get(e.serial) ?? e.partnerId }));
  }
  const revocations = [...p.journal.entries, ...p.added, ...recovered];
  const validity = p.validityDays ? { validityDays: p.validityDays } : {};
  const staged = await stageCrls({ config: p.config, ca: p.ca, keys: p.keys, revocations, state, now: p.now, ...validity }, tx);
  tx.append("revocations", serializeRevocations([...p.added, ...recovered]));
  return { ...staged, recovered };
}

/**
 * Copies what was published to the configured publish directory, under the store lock and only
 * forward: a CRL there with a higher number than ours (someone else's newer one) is kept.
 * Returns the copies made, and a warning instead of an error when the copy fails, because the
 * change it publishes has committed: the command succeeds, and `doctor --fix` or the next
 * `crl publish` brings the directory up to date.
 */
export async function copyToPublishDir(
  config: StoreConfig,
  ca: CaCerts,
  staged: StagedCrls,
  step?: DurableStepHook,
): Promise<{ copies: string[]; warnings: string[] }> {
  const dir = config.crl.publishDir;
  if (!dir) return { copies: [], warnings: [] };
  const copies: string[] = [];
  try {
    await ensureDir(dir);
    for (const crl of staged.crls) {
      // Only a CRL this CA signed counts: a leftover of another CA is simply replaced.
      const there = await readSeen(publishedAt(crl.issuer, join(dir, `${crl.issuer}.crl`)), ca);
      const number = there.signatureValid ? (there.number ?? 0) : 0;
      if (number > crl.number)
        return { copies, warnings: [`${dir} holds a newer ${crl.issuer} CRL (#${number}) than this one (#${crl.number}); it was left in place`] };
    }
    for (const f of staged.files) {
      const dest = join(dir, f.name);
      await writeFileAtomic(dest, f.data, { step });
      copies.push(dest);
    }
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { copies, warnings: [`the change is committed, but copying the CRLs to ${dir} failed (${why}); fix that, then run \`mtls crl publish\``] };
  }
  return { copies, warnings: [] };
}

export interface PublishCrlParams {
  /** Overrides the configured CRL validity, in days. */
  validityDays?: number;
  /** Also write the combined PEM here. */
  out?: string;
  /** Replace `out` even when it is not a CRL bundle. */
  force?: boolean;
}

/** A file of PEM "X509 CRL" blocks and nothing else: what `--out` wrote before. */
function isCrlBundle(bytes: Buffer): boolean {
  const text = bytes.toString("latin1");
  const rest = text.replace(/-----BEGIN X509 CRL-----\r?\n[A-Za-z0-9+/=\r\n]*-----END X509 CRL-----/g, "");
  return rest !== text && rest.trim() === "";
}

/**
 * --out, checked before anything is signed. A CRL bundle there is replaced (a cron job publishes
 * again and again); any other file only with --force.
 */
async function checkBundleOut(out: string, force: boolean): Promise<void> {
  if (!(await checkOutputFile(out)) || force) return;
  const there = await readOptionalFile(out);
  if (there && isCrlBundle(there)) return;
  throw conflictError("ERR_EXISTS", `${out} already exists and is not a CRL bundle`, "pass --force to replace it, or choose another --out");
}

/** Signs and publishes fresh CRLs for every CA in the chain. */
export async function publishCrls(pki: Pki, p: PublishCrlParams = {}): Promise<PublishResult> {
  const bad = p.validityDays === undefined ? undefined : crlValidityProblem(p.validityDays, "--validity");
  if (bad) throw usageError("ERR_CRL_VALIDITY", bad, "e.g. --validity 7d (between 1h and 366d)");
  const config = await pki.config();
  if (p.out) await checkBundleOut(p.out, p.force ?? false);
  const ca = await loadCaCerts(pki.storage, config);
  // The key derivation runs in the thread pool while we wait for the lock and read the journal.
  const keysPending = loadCaKeys(pki.storage, ca, pki.passphrase);
  keysPending.catch(() => {});
  return pki.transact(
    "crl.publish",
    async (tx) => {
      const journal = await readRevocationsOf(tx);
      const validity = p.validityDays ? { validityDays: p.validityDays } : {};
      let index: IndexSnapshot | undefined;
      const loadIndex = async () => {
        index ??= await readIndexOf(tx);
        return index;
      };
      const staged = await stagePublication({ config, ca, keys: await keysPending, journal, added: [], index: loadIndex, now: tx.now, ...validity }, tx);
      tx.audit(publishAudit(staged));
      if (staged.recovered.length) {
        const snap = await loadIndex();
        const fixes = revokedInIndex(snap, staged.recovered);
        if (fixes.length) stageIndex(tx, snap, fixes);
      }
      const result: PublishResult = { crls: staged.crls, bundlePath: pki.storage.where(storeKeys.crlBundle), copies: [], warnings: [...staged.warnings] };
      tx.afterCommit(async () => {
        const { copies, warnings } = await copyToPublishDir(config, ca, staged, pki.durableStep);
        const bundle = staged.files.find((f) => f.name === "crl-bundle.pem");
        if (p.out && bundle) {
          await writeFileAtomic(p.out, bundle.data, { step: pki.durableStep });
          copies.push(p.out);
        }
        result.copies.push(...copies);
        result.warnings.push(...warnings);
      });
      return result;
    },
    { purpose: "crl publish" },
  );
}

/** Index records to append for recovered revocations the index still calls valid. */
export function revokedInIndex(index: IndexSnapshot, recovered: readonly Revocation[]): CertRecord[] {
  const bySerial = new Map(index.records.map((r) => [r.serial, r]));
  return recovered.flatMap((e) => {
    const r = bySerial.get(e.serial);
    return r && r.status !== "revoked" ? [{ ...r, status: "revoked" as const, revokedAt: e.revokedAt, revocationReason: e.reason }] : [];
  });
}
