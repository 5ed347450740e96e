// The CAs of a store. A store made by `ca init` holds one hierarchy ("root" and, usually,
// "intermediate") and no registry in config.json: it is derived here, so such a store reads
// exactly as before. A rollover writes the registry (config.cas) and adds CAs with numbered
// ids: "intermediate-2", "root-2" … Their files are ca/<id>.pem, private/<id>.key and
// crl/<id>.crl, so the first hierarchy keeps the names it always had.
import type { CaRecord, CaRegistry, StoreConfig } from "../store/config.js";

/** A CA's id: "root", "intermediate", "root-2", "intermediate-3" … */
export type CaId = string;

export const CA_ID = /^(root|intermediate)(-[1-9][0-9]{0,3})?$/;

export const isCaId = (v: unknown): v is CaId => typeof v === "string" && CA_ID.test(v);

/** The registry of a store; for a store without one, the hierarchy `ca init` made. */
export function registryOf(config: StoreConfig): CaRegistry {
  if (config.cas) return config.cas;
  const list: CaRecord[] = [{ id: "root", kind: "root", createdAt: config.createdAt }];
  if (config.ca.intermediate) list.push({ id: "intermediate", kind: "intermediate", parent: "root", createdAt: config.createdAt });
  return { list, issuing: config.ca.intermediate ? "intermediate" : "root", trusted: ["root"] };
}

/**
 * The CA that signs new partner, server and probe certificates. Every issuing path asks this
 * one function, so a rollover switches all of them at once.
 */
export const issuingCaId = (config: StoreConfig): CaId => registryOf(config).issuing;

export function recordOf(reg: CaRegistry, id: CaId): CaRecord {
  const r = reg.list.find((c) => c.id === id);
  if (!r) throw new Error(`CA ${id} is not in the registry`);
  return r;
}

/** The root a CA belongs to (itself for a root). */
export const rootIdOf = (reg: CaRegistry, id: CaId): CaId => {
  const r = recordOf(reg, id);
  return r.kind === "root" ? r.id : rootIdOf(reg, r.parent as CaId);
};

/** CAs still in service: their CRLs are published. A retired CA's hierarchy is no longer trusted. */
export const liveCas = (reg: CaRegistry): CaRecord[] => reg.list.filter((c) => !c.retiredAt);

/**
 * The next free id of a kind: "intermediate" → "intermediate-2", then "-3" … `taken` holds ids
 * whose files exist without a registry entry (a step interrupted before its commit): skipped,
 * never overwritten.
 */
export function nextCaId(reg: CaRegistry, kind: CaRecord["kind"], taken: ReadonlySet<string> = new Set()): CaId {
  let n = 2;
  while (reg.list.some((c) => c.id === `${kind}-${n}`) || taken.has(`${kind}-${n}`)) n++;
  return `${kind}-${n}`;
}

/**
 * Order for CRLs and listings: the issuing CA first (its CRL Number is the one `crl.publish`
 * audits), then the other intermediates, newest first, then the roots, newest first.
 */
export function publishOrder(reg: CaRegistry): CaRecord[] {
  const live = liveCas(reg);
  const rank = (c: CaRecord) => (c.id === reg.issuing ? 0 : c.kind === "intermediate" ? 1 : 2);
  return live
    .map((c, i) => ({ c, i }))
    .sort((a, b) => rank(a.c) - rank(b.c) || b.i - a.i)
    .map((x) => x.c);
}

/** The legacy two-id shape, for stores without a registry: true when config.cas may stay absent. */
export const hasRegistry = (config: StoreConfig): boolean => config.cas !== undefined;
