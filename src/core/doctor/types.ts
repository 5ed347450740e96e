import type { AuditRecord, AuditVerification } from "../audit/audit.js";
import type { CaCerts } from "../ca/material.js";
import type { CrlHistory } from "../crl/history.js";
import type { CrlState } from "../crl/publish.js";
import type { MtlsError } from "../errors.js";
import type { DamagedTail } from "../store/audit-file.js";
import type { StoreConfig } from "../store/config.js";
import type { StorageProblem } from "../store/health.js";
import type { CertRecord, IndexSnapshot } from "../store/index-file.js";
import type { PartnerRegistry } from "../store/partners.js";
import type { Revocation } from "../store/revocations.js";
import type { StoreReader } from "../store/storage.js";
import type { IndexDamageReport } from "../store/summary-damage.js";
import type { LayoutReads } from "./layout-reads.js";

/** Everything the checks look at, read once under the lock. A part that cannot be read is absent, with why. */
export interface DoctorContext {
  /** The doctor's transaction: every read of the store goes through it, by key (messages name keys via `where`). */
  store: StoreReader;
  config: StoreConfig;
  ca: CaCerts;
  now: Date;
  index?: IndexSnapshot;
  indexError?: MtlsError;
  /** Records the index lost to damage, by the storage's evidence (its summary): never a crash's (index-damage-check.ts). */
  indexDamage?: IndexDamageReport;
  /** The storage's index cannot lose committed lines (StorageHealth.indexKeepsLines): no index loss to suspect. */
  indexKeepsLines?: boolean;
  journal: { entries: Revocation[]; bad: Array<{ line: number; text: string; why: string }>; validBytes: number };
  partners?: PartnerRegistry;
  partnersError?: MtlsError;
  crlState: { state: CrlState; damaged?: string };
  history: CrlHistory;
  audit: { records: AuditRecord[]; verification: AuditVerification; damagedTail?: DamagedTail };
  /** What the storage's own health check found (store/health.ts); none for a storage without one. */
  storage: StorageProblem[];
  /** Reads through modules that still take a directory layout (see layout-reads.ts). */
  reads: LayoutReads;
  /** --revoke-unrecorded: certificates without an index line are failed commands' even when they are several commands' (index-loss.ts). */
  revokeUnrecorded?: boolean;
}

/** One problem, with the structured facts its repair needs (never parsed back from `message`). */
export interface DoctorProblem {
  check: string;
  message: string;
  hint: string;
  fixable: boolean;
  fixed?: boolean;
  /** Where the problem is, for display: `where(key)` for a blob or journal, a path outside the store. */
  path?: string;
  /** The storage key concerned (a blob, or a journal's key): what a repair acts on. */
  key?: string;
  line?: number;
  serial?: string;
  /** For modes: the mode found and the one --fix sets. */
  mode?: number;
  wantMode?: number;
  /** For a derived file: what --fix writes. */
  data?: string;
  /** For CA material config.json does not name: the keys --fix moves aside. */
  keys?: string[];
}

/** What the repairs of one run staged through their RepairTx, applied as one commit. */
export interface RepairPlan {
  /** Problems of the medium, handed back to the storage's own repair (before the commit). */
  storage: StorageProblem[];
  /** Revocations the journal must gain (each also on the next CRL). */
  revoke: Revocation[];
  /** Index records to append (a revocation the index missed). */
  index: CertRecord[];
  /** Blobs rewritten in the commit (derived ones, from their sources). */
  put: Array<{ key: string; data: string }>;
  /** Blobs moved aside (unrecorded certificates into certs/orphans/): copied in the commit, the original dropped after it. */
  move: Array<{ from: string; to: string }>;
  /** Lines of the revocation journal that are not records: moved aside, the rest rewritten. */
  quarantineJournal?: { bad: string; good: Revocation[] };
  republish: boolean;
}

/**
 * A check's repair as the doctor's one transaction sees it: each verb is staged, and everything
 * every check staged commits together (or nothing does).
 */
export interface RepairTx {
  readonly now: Date;
  /** Problems of the medium (store/health.ts), repaired by the storage itself. */
  repairStorage(problems: readonly StorageProblem[]): void;
  /** A revocation the journal gains (also on the next CRL). */
  revoke(r: Revocation): void;
  /** The revocations staged so far: a later check's repair builds on an earlier one's. */
  readonly revoking: readonly Revocation[];
  /** An index record to append (a revocation the index missed). */
  appendIndex(r: CertRecord): void;
  /** A derived blob rewritten from its sources. */
  put(key: string, data: string): void;
  /** A blob moved aside under `to` (an unrecorded certificate into certs/orphans/). */
  move(from: string, to: string): void;
  /** The journal's lines that are not records go to a quarantine blob; `good` is rewritten. */
  quarantineJournal(bad: string, good: Revocation[]): void;
  /** The CRLs are signed and published again in the commit. */
  republish(): void;
}

/** What a repair sees: everything the checks read, and this check's fixable problems. */
export interface DoctorFixContext extends DoctorContext {
  problems: DoctorProblem[];
}

/** A doctor check. Add one by appending it to CHECKS in doctor.ts. */
export interface DoctorCheckDef {
  name: string;
  find(ctx: DoctorContext): Promise<DoctorProblem[]> | DoctorProblem[];
  /** Stages the repair of `ctx.problems` (this check's fixable ones) in the doctor's transaction. */
  fix?(ctx: DoctorFixContext, tx: RepairTx): Promise<void> | void;
}
