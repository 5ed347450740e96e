import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { type AuditEntry, stageAudit } from "../audit/audit.js";
import { type CaCerts, type CaKeys, loadCaCerts, loadCaKeys, type PassphraseSource } from "../ca/material.js";
import { fsError } from "../errors.js";
import { encodePem } from "../pem.js";
import type { StoreConfig } from "../store/config.js";
import { ensureDir, StoreWriter, writeFileAtomic } from "../store/fs.js";
import type { Layout } from "../store/layout.js";
import { withLock } from "../store/lock.js";
import { type Revocation, readRevocations } from "../store/revocations.js";
import { openStore } from "../store/store.js";
import { DAY, iso } from "../time.js";
import { buildCrl, type CrlEntry } from "./encode.js";

export type CaRole = "root" | "intermediate";

/** Last CRL Number used per CA, so numbers only ever grow (RFC 5280 §5.2.3). */
export interface CrlState {
  root?: { number: number };
  intermediate?: { number: number };
}

export interface PublishedCrl {
  issuer: CaRole;
  issuerSubject: string;
  number: number;
  thisUpdate: string;
  nextUpdate: string;
  entries: number;
  pemPath: string;
  derPath: string;
}

export interface PublishResult {
  crls: PublishedCrl[];
  bundlePath: string;
  copies: string[];
}

/** A few minutes of back-dating so a gateway whose clock runs slow does not see a future CRL. */
const THIS_UPDATE_BACKDATE_MS = 5 * 60 * 1000;

export async function readCrlState(layout: Layout): Promise<CrlState> {
  try {
    return JSON.parse(await readFile(layout.crlState, "utf8")) as CrlState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw fsError(err, layout.crlState, "read");
  }
}

export interface RenderCrlsParams {
  layout: Layout;
  config: StoreConfig;
  ca: CaCerts;
  keys: CaKeys;
  revocations: readonly Revocation[];
  state: CrlState;
  now: Date;
  validityDays?: number;
}

/**
 * Signs fresh CRLs for every CA and stages them (PEM, DER, the combined bundle, the new state)
 * into `tx`. Each CA's CRL lists the journal's revocations it issued: for the issuing CA the
 * partner certificates and the canary; for the root above an intermediate, revoked intermediates.
 */
export interface StagedCrls {
  crls: PublishedCrl[];
  /** File name (inside the CRL directory) and content of everything published. */
  files: Array<{ name: string; data: string | Buffer }>;
}

export async function stageCrls(p: RenderCrlsParams, tx: StoreWriter): Promise<StagedCrls> {
  const thisUpdate = new Date(p.now.getTime() - THIS_UPDATE_BACKDATE_MS);
  const nextUpdate = new Date(p.now.getTime() + (p.validityDays ?? p.config.crl.validityDays) * DAY);
  const entriesOf = (role: CaRole): CrlEntry[] =>
    p.revocations.filter((r) => r.issuer === role).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt), reason: r.reason }));

  const roles: CaRole[] = p.ca.intermediate ? ["intermediate", "root"] : ["root"];
  const state: CrlState = { ...p.state };
  const crls: PublishedCrl[] = [];
  const pems: string[] = [];
  const files: StagedCrls["files"] = [];
  for (const role of roles) {
    const cert = role === "root" ? p.ca.root : (p.ca.intermediate as NonNullable<CaCerts["intermediate"]>);
    const key = role === "root" ? p.keys.root : (p.keys.intermediate as NonNullable<CaKeys["intermediate"]>);
    const number = (state[role]?.number ?? 0) + 1;
    state[role] = { number };
    const entries = entriesOf(role);
    const der = await buildCrl({ issuer: cert, signingKey: key.key, keyType: key.keyType, number, thisUpdate, nextUpdate, entries });
    const pem = encodePem("X509 CRL", der);
    pems.push(pem);
    tx.put(p.layout.crlDer(role), der).put(p.layout.crlPem(role), pem);
    files.push({ name: `${role}.crl`, data: der }, { name: `${role}.crl.pem`, data: pem });
    crls.push({
      issuer: role,
      issuerSubject: cert.subject,
      number,
      thisUpdate: iso(thisUpdate),
      nextUpdate: iso(nextUpdate),
      entries: entries.length,
      pemPath: p.layout.crlPem(role),
      derPath: p.layout.crlDer(role),
    });
  }
  const bundle = pems.join("");
  files.push({ name: "crl-bundle.pem", data: bundle });
  tx.put(p.layout.crlBundle, bundle).put(p.layout.crlState, `${JSON.stringify(state, null, 2)}\n`);
  return { crls, files };
}

/** The audit record of a publication: the issuing CA's new CRL Number and its entry count. */
export function publishAudit(staged: StagedCrls): AuditEntry {
  return { action: "crl.publish", outcome: "ok", details: { number: staged.crls[0]?.number ?? 0, entries: staged.crls[0]?.entries ?? 0 } };
}

/** Copies what was published to the configured publish directory and to --out, each atomically. */
export async function copyCrls(config: StoreConfig, staged: StagedCrls, out?: string): Promise<string[]> {
  const copies: string[] = [];
  if (config.crl.publishDir) {
    await ensureDir(config.crl.publishDir);
    for (const f of staged.files) {
      const dest = join(config.crl.publishDir, f.name);
      await writeFileAtomic(dest, f.data);
      copies.push(dest);
    }
  }
  const bundle = staged.files.find((f) => f.name === "crl-bundle.pem");
  if (out && bundle) {
    await writeFileAtomic(out, bundle.data);
    copies.push(out);
  }
  return copies;
}

export interface PublishCrlParams {
  pkiDir: string;
  now: Date;
  passphrase?: PassphraseSource;
  /** Overrides the configured CRL validity, in days. */
  validityDays?: number;
  /** Also write the combined PEM here. */
  out?: string;
  lockTimeoutMs?: number;
}

/** Signs and publishes fresh CRLs for every CA in the chain. */
export async function publishCrls(p: PublishCrlParams): Promise<PublishResult> {
  const { layout, config } = await openStore(p.pkiDir);
  const ca = await loadCaCerts(layout, config);
  // The key derivation runs in the thread pool while we wait for the lock and read the journal.
  const keysPending = loadCaKeys(layout, ca, p.passphrase);
  keysPending.catch(() => {});
  const staged = await withLock(
    layout.lock,
    async () => {
      await ensureDir(layout.crlDir);
      const [journal, state] = await Promise.all([readRevocations(layout.revocations), readCrlState(layout)]);
      const tx = new StoreWriter();
      const validity = p.validityDays ? { validityDays: p.validityDays } : {};
      const staged = await stageCrls({ layout, config, ca, keys: await keysPending, revocations: journal.entries, state, now: p.now, ...validity }, tx);
      await stageAudit(tx, layout, [publishAudit(staged)], p.now);
      await tx.commit();
      return staged;
    },
    { purpose: "crl publish", ...(p.lockTimeoutMs ? { timeoutMs: p.lockTimeoutMs } : {}) },
  );
  const copies = await copyCrls(config, staged, p.out);
  return { crls: staged.crls, bundlePath: layout.crlBundle, copies };
}
