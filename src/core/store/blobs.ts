// Reading blobs and journals through a StoreReader (the storage, or a transaction that also
// sees its own writes): what core code uses instead of paths. Messages name a blob as the
// storage does (its file in a directory store), so they read as they did when core opened files.
import { envError } from "../errors.js";
import { parseConfig, type StoreConfig } from "./config.js";
import { type IndexSnapshot, parseIndex } from "./index-file.js";
import { journalFile, storeKeys } from "./keys.js";
import { emptyPartnerMap, type PartnerRegistry, parsePartners } from "./partners.js";
import { parseRevocations, type RevocationsSnapshot } from "./revocations.js";
import type { StoreReader } from "./storage.js";

const decoder = new TextDecoder();

/** What reading a journal needs. */
export type JournalReader = Pick<StoreReader, "readJournal" | "where">;

/** Bytes as UTF-8 text. */
export const utf8 = (bytes: Uint8Array): string => decoder.decode(bytes);

/** A blob that must be there: ERR_NOT_FOUND (exit 5) naming it when it is not. */
export async function mustGet(r: StoreReader, key: string, opts: { secret?: boolean } = {}): Promise<Uint8Array> {
  const bytes = opts.secret ? await r.getSecret(key) : await r.get(key);
  if (!bytes) throw envError("ERR_NOT_FOUND", `cannot read ${r.where(key)}: no such file or directory`);
  return bytes;
}

/** A blob's text, or undefined when there is none. */
export async function getText(r: StoreReader, key: string): Promise<string | undefined> {
  const bytes = await r.get(key);
  return bytes ? utf8(bytes) : undefined;
}

/** The certificate index as the reader sees it. */
export async function readIndexOf(r: JournalReader): Promise<IndexSnapshot> {
  const text = await r.readJournal("index");
  return parseIndex(text, r.where(journalFile.index));
}

/** The revocation journal as the reader sees it. */
export async function readRevocationsOf(r: JournalReader): Promise<RevocationsSnapshot> {
  const text = await r.readJournal("revocations");
  return parseRevocations(text, Buffer.byteLength(text), r.where(journalFile.revocations));
}

/** partners.json as the reader sees it (an empty registry when there is none yet). */
export async function readPartnersOf(r: StoreReader): Promise<PartnerRegistry> {
  const bytes = await r.get(storeKeys.partners);
  if (!bytes) return { partners: emptyPartnerMap() };
  return parsePartners(utf8(bytes), r.where(storeKeys.partners));
}

/** config.json as the store holds it now (a session reads it once; a long-running server needs it afresh). */
export async function readConfigOf(r: StoreReader): Promise<StoreConfig> {
  return parseConfig(utf8(await mustGet(r, storeKeys.config)), r.where(storeKeys.config));
}
