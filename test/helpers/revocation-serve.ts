// `mtls revocation serve --port 0` started by a test in the PKI at `dir`: its URL once it listens.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { BIN, baseEnv, PASSPHRASE } from "./run.js";

export interface RunningResponder {
  child: ChildProcess;
  url: string;
  /** What it wrote on stderr so far (its request log). */
  log: () => string;
  /** SIGTERM, and its exit awaited (nothing when it has exited already). */
  stop: () => Promise<void>;
}

/** Starts the responder and waits (15 s at most) for the URL it prints; throws with its stderr when it does not start. */
export async function startResponder(dir: string): Promise<RunningResponder> {
  const child = spawn(process.execPath, [BIN, "revocation", "serve", "--port", "0"], { cwd: dir, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  for (let i = 0; i < 300 && !/http:\/\//.test(stdout) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
  if (!/http:\/\//.test(stdout)) throw new Error(`revocation serve did not start:\n${stderr}`);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    await once(child, "exit");
  };
  return { child, url: stdout.trim(), log: () => stderr, stop };
}
