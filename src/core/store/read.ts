// Reading the store's records through the Storage interface (or a transaction, which also sees
// its own writes): the index, the revocation journal, the partner registry and the CA
// certificates, whatever holds them. Errors name the file in a directory store, as before.
import { DirectoryStorage } from "./directory.js";
import { type IndexSnapshot, parseIndex } from "./index-file.js";
import { type JournalName, journalFile, storeKeys } from "./keys.js";
import { emptyPartnerMap, type PartnerRegistry, parsePartners } from "./partners.js";
import type { Storage } from "./storage.js";

/** What reading needs: a storage, or a transaction over one. */
export interface StoreReader {
  get(key: string): Promise<Uint8Array | undefined>;
  readJournal(name: JournalName): Promise<string>;
}

/**
 * The storage of a PKI directory, for tools outside the CLI and the core (the benchmarks) that
 * read a store by its path. Core modules and commands get a session (openPki) instead.
 */
export const directoryReader = (dir: string): Storage => new DirectoryStorage(dir);

/** How messages name a key or journal: its path in a directory store, "<location> <key>" otherwise. */
export function nameOf(storage: Storage, key: string): string {
  return storage instanceof DirectoryStorage ? storage.pathOf(key) : `${storage.location} ${key}`;
}

export async function readIndexFrom(r: StoreReader, storage: Storage): Promise<IndexSnapshot> {
  const text = await r.readJournal("index");
  return parseIndex(text, nameOf(storage, journalFile.index));
}

export async function readPartnersFrom(r: StoreReader, storage: Storage): Promise<PartnerRegistry> {
  const bytes = await r.get(storeKeys.partners);
  if (!bytes) return { partners: emptyPartnerMap() };
  return parsePartners(new TextDecoder().decode(bytes), nameOf(storage, storeKeys.partners));
}
