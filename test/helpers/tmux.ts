// A real pseudo-terminal for interactive tests: tmux runs the command, send-keys types,
// capture-pane reads the screen.
import { randomBytes } from "node:crypto";
import type { TestContext } from "node:test";
import { run } from "./run.js";

export interface Terminal {
  /** Waits until the screen shows `pattern`; fails with the screen when it does not. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  type(text: string): Promise<void>;
  press(...keys: string[]): Promise<void>;
  screen(): Promise<string>;
}

export async function startTerminal(t: TestContext, command: string, opts: { cwd: string; env: Record<string, string> }): Promise<Terminal> {
  const session = `mtls-${randomBytes(4).toString("hex")}`;
  // The child gets a clean environment: CI (set by CI runners) disables prompts by design.
  const env = Object.entries({ PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", TERM: "xterm-256color", LANG: "C.UTF-8", ...opts.env })
    .map(([k, v]) => `${k}='${v.replace(/'/g, "'\\''")}'`)
    .join(" ");
  const r = await run("tmux", [
    "new-session",
    "-d",
    "-s",
    session,
    "-x",
    "160",
    "-y",
    "50",
    `cd '${opts.cwd}' && env -i ${env} ${command}; echo "[exit $?]"; sleep 30`,
  ]);
  if (r.exitCode !== 0) throw new Error(`tmux: ${r.stderr}`);
  t.after(() => run("tmux", ["kill-session", "-t", session]));
  const screen = async () => (await run("tmux", ["capture-pane", "-p", "-t", session, "-S", "-200"])).stdout;
  return {
    screen,
    async waitFor(pattern, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await screen();
        if (pattern.test(s)) return s;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; screen:\n${s}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async type(text) {
      await run("tmux", ["send-keys", "-t", session, "-l", text]);
    },
    async press(...keys) {
      await run("tmux", ["send-keys", "-t", session, ...keys]);
    },
  };
}
