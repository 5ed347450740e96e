// What each CA rollover step changes, as pure functions of the registry, the CA certificates,
// the index and `now`. The glue (rollover.ts) generates keys, signs and commits what these say.
//
// Path length (README "CA rollover"): the root `ca init` makes carries pathLen 1, so a cross
// certificate for a *new root* under the old root would add a level (old root → cross → new
// intermediate → leaf) that verifiers refuse. Instead each root cross-certifies the other
// hierarchy's *intermediates* directly: the old root signs the new intermediate's name and key,
// the new root signs the old intermediates'. Every path stays root → intermediate → leaf.
import { conflictError, inputError, usageError } from "../errors.js";
import type { CertInfo, DistinguishedName } from "../pki.js";
import type { CaRecord, CaRegistry, CrossRecord, StoreConfig } from "../store/config.js";
import type { CertRecord } from "../store/index-file.js";
import { DAY, iso } from "../time.js";
import type { CaCerts } from "./material.js";
import { type CaId, liveCas, nextCaId, recordOf, registryOf, rootIdOf } from "./registry.js";

/** Certificates are back-dated this much (as in `ca init`) for partners whose clock runs slow. */
const BACKDATE_MS = 5 * 60 * 1000;

export interface NewCaSpec {
  id: CaId;
  kind: CaRecord["kind"];
  /** The root that signs it; absent for a root (self-signed). */
  parent?: CaId;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  pathLen: number;
}

/** A cross certificate: `subject`'s name and key signed by the root `issuer`. */
export interface CrossSpec {
  subject: CaId;
  issuer: CaId;
  file: string;
  notBefore: Date;
  notAfter: Date;
}

const generation = (id: CaId): string => id.split("-")[1] ?? "1";

function caSubject(config: StoreConfig, kind: CaRecord["kind"], id: CaId): DistinguishedName {
  // A distinct name per generation: gateways and CRL lookups match issuers by name first.
  const cn = `${config.ca.name} ${kind === "root" ? "Root" : "Intermediate"} CA ${generation(id)}`;
  return { rdns: [...(config.ca.org ? ([["O", config.ca.org]] as Array<[string, string]>) : []), ["CN", cn]] };
}

const crossFile = (subject: CaId, issuer: CaId) => `cross-${subject}-by-${issuer}.pem`;

function assertTwoTier(config: StoreConfig): void {
  if (!config.ca.intermediate)
    throw inputError(
      "ERR_ROLLOVER_SINGLE_TIER",
      "this CA has no intermediate (made with --no-intermediate): its root signs partner certificates and has pathLen 0, so nothing can be cross-certified under it",
      "create a two-tier CA with `mtls ca init` in a new directory and move partners to it",
    );
}

function assertDays(flag: string, days: number): void {
  if (!Number.isInteger(days) || days < 1) throw usageError("ERR_DAYS", `${flag} must be a whole number of days, at least 1 (got ${days})`);
}

export interface IntermediatePlan {
  registry: CaRegistry;
  newCa: NewCaSpec;
  previous: CaId;
}

/** A new issuing intermediate under the current root; the old one stays for its CRLs. */
export function planIntermediateRollover(config: StoreConfig, ca: CaCerts, now: Date, days: number, taken: ReadonlySet<string> = new Set()): IntermediatePlan {
  assertTwoTier(config);
  assertDays("--days", days);
  const reg = registryOf(config);
  if (reg.rootRollover)
    throw conflictError(
      "ERR_ROLLOVER_IN_PROGRESS",
      `a root rollover (${reg.rootRollover.from} → ${reg.rootRollover.to}) is in progress; it already made a new intermediate`,
      "finish it first: `mtls ca rollover root finish`",
    );
  const rootId = rootIdOf(reg, reg.issuing);
  const root = ca.all.find((c) => c.id === rootId) as { cert: CertInfo };
  const notAfter = new Date(now.getTime() + days * DAY);
  if (notAfter > root.cert.notAfter)
    throw inputError(
      "ERR_DAYS",
      `a ${days}-day intermediate would outlive the root, which expires on ${iso(root.cert.notAfter)}`,
      `pass --days ${Math.max(0, Math.floor((root.cert.notAfter.getTime() - now.getTime()) / DAY))} or less, or roll the root over: \`mtls ca rollover root start\``,
    );
  const id = nextCaId(reg, "intermediate", taken);
  const newCa: NewCaSpec = {
    id,
    kind: "intermediate",
    parent: rootId,
    subject: caSubject(config, "intermediate", id),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    pathLen: 0,
  };
  const record: CaRecord = { id, kind: "intermediate", parent: rootId, createdAt: iso(now) };
  const registry: CaRegistry = {
    ...reg,
    list: [...reg.list, record],
    issuing: id,
    history: [...(reg.history ?? []), { step: "intermediate", at: iso(now), ca: id }],
  };
  return { registry, newCa, previous: reg.issuing };
}

export interface RootStartPlan {
  registry: CaRegistry;
  newRoot: NewCaSpec;
  newIntermediate: NewCaSpec;
  crosses: CrossSpec[];
  previousRoot: CaId;
  /** Crosses not made because the CA they would certify, or the old root, expired already. */
  skipped: Array<{ subject: CaId; issuer: CaId; expired: CaId; expiredAt: Date }>;
}

/** A new root and intermediate, cross certificates both ways, both roots trusted. */
export function planRootStart(
  config: StoreConfig,
  ca: CaCerts,
  now: Date,
  rootDays: number,
  intermediateDays: number,
  taken: ReadonlySet<string> = new Set(),
): RootStartPlan {
  assertTwoTier(config);
  assertDays("--root-days", rootDays);
  assertDays("--intermediate-days", intermediateDays);
  if (intermediateDays > rootDays)
    throw usageError("ERR_DAYS", `the intermediate (${intermediateDays} days) would outlive the root (${rootDays} days)`, "lower --intermediate-days");
  const reg = registryOf(config);
  if (reg.rootRollover)
    throw conflictError(
      "ERR_ROLLOVER_IN_PROGRESS",
      `a root rollover (${reg.rootRollover.from} → ${reg.rootRollover.to}) is already in progress`,
      "see `mtls ca rollover status`; end it with `mtls ca rollover root finish`",
    );
  const oldRoot = rootIdOf(reg, reg.issuing);
  const oldRootCert = ca.all.find((c) => c.id === oldRoot)?.cert as CertInfo;
  const rootId = nextCaId(reg, "root", taken);
  const intId = nextCaId(reg, "intermediate", taken);
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  const newRoot: NewCaSpec = {
    id: rootId,
    kind: "root",
    subject: caSubject(config, "root", rootId),
    notBefore,
    notAfter: new Date(now.getTime() + rootDays * DAY),
    pathLen: 1,
  };
  const newIntermediate: NewCaSpec = {
    id: intId,
    kind: "intermediate",
    parent: rootId,
    subject: caSubject(config, "intermediate", intId),
    notBefore,
    notAfter: new Date(now.getTime() + intermediateDays * DAY),
    pathLen: 0,
  };
  const certOfId = (id: CaId) => ca.all.find((e) => e.id === id)?.cert as CertInfo;
  const oldIntermediates = liveCas(reg).filter((c) => c.kind === "intermediate" && c.parent === oldRoot);
  const minDate = (a: Date, b: Date) => (a < b ? a : b);
  const planned: CrossSpec[] = [
    { subject: intId, issuer: oldRoot, file: crossFile(intId, oldRoot), notBefore, notAfter: minDate(newIntermediate.notAfter, oldRootCert.notAfter) },
    ...oldIntermediates.map((c) => ({
      subject: c.id,
      issuer: rootId,
      file: crossFile(c.id, rootId),
      notBefore,
      notAfter: minDate(certOfId(c.id).notAfter, newRoot.notAfter),
    })),
  ];
  // A cross ends when the CA it certifies (or the old root signing it) does: one for a CA that
  // expired already would end before it begins, a certificate no verifier accepts.
  const crosses = planned.filter((x) => x.notAfter > now);
  const skipped = planned
    .filter((x) => x.notAfter <= now)
    .map((x) => ({ subject: x.subject, issuer: x.issuer, expired: x.issuer === rootId ? x.subject : x.issuer, expiredAt: x.notAfter }));
  const registry: CaRegistry = {
    ...reg,
    list: [...reg.list, { id: rootId, kind: "root", createdAt: iso(now) }, { id: intId, kind: "intermediate", parent: rootId, createdAt: iso(now) }],
    issuing: intId,
    trusted: [...reg.trusted, rootId],
    rootRollover: { from: oldRoot, to: rootId, startedAt: iso(now) },
    history: [...(reg.history ?? []), { step: "root start", at: iso(now), ca: rootId }],
  };
  return { registry, newRoot, newIntermediate, crosses, previousRoot: oldRoot, skipped };
}

/** Valid (unrevoked, unexpired) certificates whose chain leads to a root only. */
export function certsOnRoot(records: readonly CertRecord[], reg: CaRegistry, root: CaId, now: Date): CertRecord[] {
  const known = new Set(reg.list.map((c) => c.id));
  return records.filter((r) => r.status === "valid" && Date.parse(r.notAfter) > now.getTime() && known.has(r.issuer) && rootIdOf(reg, r.issuer) === root);
}

export interface RootFinishPlan {
  registry: CaRegistry;
  /** Valid certificates still on the old hierarchy (refused without force). */
  stranded: CertRecord[];
  retired: CaId[];
  /**
   * The new root's cross certificates for the retired intermediates: revoked on its CRL and
   * dropped from the cross bundle, or the certificates `--force` cut off (and those revoked on
   * the CRLs the retired CAs no longer publish) would still chain to the new root through them.
   */
  withdrawn: CrossRecord[];
  from: CaId;
  to: CaId;
}

/**
 * The cross certificates ca/cross-bundle.pem holds: the latest root rollover's (each involves
 * its new root, as signer or as the parent of the intermediate it certifies) for CAs still in
 * service. An earlier rollover's are left out on purpose: they certify the same intermediates'
 * names by another root, and OpenSSL takes the first certificate of a name from its untrusted
 * pool without trying the next.
 */
export function crossBundleMembers(reg: CaRegistry): CrossRecord[] {
  const newest = reg.list.findLast((c) => c.kind === "root")?.id;
  const byId = new Map(reg.list.map((c) => [c.id, c]));
  return (reg.crosses ?? []).filter((x) => {
    const subject = byId.get(x.subject);
    return (x.issuer === newest || subject?.parent === newest) && !subject?.retiredAt;
  });
}

/** The old root leaves the trust bundle; it and its intermediates publish no more CRLs. */
export function planRootFinish(config: StoreConfig, records: readonly CertRecord[], now: Date): RootFinishPlan {
  const reg = registryOf(config);
  if (!reg.rootRollover) throw conflictError("ERR_NO_ROLLOVER", "no root rollover is in progress", "start one with `mtls ca rollover root start`");
  const { from, to } = reg.rootRollover;
  const stranded = certsOnRoot(records, reg, from, now);
  const retired = reg.list.filter((c) => !c.retiredAt && rootIdOf(reg, c.id) === from).map((c) => c.id);
  const { rootRollover: _done, ...rest } = reg;
  const registry: CaRegistry = {
    ...rest,
    list: reg.list.map((c) => (retired.includes(c.id) ? { ...c, retiredAt: iso(now) } : c)),
    trusted: reg.trusted.filter((t) => t !== from),
    history: [...(reg.history ?? []), { step: "root finish", at: iso(now), ca: to }],
  };
  const withdrawn = (reg.crosses ?? []).filter((x) => x.issuer === to && retired.includes(x.subject));
  return { registry, stranded, retired, withdrawn, from, to };
}

export { recordOf };
