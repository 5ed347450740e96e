import { readFile } from "node:fs/promises";
import { envError, fsError } from "../errors.js";

export interface PartnerRecord {
  id: string;
  name?: string;
  contact?: string;
  createdAt: string;
  updatedAt: string;
  /** Set by `partner offboard`: every certificate was revoked at this time. */
  offboardedAt?: string;
  /** Identities the partner gave up (`partner identity release`): its earlier certificates no longer reserve them. */
  releasedIdentities?: Array<{ identity: string; releasedAt: string }>;
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
  partners: Record<string, PartnerRecord>;
}

export async function readPartners(path: string): Promise<PartnerRegistry> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { partners: {} };
    throw fsError(err, path, "read");
  }
  try {
    const reg = JSON.parse(text) as PartnerRegistry;
    if (!reg || typeof reg.partners !== "object") throw new Error("no partners map");
    return reg;
  } catch {
    throw envError("ERR_STORE_CORRUPT", `${path} is not a valid partner registry`, "restore it from your backup");
  }
}

export function serializePartners(reg: PartnerRegistry): string {
  const sorted = Object.fromEntries(Object.entries(reg.partners).sort(([a], [b]) => a.localeCompare(b)));
  return `${JSON.stringify({ partners: sorted }, null, 2)}\n`;
}
