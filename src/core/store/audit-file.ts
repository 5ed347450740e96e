// The audit log as a file of the directory store: finding the last intact record, appending
// after it (a damaged tail is moved aside first), and reading the file as it is on disk (doctor
// reads a torn last line as damage). The record format and its chain are core/audit/audit.ts's.
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { basename } from "node:path";
import { type AuditEntry, type AuditRecord, type AuditVerification, GENESIS, lineHash, verifyAuditLog } from "../audit/audit.js";
import { directoryError, fsError } from "../errors.js";
import { iso } from "../time.js";
import { notAFile, readStoreFile, STORE_READ, type StoreWriter } from "./fs.js";
import { journalFile } from "./keys.js";
import type { Layout } from "./layout.js";
import { checkAuditRecord, parseRecord, quarantineName } from "./records.js";
import type { Storage } from "./storage.js";

interface Tail {
  seq: number;
  prev: string;
  /** Length of the complete lines: a torn last line (a crash mid-append) is overwritten. */
  validBytes: number;
  /** Lines after the last intact record that are not records (garbage, a foreign write). */
  damaged?: DamagedTail;
}

export interface DamagedTail {
  /** 1-based line numbers of the first and last damaged line. */
  fromLine: number;
  toLine: number;
  /** Everything from the first damaged line to the end of the file. */
  bytes: Buffer;
}

/**
 * The slow path when the last line is not a record: the last intact record, and what follows
 * it, which the next append moves aside into a quarantine file instead of chaining onto it.
 */
export async function findDamagedTail(path: string): Promise<Tail> {
  const buf = readStoreFile(path) ?? Buffer.alloc(0);
  const lines = buf.toString("utf8").split("\n");
  const complete = lines.length - 1; // the piece after the last newline is torn (or empty)
  let good = 0;
  let tail: Omit<Tail, "validBytes"> = { seq: 0, prev: GENESIS };
  for (let i = complete - 1; i >= 0; i--) {
    const parsed = parseRecord<AuditRecord>(lines[i] as string, checkAuditRecord);
    if ("record" in parsed) {
      good = i + 1;
      tail = { seq: parsed.record.seq, prev: lineHash(lines[i] as string) };
      break;
    }
  }
  const validBytes = Buffer.byteLength(
    lines
      .slice(0, good)
      .map((l) => `${l}\n`)
      .join(""),
  );
  if (good === complete) return { ...tail, validBytes };
  return { ...tail, validBytes, damaged: { fromLine: good + 1, toLine: complete, bytes: buf.subarray(validBytes) } };
}

/** The last complete record of the log, read from the end of the file. */
async function readTail(path: string): Promise<Tail> {
  let fh: import("node:fs/promises").FileHandle;
  try {
    fh = await open(path, STORE_READ);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { seq: 0, prev: GENESIS, validBytes: 0 };
    throw fsError(err, path, "read");
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw directoryError(path);
    if (!st.isFile()) throw notAFile(path);
    const size = st.size;
    for (let window = 16 * 1024; ; window *= 4) {
      const start = Math.max(0, size - window);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      const end = buf.lastIndexOf(0x0a) + 1;
      if (end === 0 && start > 0) continue; // no complete line in this window yet
      const body = buf.subarray(0, end);
      const prevNl = body.lastIndexOf(0x0a, Math.max(0, end - 2));
      if (prevNl < 0 && start > 0) continue;
      const last = body.subarray(prevNl + 1, end - 1).toString("utf8");
      if (!last) return findDamagedTail(path); // an empty line: not one we wrote
      const parsed = parseRecord<AuditRecord>(last, checkAuditRecord);
      if ("bad" in parsed) return findDamagedTail(path);
      return { seq: parsed.record.seq, prev: lineHash(last), validBytes: start + end };
    }
  } finally {
    await fh.close();
  }
}

/**
 * Stages records into `tx` (the caller holds the store lock). A damaged tail never blocks the
 * change (a revocation must not wait for a repair): it is moved into `audit.log.quarantine-*`
 * in the same commit and the chain goes on from the last intact record with an
 * `audit.quarantine` record naming the file, the lines and their SHA-256.
 */
export async function stageAudit(tx: StoreWriter, layout: Layout, entries: AuditEntry[], now: Date, actor = "unknown"): Promise<void> {
  if (entries.length === 0) return;
  const tail = await readTail(layout.audit);
  if (tail.damaged) entries = [quarantine(tx, layout, tail.damaged, now), ...entries];
  let { seq, prev } = tail;
  let text = "";
  for (const e of entries) {
    const rec: AuditRecord = { seq: ++seq, time: iso(now), actor, ...e, prev };
    const line = JSON.stringify(rec);
    prev = lineHash(line);
    text += `${line}\n`;
  }
  tx.append(layout.audit, text, tail.validBytes, 0o640);
}

function quarantine(tx: StoreWriter, layout: Layout, d: DamagedTail, now: Date): AuditEntry {
  const file = quarantineName(layout.audit, now);
  tx.create(file, d.bytes, 0o640);
  return {
    action: "audit.quarantine",
    outcome: "moved",
    details: { file: basename(file), lines: `${d.fromLine}-${d.toLine}`, bytes: d.bytes.length, sha256: createHash("sha256").update(d.bytes).digest("hex") },
  };
}

/** Reads the log file and checks the chain from the first line (a torn last line counts as damage). */
export async function readAuditLog(path: string): Promise<{ records: AuditRecord[]; verification: AuditVerification }> {
  return verifyAuditLog(readStoreFile(path)?.toString("utf8") ?? "");
}

/** What follows the last intact record of a storage's audit file (nothing for a storage without one). */
export async function findDamagedTailOf(storage: Pick<Storage, "localPath">): Promise<Tail> {
  const path = storage.localPath(journalFile.audit);
  return path ? findDamagedTail(path) : { seq: 0, prev: GENESIS, validBytes: 0 };
}
