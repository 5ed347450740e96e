import { type CaCerts, crlCas, loadCaCerts } from "../ca/material.js";
import { supersededWithoutCerts } from "../ca/rollover-status.js";
import { type CrlHistory, publishDirLag, readCrlHistory } from "../crl/history.js";
import { envError } from "../errors.js";
import { assessPartners, type PartnerHealth, partnerProblems } from "../health/partners.js";
import { statusIndex, statusOf } from "../inventory/list.js";
import { locateCaKeys } from "../keystore/reachability.js";
import { checkResponder, type ResponderHealth } from "../ocsp/health.js";
import type { CertInfo } from "../pki.js";
import { expiredServerProblems, renewHint } from "../server/status.js";
import type { Pki } from "../session.js";
import { readPartnersOf, readRevocationsOf } from "../store/blobs.js";
import { interruptedCommitOf } from "../store/commit-intent.js";
import { openIndexRows } from "../store/index-rows.js";
import { type IndexRow, type IndexView, REVOKED } from "../store/index-summary.js";
import type { Revocation } from "../store/revocations.js";
import type { Storage, StoreReader } from "../store/storage.js";
import type { IndexDamage } from "../store/summary-damage.js";
import { DAY, daysUntil, HOUR, iso } from "../time.js";

export interface StatusParams {
  /** Partner certificates expiring within this window are problems (default: the CA's warnDays). */
  warnWithinMs?: number;
  /** CA certificates expiring within this window are problems (default 90 days). */
  caWarnWithinMs?: number;
  /** A CRL whose nextUpdate is closer than this is a problem (default: half the CRL validity). */
  crlMarginMs?: number;
}

export type ProblemKind =
  | "ca-expiring"
  | "ca-expired"
  | "cert-expiring"
  | "server-cert-expired"
  | "crl-missing"
  | "crl-invalid"
  | "crl-expiring"
  | "crl-expired"
  | "crl-stale"
  | "ocsp-down"
  | "ocsp-wrong"
  | "crl-publish-stale"
  | "ca-key-unreachable"
  | "commit-interrupted"
  | "index-damaged"
  | "partner-due"
  | "partner-locked-out";

export interface Problem {
  kind: ProblemKind;
  message: string;
  hint: string;
  serial?: string;
  partnerId?: string;
}

export interface StatusResult {
  healthy: boolean;
  problems: Problem[];
  cas: Array<{ role: string; subject: string; notAfter: string; daysLeft: number; keyStore?: "file" | "pkcs11"; tokenReachable?: boolean }>;
  certificates: { total: number; valid: number; expiring: number; expired: number; revoked: number };
  crls: Array<{
    issuer: string;
    number?: string;
    thisUpdate?: string;
    nextUpdate?: string;
    hoursLeft?: number;
    entries?: number;
    missing?: boolean;
  }>;
  /** The OCSP responder named in the policy, asked about the revoked canary. */
  ocsp?: ResponderHealth;
  /** Each partner's state (ok, due, locked-out, rotating, offboarded, pending). */
  partners: PartnerHealth[];
  windows: { warnDays: number; caWarnDays: number; crlMarginHours: number };
}

/**
 * The health gate for CI: CA expiry, partner certificates expiring soon, and the published CRLs
 * (present, correctly signed, not close to nextUpdate, and listing every revocation).
 */
export async function checkStatus(pki: Pki, p: StatusParams = {}): Promise<StatusResult> {
  const config = await pki.config();
  const store = pki.storage;
  const now = pki.now;
  const ca = await loadCaCerts(store, config);
  const warn = p.warnWithinMs ?? config.policy.warnDays * DAY;
  const caWarn = p.caWarnWithinMs ?? 90 * DAY;
  const margin = p.crlMarginMs ?? (config.crl.validityDays * DAY) / 2;
  // The index summary, not the journal: counts from its columns, and partners, servers and CAs
  // judged by the few rows that decide them (statusRowsOf), so no object per certificate (#21).
  const view = await openIndexRows(store, []);
  view.close();
  const index = view.statusRows;
  const problems: Problem[] = [];
  const interrupted = interruptedCommit(store);
  if (interrupted) problems.push(interrupted);
  if (view.damage) problems.push(indexDamaged(view.damage));
  const cas = caExpiry(ca, index, now, caWarn, problems);
  problems.push(...(await keyStoreProblems(store, ca, cas)));
  const certificates = certificateCounts(view, now, warn, problems);
  const partners = assessPartners({ records: index, registry: await readPartnersOf(store), now, warnMs: warn });
  problems.push(...partnerProblems(partners));
  const revocations = (await readRevocationsOf(store)).entries;
  // Every CRL read and its signature checked once: the store's copies and the publish directory's.
  const history = await readCrlHistory(store, config.crl.publishDir, ca);
  const crls = crlHealth(history, revocations, now, margin, problems);
  problems.push(...(await publishDirProblems(store, config.crl.publishDir, history)));
  const ocsp = await checkResponder(store, config, ca, now);
  if (ocsp?.problem) problems.push(ocsp.problem);
  return {
    healthy: problems.length === 0,
    problems,
    cas,
    certificates,
    crls,
    ...(ocsp ? { ocsp } : {}),
    partners,
    windows: { warnDays: Math.round(warn / DAY), caWarnDays: Math.round(caWarn / DAY), crlMarginHours: Math.round(margin / HOUR) },
  };
}

/**
 * A change a crash interrupted (its intent record is still there): until a writer or `doctor
 * --fix` finishes or undoes it, what this reads may be half of it. One lstat.
 */
function interruptedCommit(store: Pick<Storage, "localPath">): Problem | undefined {
  const path = interruptedCommitOf(store);
  if (path === undefined) return undefined;
  return {
    kind: "commit-interrupted",
    message: `a change to the store was interrupted (${path} is still there): what status reads may be half of it`,
    hint: "run `mtls doctor --fix` (or any command that writes) to finish or undo it",
  };
}

/**
 * The index journal lost records its summary holds (store/summary-damage.ts): what status counts
 * is what is left, and `doctor --fix` must not take the lost certificates for a crash's.
 */
function indexDamaged(d: IndexDamage): Problem {
  const how =
    d.size < d.covered ? `${d.size} bytes, where its summary covered ${d.covered}` : `its first ${d.covered} bytes changed since its summary was made`;
  return {
    kind: "index-damaged",
    message: `${d.index} has lost the records of ${d.lost.length} certificate(s) (${how}): it was damaged, and status counts only what is left`,
    hint: "run `mtls doctor --fix` to put the records back from index.jsonl.summary, or restore index.jsonl from your backup",
  };
}

/** Every CA still in service and when it expires; expiring or expired ones are problems. */
function caExpiry(ca: CaCerts, index: readonly IndexRow[], at: Date, caWarn: number, problems: Problem[]): StatusResult["cas"] {
  const now = at.getTime();
  const cas: StatusResult["cas"] = [];
  // Every CA still in service, roots first as before a rollover; an old intermediate counts
  // too, since the partners it issued stop working when it expires.
  const caCerts: Array<[string, CertInfo]> = crlCas(ca)
    .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === "root" ? -1 : 1))
    .map((c) => [c.id, c.cert]);
  const superseded = supersededWithoutCerts(ca, index, at);
  for (const [role, cert] of caCerts) {
    const left = cert.notAfter.getTime() - now;
    cas.push({ role, subject: cert.subject, notAfter: iso(cert.notAfter), daysLeft: daysUntil(cert.notAfter, at) });
    // A CA a rollover replaced matters only while certificates it issued are still valid.
    if (superseded.has(role)) continue;
    if (left <= 0)
      problems.push({
        kind: "ca-expired",
        message: `the ${role} CA expired on ${iso(cert.notAfter)}`,
        hint:
          cert === ca.root
            ? "start a new root (`mtls ca rollover root start`) and re-issue every partner's certificate from it (see the README's runbook)"
            : role === ca.issuerRole
              ? "issue from a new intermediate (`mtls ca rollover intermediate`) and re-issue partner certificates from it"
              : "rotate the partners it issued onto the current CA (`mtls ca rollover status` lists them)",
      });
    else if (left <= caWarn)
      problems.push({
        kind: "ca-expiring",
        message: `the ${role} CA expires in ${daysUntil(cert.notAfter, at)} days (${iso(cert.notAfter)})`,
        hint:
          role === ca.issuerRole || cert === ca.root
            ? "plan the CA rollover now: `mtls ca rollover intermediate`, or `mtls ca rollover root start` (see the README's runbook)"
            : "rotate the partners it issued onto the current CA (`mtls ca rollover status` lists them)",
      });
  }
  return cas;
}

/** Certificates by status (statusOf's rule over the summary's columns); expiring and expired gateway server certificates are problems. */
function certificateCounts(view: IndexView, now: Date, warn: number, problems: Problem[]): StatusResult["certificates"] {
  const t = now.getTime();
  const n = [0, 0, 0, 0]; // by CERT_STATUSES' index
  for (let i = 0; i < view.count; i++) {
    const s = statusIndex(((view.flags[i] as number) & REVOKED) !== 0, view.notAfterMs[i] as number, t, warn);
    n[s] = (n[s] as number) + 1;
  }
  const counts = { total: view.count, valid: n[0] as number, expiring: n[1] as number, expired: n[2] as number, revoked: n[3] as number };
  // Every server certificate is among the status rows. Partner certificates are judged per
  // partner (assessPartners): a superseded or offboarded one is no problem.
  const index = view.statusRows;
  for (const r of index) {
    if (r.kind === "server" && statusOf(r, now, warn) === "expiring") {
      problems.push({
        kind: "cert-expiring",
        message: `${r.partnerId}: certificate ${r.serial} expires in ${daysUntil(new Date(r.notAfter), now)} days (${r.notAfter})`,
        hint: renewHint(r),
        serial: r.serial,
        partnerId: r.partnerId,
      });
    }
  }
  problems.push(...expiredServerProblems(index, now));
  return counts;
}

/** Each CA's published CRL: present, well signed, not near or past nextUpdate, listing every revocation. */
function crlHealth(history: CrlHistory, revocations: readonly Revocation[], at: Date, margin: number, problems: Problem[]): StatusResult["crls"] {
  const now = at.getTime();
  const crls: StatusResult["crls"] = [];
  for (const l of history.seen.filter((x) => x.where === "store")) {
    if (l.damaged) throw envError("ERR_CRL_CORRUPT", `${l.path} is not a readable CRL`, "run `mtls crl publish` to write a fresh one");
    if (!l.crl) {
      crls.push({ issuer: l.role, missing: true });
      problems.push({ kind: "crl-missing", message: `no CRL published for the ${l.role} CA`, hint: "run `mtls crl publish`" });
      continue;
    }
    const { crl, serials = [] } = l;
    const next = crl.nextUpdate?.getTime();
    crls.push({
      issuer: l.role,
      ...(crl.number !== undefined ? { number: crl.number } : {}),
      thisUpdate: iso(crl.thisUpdate),
      ...(next !== undefined ? { nextUpdate: iso(new Date(next)), hoursLeft: Math.floor((next - now) / HOUR) } : {}),
      entries: serials.length,
    });
    if (!l.signatureValid) problems.push({ kind: "crl-invalid", message: `the ${l.role} CRL's signature does not verify`, hint: "run `mtls crl publish`" });
    if (next === undefined || next <= now) {
      problems.push({
        kind: "crl-expired",
        message: `the ${l.role} CRL is past its nextUpdate: gateways that check CRLs now reject every partner`,
        hint: "run `mtls crl publish` and reload the gateways",
      });
    } else if (next - now <= margin) {
      problems.push({
        kind: "crl-expiring",
        message: `the ${l.role} CRL expires in ${Math.floor((next - now) / HOUR)} hours (nextUpdate ${iso(new Date(next))})`,
        hint: "run `mtls crl publish` (schedule it well inside the CRL validity)",
      });
    }
    const listed = new Set(serials);
    for (const r of revocations.filter((x) => x.issuer === l.role && !listed.has(x.serial))) {
      problems.push({
        kind: "crl-stale",
        message: `${r.partnerId}: certificate ${r.serial} was revoked at ${r.revokedAt} but is not on the published CRL`,
        hint: "run `mtls crl publish`",
        serial: r.serial,
        partnerId: r.partnerId,
      });
    }
  }
  return crls;
}

/** Gateways load the publish directory's copy: it must be the store's newest CRL (#13). */
async function publishDirProblems(store: StoreReader, publishDir: string | undefined, history: CrlHistory): Promise<Problem[]> {
  if (!publishDir) return [];
  const lag = await publishDirLag(store, publishDir, history);
  return lag.map((l) => ({
    kind: "crl-publish-stale" as const,
    message: `${l.path} in the publish directory is ${l.why}`,
    hint: "run `mtls crl publish` (or `mtls doctor --fix`)",
  }));
}

/** #20: where each CA key lives; a token that does not answer is a problem (no PIN needed). */
async function keyStoreProblems(store: StoreReader, ca: CaCerts, cas: StatusResult["cas"]): Promise<Problem[]> {
  const problems: Problem[] = [];
  for (const place of await locateCaKeys(store, ca)) {
    const entry = cas.find((c) => c.role === place.role);
    if (entry) Object.assign(entry, { keyStore: place.keyStore, ...(place.keyStore === "pkcs11" ? { tokenReachable: place.reachable === true } : {}) });
    if (place.problem && !place.retired) problems.push({ kind: "ca-key-unreachable", message: place.problem.message, hint: place.problem.hint });
  }
  return problems;
}
