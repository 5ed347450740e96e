// A command to run after a change reached the files (`crl publish --then "nginx -s reload"`).
// Run without a shell, so nothing in it is expanded, globbed or chained: the words are split
// once, as a shell would split plain quoted words, and anything that only means something to a
// shell is refused rather than passed on literally.
import { spawn } from "node:child_process";
import { usageError } from "./errors.js";
import { textHasUrlSecret } from "./store/location.js";

/** Splits a command line into words: whitespace separates, '…' and "…" quote, \ escapes. */
export function splitCommand(line: string, flag: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < line.length) word = (word ?? "") + line[++i];
      else word = (word ?? "") + c;
      continue;
    }
    if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\" && i + 1 < line.length) word = (word ?? "") + line[++i];
    else if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (/[|&;<>()$`*?~]/.test(c) || /[\x00-\x1f\x7f]/.test(c)) {
      throw usageError(
        "ERR_HOOK",
        `${flag} runs a single program without a shell, so "${/[\x00-\x1f\x7f]/.test(c) ? "a control character" : c}" would not do what it does in a shell`,
        `wrap it in a script and pass that, e.g. ${flag} "/usr/local/bin/reload-gateways"`,
      );
    } else word = (word ?? "") + c;
  }
  if (quote) throw usageError("ERR_HOOK", `${flag} has an unterminated ${quote} quote`, "close the quote");
  if (word !== undefined) words.push(word);
  if (!words.length) throw usageError("ERR_HOOK", `${flag} is empty`, `e.g. ${flag} "nginx -s reload"`);
  return words;
}

export interface HookResult {
  command: string[];
  exitCode: number;
  /** Set when the program could not be started or was killed. */
  error?: string;
  durationMs: number;
}

/** The variables that carry mtls's secrets: a hook never gets them (its output is ours to print). */
export const SECRET_VARIABLES = ["MTLS_CA_PASSPHRASE", "MTLS_PGP_PASSPHRASE", "MTLS_PKCS11_PIN", "MTLS_SMTP_PASSWORD", "MTLS_WEBHOOK_SECRET", "PGPASSWORD"];

/**
 * The environment a hook runs in: the caller's, without the secrets mtls was given. A reload
 * script that logs its environment (or `--then env`) would otherwise print the CA passphrase into
 * mtls's output and the CI log. A URL of mtls's (MTLS_STORE, MTLS_SMTP…) holding a password is
 * dropped for the same reason.
 */
export function hookEnvironment(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || SECRET_VARIABLES.includes(name)) continue;
    if (name.startsWith("MTLS_") && textHasUrlSecret(value)) continue;
    out[name] = value;
  }
  return out;
}

/** Runs the hook in `env` with its output passed through to `output`, at most `timeoutMs`. */
export function runHook(
  command: string[],
  output: (chunk: Buffer) => void,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs = 60_000,
): Promise<HookResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command[0] as string, command.slice(1), { shell: false, stdio: ["ignore", "pipe", "pipe"], env: hookEnvironment(env) });
    child.stdout.on("data", output);
    child.stderr.on("data", output);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    const done = (exitCode: number, error?: string) => {
      clearTimeout(timer);
      resolve({ command, exitCode, ...(error ? { error } : {}), durationMs: Date.now() - started });
    };
    // Said of the command, which the result (and the warning quoting it) already names.
    child.on("error", (err: NodeJS.ErrnoException) =>
      done(127, err.code === "ENOENT" ? "not found" : err.code === "EACCES" ? "not executable (permission denied)" : err.message),
    );
    child.on("close", (code, signal) =>
      done(code ?? 128, signal ? `killed by ${signal}${signal === "SIGKILL" ? ` (over ${timeoutMs / 1000} s)` : ""}` : undefined),
    );
  });
}
