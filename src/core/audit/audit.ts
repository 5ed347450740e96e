// The audit log: JSON Lines in the PKI, one record per state-changing action, each carrying the
// SHA-256 of the previous line, so an edited, inserted or deleted line breaks the chain at that
// point. Records are appended in the same commit as the change they describe. Tamper-evident,
// not tamper-proof: someone who can rewrite the whole file can rebuild the chain, and dropping
// the newest lines shows only against a copy (see README, "Security model").
import { createHash } from "node:crypto";
import type { Pki } from "../session.js";
import { auditTornTail } from "../store/audit-tail.js";
import { checkAuditRecord, parseRecord } from "../store/records.js";
import type { StoreReader } from "../store/storage.js";
import { iso } from "../time.js";

export type AuditAction =
  | "ca.init"
  | "ca.policy"
  | "ca.rollover"
  | "ca.key.import-to-token"
  | "cert.issue"
  | "cert.revoke"
  | "crl.publish"
  | "partner.add"
  | "partner.offboard"
  | "identity.release"
  | "bundle.export"
  | "pgp.init"
  | "probe.run"
  | "doctor.fix"
  | "ocsp.responder"
  | "audit.quarantine"
  | "cert.rotate"
  | "rotation.finish"
  | "notify.sent";

export interface AuditEntry {
  action: AuditAction;
  outcome: string;
  serial?: string;
  partner?: string;
  /** Small, non-secret facts: a reason, a CRL number, a target URL. */
  details?: Record<string, string | number | boolean>;
}

export interface AuditRecord extends AuditEntry {
  seq: number;
  time: string;
  actor: string;
  /** SHA-256 (hex) of the previous record's line; 64 zeros for the first. */
  prev: string;
}

export const GENESIS = "0".repeat(64);
export const lineHash = (line: string) => createHash("sha256").update(line).digest("hex");

export interface AuditVerification {
  ok: boolean;
  records: number;
  /** The first line that breaks the chain, and why. */
  firstBad?: { line: number; reason: string };
  /** The file ends inside a line after the last record: a torn append (`doctor --fix` moves it aside), or damage. */
  tornTail?: boolean;
}

/** The log as the store holds it (its complete lines), its chain checked from the first line. */
export async function readAuditFrom(store: Pick<StoreReader, "readJournal">): Promise<{ records: AuditRecord[]; verification: AuditVerification }> {
  return verifyAuditLog(await store.readJournal("audit"));
}

/** Parses the log's text and checks the chain from the first line. */
export function verifyAuditLog(text: string): { records: AuditRecord[]; verification: AuditVerification } {
  const records: AuditRecord[] = [];
  let prev = GENESIS;
  let firstBad: AuditVerification["firstBad"];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  // A chain cannot see records cut from its end, but it can see the whole log gone: every store's
  // log begins with its ca.init record, and only a store is ever verified.
  if (lines.length === 0)
    return {
      records,
      verification: {
        ok: false,
        records: 0,
        firstBad: { line: 1, reason: "the log is empty, yet every store's log begins with its ca.init record: it was deleted or emptied" },
      },
    };
  lines.forEach((line, i) => {
    if (firstBad) return;
    const parsed = parseRecord<AuditRecord>(line, checkAuditRecord);
    if ("bad" in parsed) {
      firstBad = { line: i + 1, reason: `not an audit record (${parsed.bad}): edited or torn` };
      return;
    }
    const rec = parsed.record;
    // A log deleted and begun again by the next command links from the start: but a store's log
    // begins with ca.init (or with the record of a damaged start moved aside, audit.quarantine).
    if (i === 0 && rec.prev === GENESIS && rec.action !== "ca.init" && rec.action !== "audit.quarantine") {
      firstBad = { line: 1, reason: `it begins with ${rec.action}, not the store's ca.init record: the records before it were deleted` };
      return;
    }
    if (rec.prev !== prev) {
      // The mismatch shows on the line after the damage: name the last line that still links.
      firstBad =
        i === 0
          ? { line: 1, reason: "it does not start the chain: records before it were deleted" }
          : { line: i, reason: `line ${i} was edited, or a record was inserted or deleted right after it (line ${i + 1} no longer links to it)` };
    } else if (rec.seq !== records.length + 1) firstBad = { line: i + 1, reason: `sequence ${rec.seq}, expected ${records.length + 1}` };
    records.push(rec);
    prev = lineHash(line);
  });
  return { records, verification: { ok: !firstBad, records: records.length, ...(firstBad ? { firstBad } : {}) } };
}

export interface AuditQuery {
  since?: Date;
  partner?: string;
  action?: string;
}

/** The log, filtered, with the verification of the whole chain. */
export async function queryAudit(pki: Pki, q: AuditQuery = {}): Promise<{ records: AuditRecord[]; verification: AuditVerification }> {
  await pki.config(); // opens and checks the store (exit 5 when there is no PKI)
  const { records, verification: chain } = await readAuditFrom(pki.storage);
  // Bytes after the last complete record are no record and break no link (a crash leaves them,
  // and the next append moves them aside), but the log does not end where the chain does: said.
  const verification: AuditVerification = auditTornTail(pki.storage) ? { ...chain, tornTail: true } : chain;
  const since = q.since?.getTime();
  return {
    records: records.filter(
      (r) =>
        (since === undefined || Date.parse(r.time) >= since) &&
        (!q.partner || r.partner === q.partner) &&
        (!q.action || r.action === q.action || r.action.startsWith(`${q.action}.`)),
    ),
    verification,
  };
}

/**
 * The lines of `entries` chained after the record `tail` (its seq and line hash): the one
 * definition of the record format and its link, for storages that append without a file (#16).
 */
export function chainAuditLines(
  entries: AuditEntry[],
  tail: { seq: number; prev: string },
  now: Date,
  actor: string,
): { text: string; seq: number; prev: string } {
  let { seq, prev } = tail;
  let text = "";
  for (const e of entries) {
    const line = JSON.stringify({ seq: ++seq, time: iso(now), actor, ...e, prev } satisfies AuditRecord);
    prev = lineHash(line);
    text += `${line}\n`;
  }
  return { text, seq, prev };
}
