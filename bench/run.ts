// `npm run bench [-- section ...]`: measures mtls against the tools users would use instead and
// prints a Markdown table. Sections: goals (the ratios of #21; its parts readonly, issue, export,
// inventory-goal, batch-goal, probe-goal, cpu-goal, pg-goal run alone too), startup, sign, batch, crl, inventory,
// bundle, probe, ocsp, store, pkcs11. Without a section, everything runs.
import { benchBundle } from "./bundle.js";
import { benchCrl } from "./crl.js";
import { batchGoal, cpuGoals, exportGoal, inventoryGoals, issueGoals, probeGoal, readOnlyGoals } from "./goals.js";
import { pgGoals } from "./goals-pg.js";
import { benchInventory } from "./inventory.js";
import { benchBatch, benchSignOne, benchStartup } from "./issuance.js";
import { type Goal, goalTable, machine, markdownTable, type Row } from "./lib.js";
import { benchOcsp } from "./ocsp.js";
import { benchPkcs11 } from "./pkcs11.js";
import { benchProbe } from "./probe.js";
import { benchStore } from "./store.js";

const goalSections: Record<string, () => Promise<Goal[]> | Goal[]> = {
  readonly: () => readOnlyGoals(),
  issue: () => issueGoals(),
  export: () => exportGoal(),
  "inventory-goal": () => inventoryGoals(),
  "batch-goal": () => batchGoal(),
  "probe-goal": () => probeGoal(),
  "cpu-goal": () => cpuGoals(),
  "pg-goal": () => pgGoals(),
};

const sections: Record<string, () => Promise<Row[]> | Row[]> = {
  startup: () => benchStartup(),
  sign: () => benchSignOne(),
  batch: () => benchBatch(),
  crl: () => benchCrl(Number(process.env.BENCH_CRL_ENTRIES ?? 100_000)),
  inventory: () => benchInventory(),
  bundle: () => benchBundle(),
  probe: () => benchProbe(),
  ocsp: () => benchOcsp(),
  store: () => benchStore(),
  pkcs11: () => benchPkcs11(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = (wanted.length ? wanted : ["goals", ...Object.keys(sections)]).flatMap((n) => (n === "goals" ? Object.keys(goalSections) : [n]));
const rows: Row[] = [];
const goals: Goal[] = [];
for (const name of names) {
  process.stderr.write(`running ${name} ...\n`);
  const goal = goalSections[name];
  const section = sections[name];
  if (goal) goals.push(...(await goal()));
  else if (section) rows.push(...(await section()));
  else throw new Error(`unknown section ${name}; have: goals, ${[...Object.keys(goalSections), ...Object.keys(sections)].join(", ")}`);
}
const load = `load average at the end: ${(await import("node:os"))
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(" ")}`;
process.stdout.write(`Machine: ${machine()}; ${load}\n\n`);
if (goals.length) process.stdout.write(`${goalTable(goals)}\n\n`);
if (rows.length) process.stdout.write(`${markdownTable(rows)}\n`);
