// The index as `list` and `status` read it, through any storage: the live certificates with the
// few fields those show, and each whole record only when it is printed. A storage that keeps a
// faster way to answer (the directory store's summary cache) says so with indexView(); any other
// is answered from its index journal.
import { type IndexRow, type IndexView, recordOfLine, rowsOfJournal } from "./index-summary.js";
import { journalFile } from "./keys.js";
import type { Storage } from "./storage.js";

/** The index's rows and a reader of their records. Close it when done. */
export async function openIndexRows(storage: Storage): Promise<IndexView> {
  if (storage.indexView) return storage.indexView();
  const name = storage.where(journalFile.index);
  const buf = Buffer.from(await storage.readJournal("index"), "utf8");
  const rows = rowsOfJournal(buf, name);
  return {
    rows,
    record(row) {
      if (row.at === undefined || row.len === undefined) return recordOfLine("", row, name);
      return recordOfLine(buf.toString("utf8", row.at, row.at + row.len), row, name);
    },
    close() {},
  };
}

/** The index's rows alone (see openIndexRows). */
export async function readIndexRowsOf(storage: Storage): Promise<IndexRow[]> {
  const view = await openIndexRows(storage);
  view.close();
  return view.rows;
}
