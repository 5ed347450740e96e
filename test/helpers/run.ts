import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/test/...). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const BIN = join(ROOT, "bin", "mtls.js");
export const PASSPHRASE = "test passphrase 0123";

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
  timeoutMs?: number;
}

/** Environment for child processes: no CI-provided colour or passphrase leaks in. */
export function baseEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("MTLS_") || k === "FORCE_COLOR" || k === "NO_COLOR") delete env[k];
  return { ...env, ...extra };
}

export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? baseEnv(), stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ exitCode: code ?? (signal ? 128 : -1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    // A child may exit before reading its stdin (openssl often does): that EPIPE is not an error.
    child.stdin.on("error", () => {});
    child.stdin.end(opts.input ?? "");
  });
}

/** Runs the built CLI, `node bin/mtls.js ...`, with the test passphrase in the environment. */
export function mtls(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [BIN, ...args], { ...opts, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE, ...opts.env }) });
}

/** The --json document. `result` is any: each test asserts the fields it relies on. */
export interface JsonDoc {
  ok: boolean;
  exitCode: number;
  command: string;
  // biome-ignore lint/suspicious/noExplicitAny: results differ per command; tests check fields one by one
  result?: any;
  error?: { code: string; message: string; hint?: string };
  warnings: string[];
}

/** Parses the --json document, failing with the raw output when it is not one. */
export function json(r: RunResult): JsonDoc {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.exitCode}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

export async function tempDir(t: TestContext, prefix = "mtls-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function openssl(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run("openssl", args, opts);
}

/** `openssl verify -crl_check_all` of a certificate against a PKI's root, intermediate and CRL bundle. */
export function opensslVerifyWithCrl(pkiDir: string, cert: string): Promise<RunResult> {
  return openssl([
    "verify",
    "-crl_check_all",
    "-CAfile",
    join(pkiDir, "ca/root.pem"),
    "-untrusted",
    join(pkiDir, "ca/intermediate.pem"),
    "-CRLfile",
    join(pkiDir, "crl/crl-bundle.pem"),
    cert,
  ]);
}

export function have(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`]).status === 0;
}

/** Path → sha256 and mode of every file under dir: compare two to prove nothing changed. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string): Promise<void> {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isDirectory()) {
        out[`${relative(dir, p)}/`] = (st.mode & 0o777).toString(8);
        await walk(p);
      } else {
        out[relative(dir, p)] = `${(st.mode & 0o777).toString(8)} ${createHash("sha256")
          .update(await readFile(p))
          .digest("hex")}`;
      }
    }
  }
  await walk(dir);
  return out;
}

/** Creates a CA in a fresh temp dir; returns the dir (the PKI is dir/pki). */
export async function initTempCa(t: TestContext, extra: string[] = []): Promise<string> {
  const dir = await tempDir(t);
  const r = await mtls(["ca", "init", "--name", "Test", "--org", "Test Org", "--json", ...extra], { cwd: dir });
  if (r.exitCode !== 0) throw new Error(`ca init failed: ${r.stdout}${r.stderr}`);
  return dir;
}
