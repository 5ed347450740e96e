// `mtls doctor`: the store checked against itself, and the safe repairs. Each check finds
// structured problems and, when it can, adds their repair to one plan; the plan is applied as one
// commit. A repair never destroys: it removes only temporaries mtls wrote (by exact name), moves
// what it takes out of a file into a quarantine file, and only ever adds revocations.
import { chmod, readdir, readFile, rename, truncate, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { findDamagedTail, readAuditLog, stageAudit } from "../audit/audit.js";
import { loadCaCerts, loadCaKeys, type PassphraseSource } from "../ca/material.js";
import { readCrlHistory } from "../crl/history.js";
import { copyToPublishDir, readCrlState, stagePublication } from "../crl/publish.js";
import { MtlsError } from "../errors.js";
import { ensureDir, readJournal, StoreWriter } from "../store/fs.js";
import { readIndexSnapshot, stageIndex } from "../store/index-file.js";
import { withLock } from "../store/lock.js";
import { readPartners } from "../store/partners.js";
import { quarantineName } from "../store/records.js";
import { scanRevocations, serializeRevocations } from "../store/revocations.js";
import { openStore } from "../store/store.js";
import { journalCheck, leftoversCheck, modesCheck, recordsCheck } from "./file-checks.js";
import { identityProblems } from "./identity-check.js";
import { keyStoreCheck } from "./key-store-check.js";
import { materialCheck } from "./material-check.js";
import { pgpCheck } from "./pgp-check.js";
import { auditCheck, certificatesCheck, crlCheck, orphansCheck, publishDirCheck, revocationsCheck } from "./revocation-checks.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem, RepairPlan } from "./types.js";

export type { DoctorCheckDef, DoctorProblem } from "./types.js";

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
  keyStoreCheck,
];

export interface DoctorResult {
  healthy: boolean;
  problems: DoctorProblem[];
  checked: { certificates: number; revocations: number; auditRecords: number };
}

export interface DoctorParams {
  pkiDir: string;
  fix: boolean;
  /** Needed by --fix when the CRLs must be republished. */
  passphrase?: PassphraseSource;
  now: Date;
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

async function lockProblem(lockPath: string): Promise<DoctorProblem | undefined> {
  const text = await readFile(lockPath, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  let info: { pid?: unknown; host?: unknown; purpose?: unknown; since?: unknown } | undefined;
  try {
    info = JSON.parse(text);
  } catch {}
  if (!info || typeof info.pid !== "number" || typeof info.host !== "string")
    return {
      check: "lock",
      message: "an unreadable lock file (left by a crash)",
      hint: "any command takes it over; --fix removes it",
      fixable: true,
      path: lockPath,
    };
  if (info.host !== hostname()) return undefined;
  try {
    process.kill(info.pid, 0);
    return undefined; // a command is running
  } catch {
    return {
      check: "lock",
      message: `a stale lock from pid ${info.pid} (${String(info.purpose)}, since ${String(info.since)}), a process that no longer runs`,
      hint: "any command takes it over safely; --fix removes it",
      fixable: true,
      path: lockPath,
    };
  }
}

/** Reads everything the checks need; a damaged part is recorded, not thrown. */
async function loadContext(pkiDir: string, now: Date): Promise<DoctorContext> {
  const { layout, config } = await openStore(pkiDir);
  const ca = await loadCaCerts(layout, config);
  const ctx: DoctorContext = {
    layout,
    config,
    ca,
    now,
    files: await walk(layout.root),
    journal: { entries: [], bad: [], validBytes: 0 },
    crlState: await readCrlState(layout),
    history: await readCrlHistory(layout, config.crl.publishDir, ca),
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
export async function runDoctor(p: DoctorParams): Promise<DoctorResult> {
  const { layout } = await openStore(p.pkiDir);
  const stale = await lockProblem(layout.lock);
  return withLock(
    layout.lock,
    async () => {
      const ctx = await loadContext(p.pkiDir, p.now);
      const problems: DoctorProblem[] = stale ? [stale] : [];
      const found = new Map<DoctorCheckDef, DoctorProblem[]>();
      for (const check of CHECKS) {
        const mine = await check.find(ctx);
        found.set(check, mine);
        problems.push(...mine);
      }
      if (p.fix && problems.some((x) => x.fixable && x.check !== "lock")) {
        const plan: RepairPlan = { remove: [], chmod: [], truncate: [], revoke: [], index: [], put: [], move: [], republish: false };
        for (const [check, mine] of found) {
          const fixable = mine.filter((x) => x.fixable);
          if (fixable.length && check.fix) await check.fix(ctx, fixable, plan);
        }
        await applyPlan(ctx, plan, problems.filter((x) => x.fixable).length, p);
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

/** The repair as one commit: quarantine and rewrite, republish, journal, audit, index; then moves and the publish copy. */
async function applyPlan(ctx: DoctorContext, plan: RepairPlan, fixedCount: number, p: DoctorParams): Promise<void> {
  const { layout, config, ca } = ctx;
  for (const f of plan.remove) await unlink(f).catch(() => {});
  for (const t of plan.truncate) await truncate(t.path, t.at);
  for (const c of plan.chmod) await chmod(c.path, c.mode);
  const tx = new StoreWriter();
  for (const f of plan.put) tx.put(f.path, f.data);
  let journal = { entries: ctx.journal.entries, validBytes: (await readJournal(layout.revocations)).validBytes };
  if (plan.quarantineJournal) {
    tx.create(quarantineName(layout.revocations, p.now), plan.quarantineJournal.bad);
    const text = serializeRevocations(plan.quarantineJournal.good);
    tx.put(layout.revocations, text);
    journal = { entries: plan.quarantineJournal.good, validBytes: Buffer.byteLength(text) };
  }
  let staged: Awaited<ReturnType<typeof stagePublication>> | undefined;
  if (plan.republish || plan.revoke.length) {
    const keys = await loadCaKeys(layout, ca, p.passphrase);
    const index = ctx.index ? { index: ctx.index } : {};
    staged = await stagePublication({ layout, config, ca, keys, journal, added: plan.revoke, ...index, now: p.now }, tx);
  }
  await stageAudit(
    tx,
    layout,
    [{ action: "doctor.fix", outcome: "ok", details: { problems: fixedCount, revoked: plan.revoke.length + (staged?.recovered.length ?? 0) } }],
    p.now,
  );
  if (ctx.index && plan.index.length) stageIndex(tx, layout.index, await readIndexSnapshot(layout.index), plan.index);
  await tx.commit();
  if (plan.move.length) await ensureDir(join(layout.certsDir, "orphans"));
  for (const m of plan.move) {
    await rename(m.from, m.to);
    await rename(m.from.replace(/\.pem$/, ".chain.pem"), m.to.replace(/\.pem$/, ".chain.pem")).catch(() => {});
  }
  if (staged) await copyToPublishDir(config, ca, staged);
}
