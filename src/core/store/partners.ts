import { readFile } from "node:fs/promises";
import { sortByName } from "../collate.js";
import { fsError } from "../errors.js";
import { checkPartnerRecord, corruptError, isObject } from "./records.js";

export interface PartnerRecord {
  id: string;
  name?: string;
  contact?: string;
  createdAt: string;
  updatedAt: string;
  /** Set by `partner offboard`: every certificate was revoked at this time. */
  offboardedAt?: string;
  /**
   * Identities the partner gave up (`partner identity release`): the certificates named in
   * `serials` (every one of the partner's that carried it then) no longer reserve them. Releases
   * recorded without `serials` cover the certificates issued up to `releasedAt`.
   */
  releasedIdentities?: Array<{ identity: string; releasedAt: string; serials?: string[] }>;
  /** The partner's OpenPGP encryption key, as checked when it was added. */
  pgp?: {
    fingerprint: string;
    algorithm: string;
    encryptionAlgorithm?: string;
    created: string;
    expires?: string;
    userIds: string[];
    /** Relative to the PKI directory. */
    keyFile: string;
  };
}

export interface PartnerRegistry {
  /**
   * Keyed by partner id, on a null-prototype object: a plain `{}` answers `partners.constructor`
   * with Object's constructor, so the id "constructor" looked registered and was never written
   * (#13). Make new registries with emptyPartnerMap().
   */
  partners: Record<string, PartnerRecord>;
}

export const emptyPartnerMap = (): Record<string, PartnerRecord> => Object.create(null) as Record<string, PartnerRecord>;

export async function readPartners(path: string): Promise<PartnerRegistry> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { partners: emptyPartnerMap() };
    throw fsError(err, path, "read");
  }
  return parsePartners(text, path);
}

/** partners.json's text, checked; `path` names it in errors. */
export function parsePartners(text: string, path: string): PartnerRegistry {
  let reg: PartnerRegistry;
  try {
    reg = JSON.parse(text) as PartnerRegistry;
  } catch {
    throw corruptError(path, undefined, "not valid JSON");
  }
  if (!isObject(reg) || !isObject(reg.partners)) throw corruptError(path, undefined, 'no "partners" object');
  for (const [id, r] of Object.entries(reg.partners)) {
    // The id is the key it is filed under: a record under another name is damage, not a partner.
    const bad = !isObject(r) ? "not an object" : (checkPartnerRecord(r) ?? (r.id !== id ? `"id" is ${JSON.stringify(r.id)}, not its key` : undefined));
    if (bad) throw corruptError(path, undefined, `partner ${JSON.stringify(id)}: ${bad}`);
  }
  // JSON.parse makes "__proto__" an own key; copying by entries keeps it one.
  return { ...reg, partners: Object.assign(emptyPartnerMap(), Object.fromEntries(Object.entries(reg.partners))) };
}

export function serializePartners(reg: PartnerRegistry): string {
  const sorted = Object.fromEntries(sortByName(Object.entries(reg.partners), ([id]) => id));
  return `${JSON.stringify({ partners: sorted }, null, 2)}\n`;
}
