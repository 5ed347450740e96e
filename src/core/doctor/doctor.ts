// `mtls doctor`: the store checked against itself, and the safe repairs. Each check finds
// structured problems and, when it can, adds their repair to one plan; the plan is applied as one
// commit. A repair never destroys: it removes only temporaries mtls wrote (by exact name), moves
// what it takes out of a file into a quarantine file, and only ever adds revocations.
import { chmod, readdir, rename, truncate, unlink } from "node:fs/promises";
import { basename, join, relative } from "node:path";
import { loadCaCerts, loadCaKeys } from "../ca/material.js";
import { readCrlHistory } from "../crl/history.js";
import { copyToPublishDir, readCrlState, stagePublication } from "../crl/publish.js";
import { MtlsError } from "../errors.js";
import { layoutOf, type Pki, type Tx } from "../session.js";
import { findDamagedTail, readAuditLog } from "../store/audit-file.js";
import { ensureDir, readJournal } from "../store/fs.js";
import { readIndexSnapshot, stageIndex } from "../store/index-file.js";
import { lockState } from "../store/lock.js";
import { readPartners } from "../store/partners.js";
import { quarantineName } from "../store/records.js";
import { scanRevocations, serializeRevocations } from "../store/revocations.js";
import { journalCheck, leftoversCheck, modesCheck, recordsCheck } from "./file-checks.js";
import { identityProblems } from "./identity-check.js";
import { keyStoreCheck } from "./key-store-check.js";
import { materialCheck } from "./material-check.js";
import { pgpCheck } from "./pgp-check.js";
import { auditCheck, certificatesCheck, crlCheck, orphansCheck, publishDirCheck, revocationsCheck } from "./revocation-checks.js";
import { summaryCheck } from "./summary-check.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem, RepairPlan, RepairTx } from "./types.js";

export type { DoctorCheckDef, DoctorFixContext, DoctorProblem, RepairTx } from "./types.js";

/** #12: identities held by two partners, subject-policy breaches (reported only). */
const identitiesCheck: DoctorCheckDef = {
  name: "identities",
  find: (ctx) => (ctx.index && ctx.partners ? identityProblems(ctx.layout, ctx.index.records) : []),
};

/** Every check, in the order they report. A new check: its own module, one line here. */
const CHECKS: readonly DoctorCheckDef[] = [
  leftoversCheck,
  journalCheck,
  recordsCheck,
  certificatesCheck,
  orphansCheck,
  revocationsCheck,
  crlCheck,
  publishDirCheck,
  materialCheck,
  modesCheck,
  auditCheck,
  identitiesCheck,
  pgpCheck,
  summaryCheck,
  keyStoreCheck,
];

export interface DoctorResult {
  healthy: boolean;
  problems: DoctorProblem[];
  checked: { certificates: number; revocations: number; auditRecords: number };
}

export interface DoctorParams {
  /** Apply the repairs (the session's passphrase is needed when the CRLs must be republished). */
  fix: boolean;
}

/** Every file of the store; a git repository kept in it (README suggests one) is not the store's. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name === ".git") continue;
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** A lock left by a process that no longer runs, or an unreadable one; a live holder is no problem. */
async function lockProblem(lockPath: string): Promise<DoctorProblem | undefined> {
  const lock = await lockState(lockPath);
  if (!lock.held || !lock.stale) return undefined;
  if (!lock.info)
    return {
      check: "lock",
      message: "an unreadable lock file (left by a crash)",
      hint: "any command takes it over; --fix removes it",
      fixable: true,
      path: lockPath,
    };
  return {
    check: "lock",
    message: `a stale lock from pid ${lock.info.pid} (${String(lock.info.purpose)}, since ${String(lock.info.since)}), a process that no longer runs`,
    hint: "any command takes it over safely; --fix removes it",
    fixable: true,
    path: lockPath,
  };
}

/** Reads everything the checks need; a damaged part is recorded, not thrown. */
async function loadContext(pki: Pki, now: Date): Promise<DoctorContext> {
  const layout = layoutOf(pki);
  const config = await pki.config();
  const ca = await loadCaCerts(pki.storage, config);
  const ctx: DoctorContext = {
    layout,
    config,
    ca,
    now,
    files: await walk(layout.root),
    journal: { entries: [], bad: [], validBytes: 0 },
    crlState: await readCrlState(pki.storage),
    history: await readCrlHistory(pki.storage, config.crl.publishDir, ca),
    audit: { ...(await readAuditLog(layout.audit)) },
  };
  const soft = <T>(p: Promise<T>, set: (v: T) => void, fail: (e: MtlsError) => void) =>
    p.then(set, (e) => {
      if (e instanceof MtlsError && e.code === "ERR_STORE_CORRUPT") fail(e);
      else throw e;
    });
  await soft(
    readIndexSnapshot(layout.index),
    (v) => (ctx.index = v),
    (e) => (ctx.indexError = e),
  );
  await soft(
    readPartners(layout.partners),
    (v) => (ctx.partners = v),
    (e) => (ctx.partnersError = e),
  );
  const journal = await readJournal(layout.revocations);
  ctx.journal = { ...scanRevocations(journal.text), validBytes: journal.validBytes };
  const tail = await findDamagedTail(layout.audit);
  if (tail.damaged) ctx.audit.damagedTail = tail.damaged;
  return ctx;
}

/** Runs every check; with `fix`, applies the repairs of the fixable problems as one commit. */
export async function runDoctor(pki: Pki, p: DoctorParams): Promise<DoctorResult> {
  const layout = layoutOf(pki);
  await pki.config();
  const stale = await lockProblem(layout.lock);
  return pki.transact(
    "doctor.fix",
    async (tx) => {
      const ctx = await loadContext(pki, tx.now);
      const problems: DoctorProblem[] = stale ? [stale] : [];
      const found = new Map<DoctorCheckDef, DoctorProblem[]>();
      for (const check of CHECKS) {
        const mine = await check.find(ctx);
        found.set(check, mine);
        problems.push(...mine);
      }
      if (p.fix && problems.some((x) => x.fixable && x.check !== "lock")) {
        const plan: RepairPlan = { remove: [], chmod: [], truncate: [], revoke: [], index: [], put: [], move: [], republish: false };
        const repair = repairTx(plan, tx.now);
        for (const [check, mine] of found) {
          const fixable = mine.filter((x) => x.fixable);
          if (fixable.length && check.fix) await check.fix({ ...ctx, problems: fixable }, repair);
        }
        await applyPlan(pki, tx, ctx, plan, problems.filter((x) => x.fixable).length);
        for (const x of problems) if (x.fixable) x.fixed = true;
      }
      if (p.fix && stale) stale.fixed = true; // taking the lock above replaced it
      return {
        healthy: problems.every((x) => x.fixed),
        problems,
        checked: { certificates: ctx.index?.records.length ?? 0, revocations: ctx.journal.entries.length, auditRecords: ctx.audit.records.length },
      };
    },
    { purpose: "doctor" },
  );
}

/** The verbs a check's fix stages its repair with, recorded in `plan` for applyPlan. */
function repairTx(plan: RepairPlan, now: Date): RepairTx {
  return {
    now,
    remove: (path) => plan.remove.push(path),
    truncate: (path, at) => plan.truncate.push({ path, at }),
    chmod: (path, mode) => plan.chmod.push({ path, mode }),
    revoke: (r) => plan.revoke.push(r),
    revoking: plan.revoke,
    appendIndex: (r) => plan.index.push(r),
    put: (path, data) => plan.put.push({ path, data }),
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
 * moves and the publish copy. Removing temporaries, truncating torn tails and fixing modes are
 * done first, on the directory itself: they restore what the store's own writes left half done.
 */
async function applyPlan(pki: Pki, tx: Tx, ctx: DoctorContext, plan: RepairPlan, fixedCount: number): Promise<void> {
  const { layout, config, ca } = ctx;
  for (const f of plan.remove) await unlink(f).catch(() => {});
  for (const t of plan.truncate) await truncate(t.path, t.at);
  for (const c of plan.chmod) await chmod(c.path, c.mode);
  for (const f of plan.put) tx.put(relative(layout.root, f.path), f.data);
  let journal = { entries: ctx.journal.entries, validBytes: (await readJournal(layout.revocations)).validBytes };
  if (plan.quarantineJournal) {
    tx.put(basename(quarantineName(layout.revocations, tx.now)), plan.quarantineJournal.bad, { exclusive: true });
    const text = serializeRevocations(plan.quarantineJournal.good);
    tx.rewrite("revocations", text);
    journal = { entries: plan.quarantineJournal.good, validBytes: Buffer.byteLength(text) };
  }
  let staged: Awaited<ReturnType<typeof stagePublication>> | undefined;
  if (plan.republish || plan.revoke.length) {
    const keys = await loadCaKeys(pki.storage, ca, pki.passphrase);
    const index = ctx.index ? { index: ctx.index } : {};
    staged = await stagePublication({ config, ca, keys, journal, added: plan.revoke, ...index, now: tx.now }, tx);
  }
  tx.audit({ action: "doctor.fix", outcome: "ok", details: { problems: fixedCount, revoked: plan.revoke.length + (staged?.recovered.length ?? 0) } });
  if (ctx.index && plan.index.length) stageIndex(tx, await readIndexSnapshot(layout.index), plan.index);
  tx.afterCommit(async () => {
    if (plan.move.length) await ensureDir(join(layout.certsDir, "orphans"));
    for (const m of plan.move) {
      await rename(m.from, m.to);
      await rename(m.from.replace(/\.pem$/, ".chain.pem"), m.to.replace(/\.pem$/, ".chain.pem")).catch(() => {});
    }
    if (staged) await copyToPublishDir(config, ca, staged, pki.durableStep);
  });
}
