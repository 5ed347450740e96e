// Certificates without an index line are what a crash leaves: signed, archived (and audited),
// then the process died before the index append that commits them. `doctor --fix` revokes them,
// since one may have been handed out. But an index.jsonl that lost lines (emptied, cut short,
// an old copy put back) shows the same picture for every certificate it lost, and revoking those
// would cut off every partner at once. A crash leaves the certificates of one command: one
// issuance, or one batch. Unrecorded certificates of two or more commands are taken for lost
// index lines, which only the index's backup can give back; `--revoke-unrecorded` says they are
// leftovers of failed commands after all (several crashes with no doctor run between them).
// A database's journal cannot lose committed lines, and there a command whose connection is lost
// after its certificates' early commit leaves them too: every unrecorded certificate is revoked.
import { parseCertificate } from "../cert.js";
import { pemOrDer } from "../pem.js";
import { packedSerial, packsOf } from "../store/pack.js";
import { iso } from "../time.js";
import { bytesOf } from "./blobs.js";
import { lostSerials } from "./index-damage-check.js";
import type { DoctorContext } from "./types.js";

/** The certificates index.jsonl no longer names, when they are more than one command's. */
export interface IndexLoss {
  lost: ReadonlySet<string>;
  commands: number;
}

const ISSUING = new Set(["cert.issue", "cert.rotate"]);

/** A certificate file of certs/ that no index entry names, by its name nor by what it holds. */
export interface UnrecordedFile {
  key: string;
  /** The serial its name gives: where a crash left it. */
  name: string;
  /** The serial it holds when it is a certificate (what a repair revokes), else its name's. */
  serial: string;
  bytes?: Buffer;
  notBefore?: Date;
}

const files = new WeakMap<DoctorContext, Promise<UnrecordedFile[]>>();

/** The certificate files no index entry names (read once per doctor run: two checks ask). */
export function unrecordedFiles(ctx: DoctorContext): Promise<UnrecordedFile[]> {
  let found = files.get(ctx);
  if (!found) {
    found = filesOf(ctx);
    files.set(ctx, found);
  }
  return found;
}

async function filesOf(ctx: DoctorContext): Promise<UnrecordedFile[]> {
  const indexed = new Set([...(ctx.index?.records.map((r) => r.serial) ?? []), ...lostSerials(ctx).map((l) => l.serial)]);
  const out: UnrecordedFile[] = [];
  for (const key of await ctx.store.list("certs/")) {
    const name = /^certs\/([0-9a-f]+)\.pem$/.exec(key)?.[1];
    if (!name || indexed.has(name)) continue;
    const bytes = await bytesOf(ctx.store, key).catch(() => undefined);
    let cert: { serial: string; notBefore: Date } | undefined;
    try {
      cert = parseCertificate(pemOrDer(bytes ?? Buffer.alloc(0), ["CERTIFICATE"], key), key);
    } catch {}
    const serial = cert?.serial ?? name;
    if (!indexed.has(serial)) out.push({ key, name, serial, ...(bytes ? { bytes } : {}), ...(cert ? { notBefore: cert.notBefore } : {}) });
  }
  return out;
}

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

/**
 * Unrecorded certificates not revoked yet, each with the group it was written in when no audit
 * record says more (its pack, or its notBefore).
 */
async function unrecordedOf(ctx: DoctorContext, indexed: ReadonlySet<string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await unrecordedFiles(ctx)) if (!indexed.has(f.serial)) out.set(f.serial, f.notBefore ? `time:${iso(f.notBefore)}` : `file:${f.serial}`);
  for (const pack of await packsOf(ctx.store))
    for (const e of pack.entries) {
      const serial = packedSerial(e.key);
      if (serial && !e.key.endsWith(".chain.pem") && !indexed.has(serial)) out.set(serial, `pack:${pack.key}`);
    }
  return out;
}

async function lossOf(ctx: DoctorContext): Promise<IndexLoss | undefined> {
  if (!ctx.index || ctx.indexKeepsLines) return undefined;
  // Revoked ones are a repair under way (a move to certs/orphans/ cut short), not a question.
  const indexed = new Set([...ctx.index.records.map((r) => r.serial), ...ctx.journal.entries.map((e) => e.serial), ...lostSerials(ctx).map((l) => l.serial)]);
  const unrecorded = await unrecordedOf(ctx, indexed);
  if (unrecorded.size < 2) return undefined;
  // A transaction's audit records are appended together, at one time. Within such a run, a batch
  // is one command, and every other issuance one command of its own (rotate audits its one
  // certificate twice). A certificate no record names counts by the group it was written in.
  const commandOf = new Map<string, string>();
  let run = 0;
  let prev: { seq: number; time: string } | undefined;
  for (const r of ctx.audit.records) {
    if (!prev || r.seq !== prev.seq + 1 || r.time !== prev.time) run++;
    prev = { seq: r.seq, time: r.time };
    if (!ISSUING.has(r.action) || typeof r.serial !== "string" || !unrecorded.has(r.serial) || commandOf.has(r.serial)) continue;
    commandOf.set(r.serial, r.details?.batch === true ? `${run}:batch` : `${run}:${r.serial}`);
  }
  const commands = new Set([...unrecorded].map(([serial, group]) => commandOf.get(serial) ?? group)).size;
  return commands >= 2 ? { lost: new Set(unrecorded.keys()), commands } : undefined;
}

/**
 * The words of the problem of a certificate without an index line: one the index lost (fixable
 * only with --revoke-unrecorded), or one a crash left, which `fix` says --fix does.
 */
export function unrecordedWords(ctx: DoctorContext, serial: string, where: string, loss: IndexLoss | undefined, fix: string) {
  if (!loss?.lost.has(serial)) {
    const why = ctx.indexKeepsLines ? "a command that failed or crashed before the index append" : "a crash before the index append";
    return { message: `certificate ${serial} (${where}) was signed but never recorded (${why})`, hint: fix, fixable: true };
  }
  return {
    message: `certificate ${serial} (${where}) has no index line, nor do ${loss.lost.size - 1} more: ${loss.commands} commands issued them, and a crash leaves one command's, so index.jsonl has probably lost their lines`,
    hint: "restore index.jsonl from your backup and run `mtls doctor` again; if they are what failed commands left, `mtls doctor --fix --revoke-unrecorded` revokes them",
    fixable: ctx.revokeUnrecorded === true,
  };
}
