// Certificates without an index line are what a crash leaves: signed, archived (and audited),
// then the process died before the index append that commits them. `doctor --fix` revokes them,
// since one may have been handed out. But an index.jsonl that lost lines (emptied, cut short,
// an old copy put back) shows the same picture for every certificate it lost, and revoking those
// would cut off every partner at once. A crash leaves the certificates of one command: one
// issuance (audited or not), or one batch, whose records follow each other in the audit log.
// Unrecorded certificates audited by two or more commands are lost index lines, which only the
// index's backup can give back.
import { packedSerial, packsOf } from "../store/pack.js";
import type { DoctorContext } from "./types.js";

/** What index.jsonl lost: how many certificates it no longer names, issued by how many commands. */
export interface IndexLoss {
  certificates: number;
  commands: number;
}

const ISSUING = new Set(["cert.issue", "cert.rotate"]);

const found = new WeakMap<DoctorContext, Promise<IndexLoss | undefined>>();

/** The index's lost lines, when the certificates it does not name cannot all be one command's crash. */
export function indexLoss(ctx: DoctorContext): Promise<IndexLoss | undefined> {
  let loss = found.get(ctx);
  if (!loss) {
    loss = lossOf(ctx);
    found.set(ctx, loss);
  }
  return loss;
}

async function lossOf(ctx: DoctorContext): Promise<IndexLoss | undefined> {
  if (!ctx.index) return undefined;
  // Revoked ones are a repair under way (a move to certs/orphans/ cut short), not a question.
  const indexed = new Set([...ctx.index.records.map((r) => r.serial), ...ctx.journal.entries.map((e) => e.serial)]);
  const unrecorded = new Set<string>();
  for (const key of await ctx.store.list("certs/")) {
    const serial = /^certs\/([0-9a-f]+)\.pem$/.exec(key)?.[1];
    if (serial && !indexed.has(serial)) unrecorded.add(serial);
  }
  for (const pack of await packsOf(ctx.store))
    for (const e of pack.entries) {
      const serial = packedSerial(e.key);
      if (serial && !e.key.endsWith(".chain.pem") && !indexed.has(serial)) unrecorded.add(serial);
    }
  // Commands: each single issuance is one; a batch's records are one run of consecutive sequence
  // numbers at one time (records are in sequence order).
  let certificates = 0;
  let commands = 0;
  let run: { seq: number; time: string } | undefined;
  for (const r of ctx.audit.records) {
    if (!(ISSUING.has(r.action) && typeof r.serial === "string" && unrecorded.has(r.serial))) continue;
    certificates++;
    const batch = r.details?.batch === true;
    if (!batch || !run || r.seq !== run.seq + 1 || r.time !== run.time) commands++;
    run = batch ? { seq: r.seq, time: r.time } : undefined;
  }
  return commands >= 2 ? { certificates, commands } : undefined;
}

/**
 * The words of the problem of a certificate without an index line: one the index lost (not
 * fixable: only its backup knows the lines), or one a crash left, which `fix` says --fix does.
 */
export function unrecordedWords(serial: string, where: string, loss: IndexLoss | undefined, fix: string) {
  if (!loss) return { message: `certificate ${serial} (${where}) was signed but never recorded (a crash before the index append)`, hint: fix, fixable: true };
  return {
    message: `certificate ${serial} (${where}) has no index line, nor do ${loss.certificates - 1} more: ${loss.commands} commands issued them, so index.jsonl lost their lines (a crash leaves one command's)`,
    hint: "restore index.jsonl from your backup and run `mtls doctor` again; --fix does not revoke certificates the index lost",
    fixable: false,
  };
}
