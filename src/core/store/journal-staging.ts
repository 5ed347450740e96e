import type { JournalName } from "./keys.js";

/** A journal write a storage transaction holds until commit. */
export type StagedJournal = { kind: "append" | "rewrite"; journal: JournalName; text: string };

/**
 * Stages an append or a rewrite of a journal, in order. Every storage refuses the audit log here:
 * its records go through audit(), which chains them onto the last one, and it is never rewritten.
 */
export function stageJournal(staged: StagedJournal[], kind: StagedJournal["kind"], journal: JournalName, text: string): void {
  if (journal === "audit") throw new Error(kind === "append" ? "audit records are staged with audit(), which chains them" : "the audit log is never rewritten");
  staged.push({ kind, journal, text });
}
