// Doctor check on the records themselves: an index, partner registry, revocation journal or CRL
// state that is not what mtls writes.
import { journalFile, storeKeys } from "../store/keys.js";
import type { DoctorCheckDef, DoctorProblem } from "./types.js";

const RESTORE = "restore it from your backup; mtls does not guess at damaged records";
const REPUBLISH = "--fix republishes the CRLs, numbered after the highest one published";

export const recordsCheck: DoctorCheckDef = {
  name: "records",
  find(ctx) {
    const out: DoctorProblem[] = [];
    const at = (key: string) => ({ path: ctx.store.where(key), key });
    if (ctx.indexError) out.push({ check: "records", message: ctx.indexError.message, hint: RESTORE, fixable: false, ...at(journalFile.index) });
    for (const d of ctx.index?.disagreements ?? [])
      out.push({
        check: "records",
        message: `${ctx.store.where(journalFile.index)} line ${d.line} and an earlier line for serial ${d.serial} disagree on its ${d.field}, which never changes: a line was edited or damaged`,
        hint: RESTORE,
        fixable: false,
        ...at(journalFile.index),
        line: d.line,
      });
    if (ctx.partnersError) out.push({ check: "records", message: ctx.partnersError.message, hint: RESTORE, fixable: false, ...at(storeKeys.partners) });
    for (const b of ctx.journal.bad)
      out.push({
        check: "records",
        message: `${ctx.store.where(journalFile.revocations)} line ${b.line} is damaged: ${b.why}`,
        hint: "--fix moves the line to a quarantine file and puts back every revocation a CRL or the audit log shows",
        fixable: true,
        ...at(journalFile.revocations),
        line: b.line,
      });
    const state = ctx.store.where(storeKeys.crlState);
    if (ctx.crlState.damaged)
      out.push({ check: "records", message: `${state} is damaged: ${ctx.crlState.damaged}`, hint: REPUBLISH, fixable: true, ...at(storeKeys.crlState) });
    else
      for (const [role, n] of Object.entries(ctx.history.numbers)) {
        const published = n ?? 0;
        if ((ctx.crlState.state[role]?.number ?? 0) < published)
          out.push({
            check: "records",
            message: `${state} says the last ${role} CRL is #${ctx.crlState.state[role]?.number ?? "none"}, but #${published} was published (a crash before it was updated)`,
            hint: REPUBLISH,
            fixable: true,
            ...at(storeKeys.crlState),
          });
      }
    return out;
  },
  fix(ctx, tx) {
    if (ctx.problems.some((p) => p.key === journalFile.revocations))
      tx.quarantineJournal(ctx.journal.bad.map((b) => `${b.text}\n`).join(""), ctx.journal.entries);
    tx.republish();
  },
};
