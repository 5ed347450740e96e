// Helpers for the benchmark script: timing whole commands, medians, peak memory, Markdown tables.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";

export interface Timed {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
  /** Peak resident set size of the child in MiB, when GNU time is available. */
  rssMiB?: number;
}

const GNU_TIME = "/usr/bin/time";

/** Runs a command `runs` times (after one warm-up) and reports the median wall time. */
export function timeCommand(
  cmd: string,
  args: string[],
  opts: { runs?: number; env?: NodeJS.ProcessEnv; cwd?: string; before?: () => void; warmup?: boolean } = {},
): Timed {
  const runs = opts.runs ?? 5;
  const times: number[] = [];
  let rss: number | undefined;
  const once = () => {
    opts.before?.();
    const withTime = existsSync(GNU_TIME);
    const start = process.hrtime.bigint();
    const r = withTime
      ? spawnSync(GNU_TIME, ["-f", "%M", cmd, ...args], { env: opts.env ?? process.env, cwd: opts.cwd, encoding: "utf8", maxBuffer: 64 << 20 })
      : spawnSync(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, encoding: "utf8", maxBuffer: 64 << 20 });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
    if (withTime) {
      const kib = Number((r.stderr.trim().split("\n").pop() ?? "").trim());
      if (Number.isFinite(kib)) rss = Math.max(rss ?? 0, kib / 1024);
    }
    return ms;
  };
  if (opts.warmup !== false) once();
  for (let i = 0; i < runs; i++) times.push(once());
  return summarize(times, rss);
}

/** Times an in-process async function. */
export async function timeFn(fn: () => Promise<unknown>, runs = 5): Promise<Timed> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return summarize(times);
}

function summarize(times: number[], rssMiB?: number): Timed {
  const sorted = [...times].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { medianMs: median, minMs: sorted[0] as number, maxMs: sorted[sorted.length - 1] as number, runs: times.length, ...(rssMiB ? { rssMiB } : {}) };
}

export const fmtMs = (t: Timed) => (t.medianMs >= 1000 ? `${(t.medianMs / 1000).toFixed(2)} s` : `${t.medianMs.toFixed(t.medianMs < 10 ? 2 : 0)} ms`);
export const fmtRange = (t: Timed) => `${fmtMs({ ...t, medianMs: t.minMs })}–${fmtMs({ ...t, medianMs: t.maxMs })}`;

export interface Row {
  task: string;
  mtls: Timed;
  peer?: { name: string; t: Timed };
  note?: string;
}

export function markdownTable(rows: Row[]): string {
  const lines = ["| task | mtls (median, range) | peer | peer (median, range) | mtls / peer | peak RSS mtls / peer | note |", "|---|---|---|---|---|---|---|"];
  for (const r of rows) {
    const ratio = r.peer ? (r.mtls.medianMs / r.peer.t.medianMs).toFixed(2) : "";
    const rss = r.mtls.rssMiB || r.peer?.t.rssMiB ? `${r.mtls.rssMiB?.toFixed(0) ?? "–"} / ${r.peer?.t.rssMiB?.toFixed(0) ?? "–"} MiB` : "";
    lines.push(
      `| ${r.task} | ${fmtMs(r.mtls)} (${fmtRange(r.mtls)}) | ${r.peer?.name ?? ""} | ${r.peer ? `${fmtMs(r.peer.t)} (${fmtRange(r.peer.t)})` : ""} | ${ratio} | ${rss} | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n");
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const openssl = spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout.trim();
  return `${cpus().length} × ${cpu}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${openssl}`;
}

export interface Cmd {
  name: string;
  cmd: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Exit codes that count as success (default: 0). */
  ok?: number[];
  before?: () => void;
}

/**
 * Runs each command once per round, round after round, so that every command (the floor
 * `node -e 0` among them) sees the same machine: on a shared VM the load changes by the second,
 * and commands timed one after another would compare different machines.
 */
export function timeInterleaved(cmds: Cmd[], rounds: number): Map<string, Timed> {
  const times = new Map<string, number[]>(cmds.map((c) => [c.name, []]));
  const rss = new Map<string, number>();
  const withTime = existsSync(GNU_TIME);
  for (let round = 0; round <= rounds; round++) {
    for (const c of cmds) {
      c.before?.();
      const start = process.hrtime.bigint();
      const r = withTime
        ? spawnSync(GNU_TIME, ["-f", "%M", c.cmd, ...c.args], { env: c.env ?? process.env, cwd: c.cwd, encoding: "utf8", maxBuffer: 256 << 20 })
        : spawnSync(c.cmd, c.args, { env: c.env ?? process.env, cwd: c.cwd, encoding: "utf8", maxBuffer: 256 << 20 });
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      if (!(c.ok ?? [0]).includes(r.status ?? -1)) throw new Error(`${c.name}: ${c.cmd} ${c.args.join(" ")} exited ${r.status}:\n${r.stderr}`);
      if (round === 0) continue; // warm-up: the page cache and the disk
      (times.get(c.name) as number[]).push(ms);
      if (withTime) {
        const kib = Number((r.stderr.trim().split("\n").pop() ?? "").trim());
        if (Number.isFinite(kib)) rss.set(c.name, Math.max(rss.get(c.name) ?? 0, kib / 1024));
      }
    }
  }
  return new Map(cmds.map((c) => [c.name, summarize(times.get(c.name) as number[], rss.get(c.name))]));
}

export interface Goal {
  goal: string;
  /** What was measured, e.g. "list 84 ms, floor 58 ms". */
  measured: string;
  ratio?: number;
  target?: string;
  met: boolean | undefined;
  note?: string;
}

export function goalTable(goals: Goal[]): string {
  const lines = ["| goal | measured | ratio | target | result |", "|---|---|---|---|---|"];
  for (const g of goals)
    lines.push(
      `| ${g.goal} | ${g.measured}${g.note ? ` (${g.note})` : ""} | ${ratioText(g)} | ${g.target ?? ""} | ${g.met === undefined ? "–" : g.met ? "met" : "**missed**"} |`,
    );
  return lines.join("\n");
}

/** Two decimals, or three where two would round a missed ratio down to its target's figure (1.504 read as 1.50). */
function ratioText(g: Goal): string {
  if (g.ratio === undefined) return "";
  const two = g.ratio.toFixed(2);
  return g.met === false && g.target?.includes(`≤ ${Number(two)}×`) ? g.ratio.toFixed(3) : two;
}

/**
 * CPU time (user + system, `process.cpuUsage()` at exit) of each command, in interleaved rounds
 * after a warm-up: on a shared machine the load stretches wall time far more than CPU time.
 * Only Node commands: the measurement is a `--require`d exit hook.
 */
export function cpuInterleaved(cmds: Cmd[], rounds: number, dir: string): Map<string, number> {
  const hook = join(dir, "cpu-at-exit.cjs");
  const out = join(dir, "cpu-at-exit.txt");
  writeFileSync(
    hook,
    'process.on("exit", () => { const c = process.cpuUsage(); require("fs").writeFileSync(process.env.MTLS_BENCH_CPU_OUT, String((c.user + c.system) / 1000)); });\n',
  );
  const times = new Map<string, number[]>(cmds.map((c) => [c.name, []]));
  for (let round = 0; round <= rounds; round++) {
    for (const c of cmds) {
      c.before?.();
      rmSync(out, { force: true });
      const env = { ...(c.env ?? process.env), NODE_OPTIONS: `--require ${hook}`, MTLS_BENCH_CPU_OUT: out };
      const r = spawnSync(c.cmd, c.args, { env, cwd: c.cwd, encoding: "utf8", maxBuffer: 256 << 20 });
      if (!(c.ok ?? [0]).includes(r.status ?? -1)) throw new Error(`${c.name}: ${c.cmd} ${c.args.join(" ")} exited ${r.status}:\n${r.stderr}`);
      if (round > 0) (times.get(c.name) as number[]).push(Number(readFileSync(out, "utf8")));
    }
  }
  return new Map(cmds.map((c) => [c.name, summarize(times.get(c.name) as number[]).medianMs]));
}
