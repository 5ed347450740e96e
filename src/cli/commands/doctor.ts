import type { Command } from "commander";
import { Exit, usageError } from "../../core/errors.js";
import type { DoctorResult } from "../../core/index.js";
import type { CliContext } from "../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, openWriteSession, type PassphraseOpts } from "../flags.js";
import type { Styles } from "../output.js";

function render(r: DoctorResult, s: Styles): string {
  const head = `checked ${r.checked.certificates} certificates, ${r.checked.revocations} revocations, ${r.checked.auditRecords} audit records`;
  if (!r.problems.length) return `${s.ok("✔")} the store is consistent (${head})`;
  const lines = r.problems.map((p) => `  ${p.fixed ? s.ok("fixed") : s.bad("✖")} [${p.check}] ${p.message}${p.fixed ? "" : `\n      ${s.dim(p.hint)}`}`);
  return `${r.healthy ? s.ok("✔ every problem fixed") : s.bad(`${r.problems.filter((p) => !p.fixed).length} problem(s)`)} (${head}):\n${lines.join("\n")}`;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("doctor")
    .description("check the store against itself: records, certificates, keys, revocations, CRLs, the publish directory, file modes, lock, audit chain")
    .option(
      "--fix",
      "repair what is safe to repair (republishes CRLs, revokes unrecorded certificates, puts back index records its summary shows index.jsonl lost, trims torn journal lines, moves damaged lines to quarantine files); never deletes anything but mtls's own temporaries",
    )
    .option(
      "--revoke-unrecorded",
      "with --fix: revoke certificates without an index line also when several commands issued them (doctor otherwise takes them for lines index.jsonl lost)",
    );
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls doctor",
        "mtls doctor --fix",
        "mtls doctor --fix --revoke-unrecorded   # after several commands failed, with no doctor run between them",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  consistent (or every problem fixed)",
        "1  problems remain (each with how to fix it)",
        "2  --revoke-unrecorded without --fix",
        "3  wrong passphrase (--fix)",
        "5  no PKI; --fix on a store this user cannot write to (a read-only mount)",
      ]),
    )
    .action(async (opts: PassphraseOpts & { fix?: boolean; revokeUnrecorded?: boolean }) => {
      const result = await runDoctorCommand(ctx, opts);
      for (const w of result.warnings ?? []) ctx.out.warn(w);
      ctx.out.result(result, render);
      if (!result.healthy) ctx.out.setExit(Exit.CHECK_FAILED);
    });
}

/** `mtls doctor`, in-process: every check's structured problems (fixed ones marked with `fix`). */
export async function runDoctorCommand(ctx: CliContext, opts: PassphraseOpts & { fix?: boolean; revokeUnrecorded?: boolean }): Promise<DoctorResult> {
  if (opts.revokeUnrecorded && !opts.fix) throw usageError("ERR_USAGE", "--revoke-unrecorded applies only with --fix", "add --fix");
  // An interrupted commit is reported, and finished only with --fix (by runDoctor).
  const pki = await openWriteSession(ctx, opts, { recover: false });
  const core = await import("../../core/doctor/doctor.js");
  return core.runDoctor(pki, { fix: Boolean(opts.fix), ...(opts.revokeUnrecorded ? { revokeUnrecorded: true } : {}) });
}
