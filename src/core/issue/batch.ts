// Batch issuance: every request of a JSON Lines file in one process, under one lock, with one
// index append. Each line is validated and prepared before anything is signed; a bad line fails
// alone (with its line number) unless all-or-nothing is asked for.
import { dirname, join, resolve } from "node:path";
import { type CaCerts, type CaKey, loadCaCerts, loadIssuingKey } from "../ca/material.js";
import { conflictError, fsError, inputError, MtlsError } from "../errors.js";
import { IdentityOwners, requestIdentities } from "../identity/registry.js";
import { INPUT_LIMITS, readFileBounded } from "../input.js";
import { parseKeyType } from "../keys.js";
import { encodePem } from "../pem.js";
import type { CertInfo } from "../pki.js";
import { parseSan } from "../sans.js";
import type { Pki, Tx } from "../session.js";
import type { StoreConfig } from "../store/config.js";
import { exists, parallel } from "../store/fs.js";
import { type CertRecord, type IndexSnapshot, stageIndex } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import { type PartnerRegistry, serializePartners } from "../store/partners.js";
import { readIndexFrom, readPartnersFrom } from "../store/read.js";
import { iso } from "../time.js";
import { checkOutputFile, createExclusive, type DurableStepHook, ensureDurableDir, fsyncPath, removeFile } from "../user-files.js";
import { parseBatchLine } from "./batch-line.js";
import { chainPemFor, type PreparedRequest, prepareRequest, recordFor, signRequest, uniqueSerial } from "./issue.js";

export interface BatchLineResult {
  line: number;
  ok: boolean;
  partnerId?: string;
  serial?: string;
  notAfter?: string;
  keyPath?: string;
  error?: { code: string; message: string };
}

export interface BatchParams {
  /** The JSON Lines text. */
  text: string;
  /** Relative CSR and key paths resolve against this directory (the batch file's). */
  baseDir: string;
  /** Generated keys without an outKey go here as <partner>-<serial prefix>.key. */
  keyDir?: string;
  /**
   * Instead of keyDir: generated keys without an outKey go into this one new file (0600), one
   * JSON object per line with the partner, serial, key, certificate and chain (KeysOutLine),
   * written and flushed in the commit, before the index append names their certificates.
   */
  keysOut?: string;
  allOrNothing: boolean;
  /** Signatures in flight at once. */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BatchResult {
  issued: number;
  failed: number;
  results: BatchLineResult[];
  /** Where the time went: checking and key generation, signing, writing (files + index). */
  timings: { prepareMs: number; signMs: number; commitMs: number };
}

/** One line of the --keys-out file. */
export interface KeysOutLine {
  partner: string;
  serial: string;
  /** PKCS#8, PEM, unencrypted: the file is 0600 and the user's to protect. */
  key: string;
  certificate: string;
  /** The certificate followed by the intermediate, as a client presents them. */
  chain: string;
}

const lineError = (err: unknown) => ({ code: err instanceof MtlsError ? err.code : "ERR_INTERNAL", message: err instanceof Error ? err.message : String(err) });

/** A checked line; a generated key is on disk already, under the serial its certificate will get. */
type PreparedLine = { result: BatchLineResult; req: PreparedRequest; serial?: string; keyPath?: string; written?: Promise<unknown> };

/**
 * Generated keys are written (0600, O_EXCL, flushed, then their directories) as soon as they are
 * made, while the CA key's derivation and then the signing run, not in the commit: the file
 * creation and flushes of 1,000 keys overlap that work instead of following it (#21). Each
 * carries the serial picked for its certificate (checked against the index under the lock);
 * its certificate is staged only once its file is written, the directories are flushed before
 * the index append, and every key whose certificate is not issued is removed again, so a failed
 * batch leaves none behind.
 */
const KEY_WRITES_IN_FLIGHT = 8;

class KeyFiles {
  readonly serials = new Set<string>();
  /** Set once the store committed: from then on the signed lines' keys belong to their certificates. */
  committed = false;
  private readonly written: string[] = [];
  private readonly dirs = new Map<string, Promise<void>>();
  /** The directories a key was written into. */
  private readonly toFlush = new Set<string>();
  /**
   * Writes in flight at once: a few keep the thread pool busy, more would queue ahead of the CA
   * key's read and derivation, which share the pool and are the longer path.
   */
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  private turn(): Promise<void> {
    if (this.active < KEY_WRITES_IN_FLIGHT) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private done(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  constructor(
    private readonly keyDir: string | undefined,
    private readonly step: DurableStepHook | undefined,
  ) {}

  private readonly pending: Array<Promise<unknown>> = [];

  /** Starts writing a line's key; `written` resolves to the error that kept it from being written, if any. */
  start(item: { req: PreparedRequest; keyPath?: string }): { serial: string; keyPath: string; written: Promise<unknown> } {
    const serial = uniqueSerial(this.serials);
    const keyPath = item.keyPath ?? join(this.keyDir as string, `${item.req.partnerId}-${serial.slice(0, 8)}.key`);
    const dir = dirname(keyPath);
    if (!this.dirs.has(dir)) this.dirs.set(dir, item.keyPath ? Promise.resolve() : ensureDurableDir(dir, 0o700));
    const written = (async () => {
      await this.dirs.get(dir);
      await this.turn();
      try {
        await createExclusive(keyPath, encodePem("PRIVATE KEY", item.req.privateKey as Uint8Array), 0o600, this.step);
      } finally {
        this.done();
      }
      this.written.push(keyPath);
      this.toFlush.add(dir);
    })().then(
      () => undefined,
      (err: unknown) => err,
    );
    this.pending.push(written);
    return { serial, keyPath, written };
  }

  /** Their names as durable as their content, before an index append can refer to them. */
  async flush(): Promise<void> {
    for (const dir of this.toFlush) await fsyncPath(dir).catch((err) => Promise.reject(fsError(err, dir, "flush")));
  }

  /** Removes the keys written (those of `only`, when given), once no write is in flight. */
  async remove(only?: Iterable<string>): Promise<void> {
    await Promise.all(this.pending);
    for (const path of only ? [...only] : this.written) await removeFile(path);
  }
}

/** One line of the batch file checked and prepared (CSR read and checked, or key generated); throws what is wrong with it. */
async function prepareLine(
  n: number,
  raw: string,
  result: BatchLineResult,
  p: BatchParams,
  config: StoreConfig,
  issuer: CertInfo,
  now: Date,
): Promise<{ req: PreparedRequest; keyPath?: string }> {
  const l = parseBatchLine(n, raw);
  result.partnerId = l.partner;
  const generate = l.generate === true || l.csr === "generate";
  if (!generate && !l.csr) throw inputError("ERR_BATCH_LINE", `line ${n} has neither "csr" nor "generate"`);
  if (generate && !l.outKey && !p.keyDir && !p.keysOut)
    throw inputError("ERR_KEY_DESTINATION", `line ${n} generates a key but names no "outKey" and neither --key-dir nor --keys-out was given`);
  if (generate && l.outKey && (await exists(resolve(p.baseDir, l.outKey)))) throw conflictError("ERR_EXISTS", `line ${n}: ${l.outKey} already exists`);
  const csrPath = generate ? undefined : resolve(p.baseDir, l.csr as string);
  const req = await prepareRequest(
    {
      partnerId: l.partner,
      ...(csrPath
        ? {
            csr: await readFileBounded(csrPath, INPUT_LIMITS.csr, `line ${n} CSR ${l.csr}`).catch((err) =>
              Promise.reject(err?.code === "ERR_INPUT_TOO_LARGE" ? err : inputError("ERR_BATCH_LINE", `line ${n}: cannot read CSR ${l.csr}`)),
            ),
            csrSource: `line ${n} CSR ${l.csr}`,
          }
        : {}),
      ...(generate ? { generateKeyType: parseKeyType(l.keyType ?? "ec-p256") } : {}),
      ...(l.cn !== undefined ? { cn: l.cn } : {}),
      ...(l.sans ? { sans: l.sans.map(parseSan) } : {}),
      ...(l.days !== undefined ? { days: l.days } : {}),
    },
    config,
    issuer,
    now,
  );
  return { req, ...(generate && l.outKey ? { keyPath: resolve(p.baseDir, l.outKey) } : {}) };
}

/**
 * Ownership in file order: a line may not take an identity another partner owns, in the store or
 * on an earlier line of this batch (#12). Returns the lines that may be signed; the others get their error.
 */
function claimIdentities(prepared: PreparedLine[], records: CertRecord[], registry: PartnerRegistry, allOrNothing: boolean): PreparedLine[] {
  const owners = IdentityOwners.build(records, registry);
  return prepared.filter((item) => {
    try {
      owners.claim(item.req.partnerId, requestIdentities(item.req));
      return true;
    } catch (err) {
      if (allOrNothing && err instanceof MtlsError)
        throw new MtlsError(err.code, `line ${item.result.line}: ${err.message}; nothing was issued (--all-or-nothing)`, err.exit, err.hint);
      item.result.error = lineError(err);
      return false;
    }
  });
}

/**
 * Signs every prepared line that may take its identities, and stages certificates, the partner
 * registry, the audit records and one index append. Returns when staging ended.
 */
async function signAndStage(
  pki: Pki,
  tx: Tx,
  p: BatchParams,
  prepared: PreparedLine[],
  k: { config: StoreConfig; ca: CaCerts; caKey: CaKey; now: Date; keys: KeyFiles },
): Promise<number | undefined> {
  const { config, ca, caKey, now } = k;
  const snap = await readIndexFrom(tx, pki.storage);
  const registry = await readPartnersFrom(tx, pki.storage);
  const taken = new Set(snap.records.map((r) => r.serial));
  const toSign = claimIdentities(prepared, snap.records, registry, Boolean(p.allOrNothing));
  const records: CertRecord[] = [];
  const keysOut = new Map<PreparedLine, KeysOutLine>();
  let signed = 0;
  for (const item of toSign) {
    if (item.serial === undefined) continue;
    // 128 random bits: a clash with the index is astronomically rare, but never issued twice.
    if (taken.has(item.serial))
      throw conflictError("ERR_SERIAL_TAKEN", `serial ${item.serial} is in the index already; nothing was issued`, "run the batch again");
    taken.add(item.serial);
  }
  await parallel(toSign, p.concurrency ?? 8, async (item) => {
    const serial = item.serial ?? uniqueSerial(taken);
    const cert = await signRequest(item.req, ca, caKey, serial, now, config);
    // A certificate is staged only with its key on disk: the line fails alone when it is not.
    const failed = await item.written;
    if (failed !== undefined) {
      if (p.allOrNothing && failed instanceof MtlsError)
        throw new MtlsError(failed.code, `line ${item.result.line}: ${failed.message}; nothing was issued (--all-or-nothing)`, failed.exit, failed.hint);
      item.result.error = lineError(failed);
      return;
    }
    const record = recordFor(item.req, cert, ca, now);
    records.push(record);
    const chain = chainPemFor(cert, ca);
    tx.put(storeKeys.certFile(serial), cert.pem, { exclusive: true }).put(storeKeys.chainFile(serial), chain, { exclusive: true });
    const bundled = p.keysOut !== undefined && item.req.privateKey !== undefined && !item.written;
    if (bundled)
      keysOut.set(item, {
        partner: item.req.partnerId,
        serial,
        key: encodePem("PRIVATE KEY", item.req.privateKey as Uint8Array),
        certificate: cert.pem,
        chain,
      });
    const keyPath = item.written ? item.keyPath : bundled ? p.keysOut : undefined;
    Object.assign(item.result, { ok: true, serial, notAfter: record.notAfter, ...(keyPath ? { keyPath } : {}) });
    if (!registry.partners[item.req.partnerId]) registry.partners[item.req.partnerId] = { id: item.req.partnerId, createdAt: iso(now), updatedAt: iso(now) };
    p.onProgress?.(++signed, toSign.length);
  });
  if (records.length === 0) return undefined;
  await k.keys.flush();
  // In batch-file order, created in the commit before its index append.
  const bundle = toSign.flatMap((item) => (keysOut.has(item) ? [`${JSON.stringify(keysOut.get(item))}\n`] : []));
  // In the commit after the pack (Tx.writeFile): a crash must not leave these certificates in a durable file no pack names.
  if (bundle.length) tx.writeFile(p.keysOut as string, bundle.join(""), { mode: 0o600, exclusive: true });
  return stageRecords(tx, snap, registry, records, toSign);
}

/** The partner registry, the audit records and the index append of the signed lines, in batch-file order. */
function stageRecords(tx: Tx, snap: IndexSnapshot, registry: PartnerRegistry, records: CertRecord[], toSign: PreparedLine[]): number {
  const order = new Map(toSign.map((x, i) => [x.result.serial, i]));
  records.sort((a, b) => (order.get(a.serial) ?? 0) - (order.get(b.serial) ?? 0));
  tx.put(storeKeys.partners, serializePartners(registry));
  tx.audit(
    ...records.map((r) => ({
      action: "cert.issue" as const,
      outcome: "ok",
      serial: r.serial,
      partner: r.partnerId,
      details: { source: r.source, notAfter: r.notAfter, batch: true },
    })),
  );
  stageIndex(tx, snap, records);
  const staged = Date.now();
  tx.onRollback(async (err) => {
    for (const item of toSign)
      if (item.result.ok) Object.assign(item.result, { ok: false, error: lineError(err), serial: undefined, notAfter: undefined, keyPath: undefined });
  });
  return staged;
}

export async function issueBatch(pki: Pki, p: BatchParams): Promise<BatchResult> {
  const config = await pki.config();
  const now = pki.now;
  const ca = await loadCaCerts(pki.storage, config);
  const caKeyPending = loadIssuingKey(pki.storage, ca, pki.passphrase);
  caKeyPending.catch(() => {});

  if (p.keysOut !== undefined && (await checkOutputFile(p.keysOut)))
    throw conflictError("ERR_EXISTS", `${p.keysOut} already exists`, "name a new file for --keys-out: mtls never overwrites keys");
  const t0 = Date.now();
  const keys = new KeyFiles(p.keyDir, pki.durableStep);
  try {
    return await prepareSignCommit(pki, p, { config, ca, caKeyPending, now, keys, t0 });
  } catch (err) {
    if (!keys.committed) await keys.remove();
    throw err;
  }
}

async function prepareSignCommit(
  pki: Pki,
  p: BatchParams,
  k: { config: StoreConfig; ca: CaCerts; caKeyPending: Promise<CaKey>; now: Date; keys: KeyFiles; t0: number },
): Promise<BatchResult> {
  const { config, ca, caKeyPending, now, keys, t0 } = k;
  let t1 = 0;
  let t2 = 0;
  // 1. Parse and prepare every line (CSR checks, policy, key generation) before signing anything.
  const lines = p.text.split("\n");
  const results: BatchLineResult[] = [];
  const prepared: PreparedLine[] = [];
  // Keys are written while the CA key is derived only when nobody is asked for its passphrase:
  // a prompt may wait for ever, and a process killed meanwhile (a closed terminal, a cancelled
  // job) would leave the keys of certificates never issued.
  const early = pki.passphrase?.unattended === true;
  // A generated key gets a file of its own unless it goes into the --keys-out file.
  const ownFile = (l: { req: PreparedRequest; keyPath?: string }) => l.req.privateKey !== undefined && (l.keyPath !== undefined || p.keysOut === undefined);
  const jobs: Array<{ n: number; raw: string }> = [];
  lines.forEach((raw, i) => {
    if (raw.trim() !== "" && !raw.trim().startsWith("#")) jobs.push({ n: i + 1, raw });
  });
  await parallel(jobs, p.concurrency ?? 8, async ({ n, raw }) => {
    const result: BatchLineResult = { line: n, ok: false };
    results.push(result);
    try {
      const line = await prepareLine(n, raw, result, p, config, ca.issuer, now);
      prepared.push({ result, ...line, ...(early && ownFile(line) ? keys.start(line) : {}) });
    } catch (err) {
      result.error = lineError(err);
    }
  }).catch(() => {});
  results.sort((a, b) => a.line - b.line);
  prepared.sort((a, b) => a.result.line - b.result.line);
  const failedEarly = results.filter((r) => r.error);
  if (p.allOrNothing && failedEarly.length) {
    const first = failedEarly[0] as BatchLineResult;
    throw inputError(
      "ERR_BATCH",
      `${failedEarly.length} of ${results.length} lines are invalid (first: ${first.error?.message}); nothing was issued (--all-or-nothing)`,
    );
  }
  const caKey = await caKeyPending;
  if (!early) for (const item of prepared) if (ownFile(item)) Object.assign(item, keys.start(item));
  t1 = Date.now();

  // 2. Sign and commit everything under one lock, with one index append.
  const signAndCommit = (tx: Tx) => {
    tx.afterCommit(async () => {
      keys.committed = true;
    });
    return signAndStage(pki, tx, p, prepared, { config, ca, caKey, now, keys });
  };
  t2 = (await pki.transact("cert.issue", signAndCommit, { purpose: "partner issue --batch" })) ?? 0;
  // Keys of lines that were prepared but not signed (an identity another partner owns).
  await keys.remove(prepared.filter((x) => x.keyPath && !x.result.ok).map((x) => x.keyPath as string));
  const timings = { prepareMs: t1 - t0, signMs: t2 - t1, commitMs: Date.now() - t2 };
  return { issued: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length, results, timings };
}
