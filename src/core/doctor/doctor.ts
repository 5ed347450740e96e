// `mtls doctor`: the store checked against itself, and the safe repairs. Each check finds
// structured problems and, when it can, adds their repair to one plan; the plan is applied as one
// transaction. A repair never destroys: it removes only temporaries mtls wrote (by exact name),
// moves what it takes out of a blob into a quarantine blob, and only ever adds revocations.
//
// Two kinds of checks share the table: those on the records, which read the store only through
// the transaction (keys, never paths), and those of the storage on itself (store/health.ts:
// temporaries, torn journal tails, modes, the lock, caches), which doctor runs without knowing
// what the storage is.
import { copyToPublishDir } from "../crl/publish.js";
import { MtlsError } from "../errors.js";
import type { Pki, Tx } from "../session.js";
import { type StorageCheck, type StorageHealth, type StorageProblem, storageHealthOf } from "../store/health.js";
import { stageIndex } from "../store/index-file.js";
import { journalFile } from "../store/keys.js";
import { readIndexFrom, readPartnersFrom } from "../store/read.js";
import { quarantineName } from "../store/records.js";
import { scanRevocations, serializeRevocations } from "../store/revocations.js";
import { bytesOf } from "./blobs.js";
import { unrecordedCaCheck } from "./ca-files-check.js";
import { identityProblems } from "./identity-check.js";
import { indexDamageCheck } from "./index-damage-check.js";
import { keyStoreCheck } from "./key-store-check.js";
import { layoutReads } from "./layout-reads.js";
import { materialCheck } from "./material-check.js";
import { packsCheck } from "./pack-check.js";
import { pgpCheck } from "./pgp-check.js";
import { recordsCheck } from "./records-check.js";
import { auditCheck, certificatesCheck, crlCheck, orphansCheck, publishDirCheck, revocationsCheck } from "./revocation-checks.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem, RepairPlan, RepairTx } from "./types.js";

export type { DoctorCheckDef, DoctorFixContext, DoctorProblem, RepairTx } from "./types.js";

/** #12: identities held by two partners, subject-policy breaches (reported only). */
const identitiesCheck: DoctorCheckDef = {
  name: "identities",
  find: (ctx) => (ctx.index && ctx.partners ? identityProblems(ctx.store, ctx.partners, ctx.index.records) : []),
};

/** A check the storage runs on itself: found in its health report, repaired by the storage. */
const storageCheck = (name: StorageCheck): DoctorCheckDef => ({
  name,
  find: (ctx) => ctx.storage.filter((p) => p.check === name),
  fix: (ctx, tx) => tx.repairStorage(ctx.problems as StorageProblem[]),
});

/** Every check, in the order they report. A new check: its own module, one line here. */
const CHECKS: readonly DoctorCheckDef[] = [
  storageCheck("commit"),
  unrecordedCaCheck,
  storageCheck("leftovers"),
  storageCheck("journal"),
  recordsCheck,
  indexDamageCheck,
  certificatesCheck,
  orphansCheck,
  packsCheck,
  revocationsCheck,
  crlCheck,
  publishDirCheck,
  materialCheck,
  storageCheck("modes"),
  auditCheck,
  identitiesCheck,
  pgpCheck,
  storageCheck("index-summary"),
  storageCheck("database"),
  keyStoreCheck,
];

export interface DoctorResult {
  healthy: boolean;
  problems: DoctorProblem[];
  checked: { certificates: number; revocations: number; auditRecords: number };
  /** How the check ran, when not as usual (without the lock, on a store nobody here can write to). */
  warnings?: string[];
}

export interface DoctorParams {
  /** Apply the repairs (the session's passphrase is needed when the CRLs must be republished). */
  fix: boolean;
  /** Revoke unrecorded certificates of several commands too, which are otherwise taken for lost index lines (index-loss.ts). */
  revokeUnrecorded?: boolean;
}

/** Reads everything the checks need through the transaction; a damaged part is recorded, not thrown. */
async function loadContext(pki: Pki, tx: Tx, health: StorageHealth | undefined): Promise<DoctorContext> {
  const reads = layoutReads(pki);
  const config = await tx.config();
  const ca = await reads.caCerts(config);
  const text = await tx.readJournal("revocations");
  const ctx: DoctorContext = {
    store: tx,
    config,
    ca,
    now: tx.now,
    journal: { ...scanRevocations(text), validBytes: Buffer.byteLength(text) },
    crlState: await reads.crlState(),
    history: await reads.crlHistory(config.crl.publishDir, ca),
    audit: { ...(await reads.auditLog()) },
    storage: [],
    reads,
  };
  const soft = <T>(p: Promise<T>, set: (v: T) => void, fail: (e: MtlsError) => void) =>
    p.then(set, (e) => {
      if (e instanceof MtlsError && e.code === "ERR_STORE_CORRUPT") fail(e);
      else throw e;
    });
  await soft(
    readIndexFrom(tx, pki.storage),
    (v) => (ctx.index = v),
    (e) => (ctx.indexError = e),
  );
  await soft(
    readPartnersFrom(tx, pki.storage),
    (v) => (ctx.partners = v),
    (e) => (ctx.partnersError = e),
  );
  const tail = await reads.auditTail();
  if (tail.damaged) ctx.audit.damagedTail = tail.damaged;
  ctx.storage = (await health?.health(ctx.index ? { records: ctx.index.records } : {})) ?? [];
  const damage = ctx.index && (await health?.indexDamage?.());
  if (damage) ctx.indexDamage = damage;
  if (health?.indexKeepsLines) ctx.indexKeepsLines = true;
  return ctx;
}

/** Runs every check; with `fix`, applies the repairs of the fixable problems as one commit. */
export async function runDoctor(pki: Pki, p: DoctorParams): Promise<DoctorResult> {
  await pki.config();
  const health = storageHealthOf(pki.storage);
  // Read before the transaction takes the lock, which replaces a stale one.
  const lock: DoctorProblem[] = (await health?.lockProblems()) ?? [];
  const check = (tx: Tx) => checkStore(pki, tx, p, { health, lock });
  try {
    return await pki.transact("doctor.fix", check, { purpose: "doctor", recover: false });
  } catch (err) {
    // A store nobody here can write to (a backup mounted read-only) is still checked: without
    // the lock, which nothing can take there; a repair needs it, and fails as any change would.
    if (p.fix || !(err instanceof MtlsError && err.code === "ERR_STORE_READ_ONLY")) throw err;
    const result = await pki.inspect(check);
    const cause = (err.cause as NodeJS.ErrnoException | undefined)?.code;
    const racy = cause === "EROFS" ? "" : " (a change its owner makes meanwhile may show as a problem)";
    return { ...result, warnings: [`${err.message}; checked without the lock${racy}`] };
  }
}

/** The checks, in one transaction (or, on a read-only store, one unlocked view of it). */
async function checkStore(pki: Pki, tx: Tx, p: DoctorParams, run: { health: StorageHealth | undefined; lock: DoctorProblem[] }): Promise<DoctorResult> {
  const { health } = run;
  const lock = [...run.lock];
  // An interrupted commit is finished before anything is read, so that the checks see a whole store.
  const recovered = p.fix ? ((await health?.recoverCommit?.()) ?? []) : [];
  for (const x of recovered as DoctorProblem[]) x.fixed = true;
  lock.push(...recovered);
  const ctx = await loadContext(pki, tx, health);
  if (p.revokeUnrecorded) ctx.revokeUnrecorded = true;
  const problems: DoctorProblem[] = [...lock];
  const found = new Map<DoctorCheckDef, DoctorProblem[]>();
  for (const check of CHECKS) {
    const mine = await check.find(ctx);
    found.set(check, mine);
    problems.push(...mine);
  }
  if (p.fix && problems.some((x) => x.fixable && x.check !== "lock")) {
    const plan: RepairPlan = { storage: [], revoke: [], index: [], put: [], move: [], republish: false };
    const repair = repairTx(plan, tx.now);
    for (const [check, mine] of found) {
      const fixable = mine.filter((x) => x.fixable);
      if (fixable.length && check.fix) await check.fix({ ...ctx, problems: fixable }, repair);
    }
    await applyPlan(pki, tx, ctx, plan, { health, fixed: problems.filter((x) => x.fixable).length });
    for (const x of problems) if (x.fixable) x.fixed = true;
  }
  if (p.fix) for (const x of lock) x.fixed = true; // taking the lock above replaced it
  return {
    healthy: problems.every((x) => x.fixed),
    problems,
    checked: { certificates: ctx.index?.records.length ?? 0, revocations: ctx.journal.entries.length, auditRecords: ctx.audit.records.length },
  };
}

/** The verbs a check's fix stages its repair with, recorded in `plan` for applyPlan. */
function repairTx(plan: RepairPlan, now: Date): RepairTx {
  return {
    now,
    repairStorage: (problems) => plan.storage.push(...problems),
    revoke: (r) => plan.revoke.push(r),
    revoking: plan.revoke,
    appendIndex: (r) => plan.index.push(r),
    put: (key, data) => plan.put.push({ key, data }),
    move: (from, to) => plan.move.push({ from, to }),
    quarantineJournal: (bad, good) => {
      plan.quarantineJournal = { bad, good };
    },
    republish: () => {
      plan.republish = true;
    },
  };
}

/**
 * The repair as one transaction: quarantine and rewrite, republish, journal, audit, index; then
 * dropping what was moved aside and the publish copy. The storage's own repairs (temporaries,
 * torn tails, modes) come first: they restore what its own writes left half done.
 */
async function applyPlan(pki: Pki, tx: Tx, ctx: DoctorContext, plan: RepairPlan, run: { health: StorageHealth | undefined; fixed: number }) {
  const { config, ca, reads } = ctx;
  if (plan.storage.length) await run.health?.repair(plan.storage);
  for (const f of plan.put) tx.put(f.key, f.data);
  let journal = { entries: ctx.journal.entries, validBytes: ctx.journal.validBytes };
  if (plan.quarantineJournal) {
    tx.put(quarantineName(journalFile.revocations, tx.now), plan.quarantineJournal.bad, { exclusive: true });
    const text = serializeRevocations(plan.quarantineJournal.good);
    tx.rewrite("revocations", text);
    journal = { entries: plan.quarantineJournal.good, validBytes: Buffer.byteLength(text) };
  }
  let staged: Awaited<ReturnType<typeof reads.stagePublication>> | undefined;
  if (plan.republish || plan.revoke.length) {
    const keys = await reads.caKeys(ca);
    const index = ctx.index ? { index: ctx.index } : {};
    staged = await reads.stagePublication({ config, ca, keys, journal, added: plan.revoke, ...index, now: tx.now }, tx);
  }
  tx.audit({ action: "doctor.fix", outcome: "ok", details: { problems: run.fixed, revoked: plan.revoke.length + (staged?.recovered.length ?? 0) } });
  if (ctx.index && plan.index.length) stageIndex(tx, await readIndexFrom(tx, pki.storage), plan.index);
  const moved = await stageMoves(tx, plan.move);
  tx.afterCommit(async () => {
    for (const m of moved) await run.health?.discardMoved(m.from, m.to);
    if (staged) await copyToPublishDir(config, ca, staged, pki.durableStep);
  });
}

/**
 * Copies each blob to move (and a certificate's chain file with it) to its new key in the
 * commit; the original is dropped after it, by the storage, only while the copy is identical.
 * A different blob already at the new key is never replaced: the original then stays put.
 */
async function stageMoves(tx: Tx, moves: RepairPlan["move"]): Promise<RepairPlan["move"]> {
  const out: RepairPlan["move"] = [];
  const chainOf = (key: string) => key.replace(/\.pem$/, ".chain.pem");
  for (const m of moves.flatMap((m) => [m, { from: chainOf(m.from), to: chainOf(m.to) }])) {
    const bytes = await bytesOf(tx, m.from);
    if (!bytes) continue;
    const there = await bytesOf(tx, m.to);
    if (there && !there.equals(bytes)) continue;
    if (!there) tx.put(m.to, bytes, { exclusive: true, ...(m.to.startsWith("private/") ? { secret: true } : {}) });
    out.push(m);
  }
  return out;
}
