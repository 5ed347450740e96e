// The index as `list` and `status` read it, through any storage (index-summary.ts). A storage that
// keeps the summary as a file (the directory store) says so with indexView(); any other is
// answered from its index journal, the summary built in memory.
import { type IndexPart, type IndexView, viewOfJournal } from "./index-summary.js";
import { journalFile } from "./keys.js";
import type { Storage } from "./storage.js";

/** The index's view, of which the reader will use `parts` besides the columns. Close it when done. */
export async function openIndexRows(storage: Storage, parts: readonly IndexPart[]): Promise<IndexView> {
  if (storage.indexView) return storage.indexView(parts);
  return viewOfJournal(Buffer.from(await storage.readJournal("index"), "utf8"), storage.where(journalFile.index));
}
