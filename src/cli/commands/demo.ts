import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { Exit } from "../../core/errors.js";
import type { DemoResult } from "../../core/index.js";
import type { CliContext } from "../context.js";
import { actor, examplesHelp, exitCodesHelp } from "../flags.js";
import { loadWholeCore } from "../whole-core.js";

export interface DemoOptions {
  /** Work in this (new or empty) directory and keep it; default: a temporary one. */
  dir?: string;
  /** Keep the temporary directory. */
  keep?: boolean;
}

/**
 * `mtls demo`, in-process: the whole lifecycle, each step narrated on the context's output as it
 * runs (the steps are the demo's progress), the temporary directory removed unless kept.
 */
export async function runDemo(ctx: CliContext, opts: DemoOptions): Promise<DemoResult> {
  const core = await loadWholeCore();
  const dir = opts.dir ? ctx.resolvePath(opts.dir) : await mkdtemp(join(tmpdir(), "mtls-demo-"));
  const s = ctx.out.out;
  ctx.out.line(s.bold(`mtls demo — the partner lifecycle in ${dir}`));
  try {
    return await core.runDemo({
      dir,
      now: () => ctx.now(),
      actor: actor(),
      onStart: (n, title, command) => ctx.out.line(`\n${s.bold(`${n}.`)} ${title}\n   ${s.dim(`$ ${command}`)}`),
      onStep: (step) => ctx.out.line(`   ${step.ok ? s.ok("✔") : s.bad("✖")} ${step.detail} ${s.dim(`(${step.ms} ms)`)}`),
    });
  } finally {
    if (!opts.dir && !opts.keep) await rm(dir, { recursive: true, force: true });
  }
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("demo")
    .description("run the whole partner lifecycle on this machine: CA, two partners, bundle, gateway, probe, offboarding")
    .option("--dir <dir>", "work in this (new or empty) directory and keep it (default: a temporary one, removed afterwards)")
    .option("--keep", "keep the temporary directory to look around")
    .addHelpText("after", examplesHelp(["npx mtls demo", "mtls demo --dir ./demo && ls demo"]))
    .addHelpText("after", exitCodesHelp(["0  every step behaved as expected", "1  a step did not (it is named)", "4  --dir is not empty, or is a file"]))
    .action(async (opts: DemoOptions) => {
      const result = await runDemo(ctx, opts);
      ctx.out.result(result, (r, s) =>
        r.ok
          ? `\n${s.ok("✔")} ${s.bold(`all ${r.steps.length} steps behaved as expected`)} in ${(r.durationMs / 1000).toFixed(1)} s${opts.dir || opts.keep ? `; look around in ${r.dir}` : ""}`
          : `\n${s.bad("✖")} ${s.bold(`step ${r.steps.find((x) => !x.ok)?.n} failed`)}: ${r.steps.find((x) => !x.ok)?.detail}`,
      );
      if (!result.ok) ctx.out.setExit(Exit.CHECK_FAILED);
    });
}
