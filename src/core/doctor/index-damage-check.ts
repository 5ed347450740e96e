// Doctor check on an index journal that lost records (store/summary-damage.ts): its summary
// proves the journal once had them, so their certificates are no crash's leftovers and are never
// revoked for want of a line. --fix appends each record again from the summary's copy, once the
// certificate it names is the one the store holds (same serial and fingerprint); its status is
// the revocation journal's when that revoked it, else the summary's. A record whose copy does not
// hold is reported, and its certificate left alone: only the index's backup knows more.
import { parseCertificate } from "../cert.js";
import { pemOrDer } from "../pem.js";
import type { CertRecord } from "../store/index-file.js";
import { journalFile, storeKeys } from "../store/keys.js";
import { bytesOf } from "./blobs.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem } from "./types.js";

/** The serials whose records the index lost: recorded all the same, as far as the other checks go. */
export const lostSerials = (ctx: DoctorContext): Array<{ serial: string; fingerprint?: string }> =>
  (ctx.indexDamage?.lost ?? []).map((l) => ({ serial: l.serial, ...(l.record ? { fingerprint: l.record.fingerprint } : {}) }));

/** Each recorded serial's fingerprint, a record the index lost to damage counting as one (it is not a crash's). */
export function recordedFingerprints(ctx: DoctorContext): Map<string, string | undefined> {
  return new Map<string, string | undefined>([
    ...lostSerials(ctx).map((l) => [l.serial, l.fingerprint] as const),
    ...(ctx.index?.records ?? []).map((r) => [r.serial, r.fingerprint] as const),
  ]);
}

type Judged = { restore: CertRecord[]; doubtful: Array<{ serial: string; why: string }> };
const judged = new WeakMap<object, Promise<Judged>>();

/** The summary's copies of the lost records that hold, and why the others do not (once per run). */
function judge(ctx: DoctorContext): Promise<Judged> {
  const damage = ctx.indexDamage;
  if (!damage) return Promise.resolve({ restore: [], doubtful: [] });
  let found = judged.get(damage);
  if (!found) {
    found = judgeLost(ctx);
    judged.set(damage, found);
  }
  return found;
}

async function judgeLost(ctx: DoctorContext): Promise<Judged> {
  const out: Judged = { restore: [], doubtful: [] };
  const revoked = new Map(ctx.journal.entries.map((e) => [e.serial, e]));
  const indexed = new Set(ctx.index?.records.map((r) => r.serial));
  for (const { serial, record } of ctx.indexDamage?.lost ?? []) {
    // Still recorded, its revocation line lost: the revocations check puts the journal's back.
    if (indexed.has(serial) && revoked.has(serial)) continue;
    const why = record ? await certificateDiffers(ctx, record) : "is not a record";
    if (why || !record) {
      out.doubtful.push({ serial, why: why ?? "is not a record" });
      continue;
    }
    const e = revoked.get(serial);
    out.restore.push(e ? { ...record, status: "revoked", revokedAt: e.revokedAt, revocationReason: e.reason } : record);
  }
  return out;
}

/** Why the certificate the store holds under the record's serial is not the record's, if it is not. */
async function certificateDiffers(ctx: DoctorContext, r: CertRecord): Promise<string | undefined> {
  const key = storeKeys.certFile(r.serial);
  try {
    const bytes = await bytesOf(ctx.store, key);
    if (!bytes) return `names ${key}, which is missing`;
    const cert = parseCertificate(pemOrDer(bytes, ["CERTIFICATE"], ctx.store.where(key)), ctx.store.where(key));
    return cert.serial === r.serial && cert.fingerprint === r.fingerprint ? undefined : `does not match ${key}`;
  } catch {
    return `names ${key}, which is not a readable certificate`;
  }
}

export const indexDamageCheck: DoctorCheckDef = {
  name: "index",
  async find(ctx) {
    const d = ctx.indexDamage;
    if (!d) return [];
    const { restore, doubtful } = await judge(ctx);
    const at = { path: ctx.store.where(journalFile.index), key: journalFile.index };
    const how =
      d.size < d.covered
        ? `it is ${d.size} bytes, ${d.covered - d.size} fewer than the ${d.covered} the summary covered`
        : `its first ${d.covered} bytes changed since then`;
    const out: DoctorProblem[] = [
      {
        check: "index",
        message: `${at.path} has lost the records of ${d.lost.length} certificate(s) that ${d.summary} holds (${how}): it was damaged, not cut by a crash, so their certificates are not revoked`,
        hint: restore.length
          ? `--fix puts back the records of ${restore.length} from the summary (a revoked one stays revoked); or restore ${journalFile.index} from your backup`
          : `restore ${journalFile.index} from your backup`,
        fixable: restore.length > 0,
        ...at,
      },
    ];
    for (const x of doubtful)
      out.push({
        check: "index",
        message: `the record of certificate ${x.serial}, lost from ${journalFile.index}, cannot be put back: the summary's copy ${x.why}`,
        hint: `restore ${journalFile.index} from your backup; the certificate is not revoked. If no backup holds the record, removing ${d.summary} accepts its loss (it is rebuilt from the index, and doctor then judges the certificate's file as any unrecorded one)`,
        fixable: false,
        serial: x.serial,
        ...at,
      });
    return out;
  },
  async fix(ctx, tx) {
    for (const r of (await judge(ctx)).restore) tx.appendIndex(r);
  },
};
