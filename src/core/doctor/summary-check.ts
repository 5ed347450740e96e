// The index summary (store/index-summary.ts) is a cache of index.jsonl for list and status: one
// that claims to match the journal but disagrees with it would make them show wrong states.
import { relative } from "node:path";
import { checkSummary, summaryPath } from "../store/index-summary.js";
import type { DoctorCheckDef } from "./types.js";

export const summaryCheck: DoctorCheckDef = {
  name: "index-summary",
  async find(ctx) {
    if (!ctx.index) return [];
    const why = await checkSummary(ctx.layout.index, ctx.index.records);
    if (!why) return [];
    const path = summaryPath(ctx.layout.index);
    return [
      {
        check: "index-summary",
        message: `${relative(ctx.layout.root, path)} ${why}`,
        hint: "--fix deletes it; list and status rebuild it from index.jsonl",
        fixable: true,
        path,
      },
    ];
  },
  fix(ctx, tx) {
    for (const p of ctx.problems) if (p.path) tx.remove(p.path);
  },
};
