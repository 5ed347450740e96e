// Rendering for people (colour, tables) and for scripts (--json). The only module that imports chalk.
import { Chalk, type ChalkInstance } from "chalk";
import { displayWidth, isPlain } from "../core/display-text.js";
import { Exit, type ExitCode, MtlsError } from "../core/errors.js";
import { jsonPrettyPieces } from "./json-stream.js";
import { cellText, safeDeep, safeJson, safeText, safeValue } from "./terminal-safe.js";

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  color: boolean;
}

export interface Styles {
  ok: (s: string) => string;
  warn: (s: string) => string;
  bad: (s: string) => string;
  dim: (s: string) => string;
  bold: (s: string) => string;
  /** Colours a certificate status (valid, expiring, expired, revoked). */
  status: (s: string) => string;
}

function stylesFor(chalk: ChalkInstance): Styles {
  const ok = (s: string) => chalk.green(s);
  const warn = (s: string) => chalk.yellow(s);
  const bad = (s: string) => chalk.red(s);
  return {
    ok,
    warn,
    bad,
    dim: (s) => chalk.dim(s),
    bold: (s) => chalk.bold(s),
    status: (s) => (s === "valid" || s === "pass" || s === "accepted" ? ok(s) : s === "expiring" || s === "info" ? warn(s) : bad(s)),
  };
}

/**
 * Colour decision per stream: off for --json, --no-color and NO_COLOR (chalk 5 does not read
 * NO_COLOR itself); on when FORCE_COLOR asks for it; otherwise only on a terminal.
 */
export function colorEnabled(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv, opts: OutputOptions): boolean {
  if (opts.json || !opts.color) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "0" && env.FORCE_COLOR !== "false") return true;
  return Boolean(stream.isTTY);
}

export interface ErrorJson {
  code: string;
  message: string;
  hint?: string;
}

/** Everything a command says goes through here, so `--json` can hold it to one document. */
export class Output {
  opts: OutputOptions = { json: false, quiet: false, color: true };
  command = "";
  out: Styles;
  err: Styles;
  private resultValue: unknown;
  private hasResult = false;
  private readonly warnings: string[] = [];
  private error: ErrorJson | undefined;
  private exitCode: ExitCode = Exit.OK;

  constructor(
    private readonly stdout: NodeJS.WriteStream,
    private readonly stderr: NodeJS.WriteStream,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.out = this.err = stylesFor(new Chalk({ level: 0 }));
    this.configure(this.opts);
  }

  configure(opts: OutputOptions): void {
    this.opts = opts;
    this.out = stylesFor(new Chalk({ level: colorEnabled(this.stdout, this.env, opts) ? 1 : 0 }));
    this.err = stylesFor(new Chalk({ level: colorEnabled(this.stderr, this.env, opts) ? 1 : 0 }));
  }

  /** The command's result: JSON for scripts, `human(value)` on stdout for people. */
  result<T>(value: T, human: (v: T, s: Styles) => string): void {
    this.resultValue = this.opts.json ? this.withoutWarnings(value) : value;
    this.hasResult = true;
    if (!this.opts.json) {
      const text = human(safeDeep(value), this.out);
      if (text) this.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    }
  }

  /**
   * A result too large to render as one string (a table of 100,000 certificates): `human` yields
   * it in pieces, written as they come, and makes its own cells safe (see tableChunks).
   */
  async resultChunks<T>(value: T, human: (v: T, s: Styles) => Iterable<string | Uint8Array>): Promise<void> {
    this.resultValue = this.opts.json ? this.withoutWarnings(value) : value;
    this.hasResult = true;
    if (!this.opts.json) await this.writeAll(human(value, this.out));
  }

  /**
   * Writes pieces to stdout, holding at most QUEUED bytes in its buffer: a pipe takes writes
   * asynchronously, and 60 MB of `list --json` would otherwise all be queued in memory (#21).
   * Waiting only above a few MiB (not for a full drain) lets the reader read while the next
   * piece is made.
   */
  private async writeAll(pieces: Iterable<string | Uint8Array | Promise<void>>, text: (s: string) => string = (s) => s): Promise<void> {
    let wake: (() => void) | undefined;
    const written = () => wake?.();
    for (const piece of pieces) {
      // Bytes being fetched (a database store's summary, read as it is written).
      if (piece instanceof Promise) {
        await piece;
        continue;
      }
      // A reader that went away (`mtls list | head -1`): the rest has nowhere to go.
      if (this.stdout.destroyed) return;
      this.stdout.write(typeof piece === "string" ? text(piece) : piece, written);
      while (this.stdout.writableLength > QUEUED && !this.stdout.destroyed) await new Promise<void>((resolve) => (wake = resolve));
    }
  }

  /**
   * A result's own `warnings` belong in the document's one `warnings` list: each is warned
   * there (once, whether or not the command already did) and left out of the result.
   */
  private withoutWarnings<T>(value: T): T {
    const w = (value as { warnings?: unknown } | null)?.warnings;
    if (!value || typeof value !== "object" || !Array.isArray(w)) return value;
    for (const m of w) if (typeof m === "string" && !this.warnings.includes(m)) this.warn(m);
    const { warnings: _, ...rest } = value as Record<string, unknown>;
    return rest as T;
  }

  /** Text commander printed (help, version) while --json holds stdout for the one document. */
  captured = "";
  capture(text: string): void {
    this.captured += text;
  }

  /** Part of a result printed as it happens (a narrated run); nothing in --json mode. */
  line(text: string): void {
    if (!this.opts.json) this.stdout.write(`${safeText(text)}\n`);
  }

  /** Sets the exit code a successful run ends with (1 when a check said no). */
  setExit(code: ExitCode): void {
    this.exitCode = code;
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.stderr.write(`${this.err.warn("warning:")} ${safeValue(message)}\n`);
  }

  /** Progress and context for people; silent with --quiet and --json. */
  info(message: string): void {
    if (!this.opts.quiet && !this.opts.json) this.stderr.write(`${this.err.dim(safeText(message))}\n`);
  }

  /**
   * Where a long-running server listens, once it does. With --json the one document waits for
   * the server to stop (its counts are final then), so the address goes to stderr as a line of
   * its own: a script that started it with --port 0 learns the port there. Without --json the
   * result on stdout already holds it.
   */
  listening(url: string): void {
    if (this.opts.json) this.stderr.write(`listening on ${safeValue(url)}\n`);
  }

  /**
   * A progress line that rewrites itself, on a terminal only (never in pipes, --json or -q).
   * An empty message clears it.
   */
  progress(message: string): void {
    if (this.opts.quiet || this.opts.json || !this.stderr.isTTY) return;
    this.stderr.write(`\r\u001b[2K${message ? this.err.dim(message) : ""}`);
  }

  /** Shows `message` as progress while `fn` runs, and clears it however `fn` ends (an error too). */
  async withProgress<T>(message: string, fn: () => Promise<T>): Promise<T> {
    this.progress(message);
    try {
      return await fn();
    } finally {
      this.progress("");
    }
  }

  success(message: string): void {
    if (!this.opts.quiet && !this.opts.json) this.stderr.write(`${this.err.ok("✔")} ${safeText(message)}\n`);
  }

  /** Records a failure and prints it on stderr; returns the exit code it maps to. */
  fail(err: unknown, debug = false): ExitCode {
    const e = toMtlsError(err);
    this.error = { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) };
    this.exitCode = e.exit;
    const line = e.exit === Exit.INTERNAL ? `internal error: ${e.message} (this is a bug in mtls; please report it with MTLS_DEBUG=1 output)` : e.message;
    this.stderr.write(`${this.err.bad("error:")} ${safeValue(line)}\n`);
    if (e.hint) this.stderr.write(`  ${this.err.dim(`hint: ${safeValue(e.hint)}`)}\n`);
    if (debug) {
      for (let c: unknown = err; c; c = (c as { cause?: unknown }).cause) this.stderr.write(`${(c as Error).stack ?? String(c)}\n`);
    }
    return e.exit;
  }

  /** Whether the command failed (fail() was called). */
  get failed(): boolean {
    return this.error !== undefined;
  }

  /**
   * Writes the one JSON document (with --json) and returns the process exit code. A list read as
   * it is written can fail half way (its store gone): the document then ends where it broke, and
   * the error goes to stderr with its exit code.
   */
  async finish(debug = false): Promise<ExitCode> {
    if (this.opts.json) {
      const doc: Record<string, unknown> = { schemaVersion: 1, command: this.command, ok: this.exitCode === Exit.OK, exitCode: this.exitCode };
      if (this.error) doc.error = this.error;
      else doc.result = this.hasResult ? this.resultValue : null;
      doc.warnings = this.warnings;
      let started = false;
      const pieces = function* (all: Iterable<string | Uint8Array | Promise<void>>) {
        for (const p of all) {
          started = true;
          yield p;
        }
      };
      try {
        // Byte pieces (a list's elements as the index summary holds them) were made safe when written there.
        await this.writeAll(pieces(jsonPrettyPieces(doc)), safeJson);
      } catch (err) {
        // A result that cannot be serialised at all still leaves one document: the error's.
        if (!started && !this.error) {
          this.fail(err, debug);
          return this.finish(debug);
        }
        this.stdout.write("\n");
        return this.fail(err, debug);
      }
      this.stdout.write("\n");
    }
    return this.exitCode;
  }
}

const QUEUED = 4 << 20;

export function toMtlsError(err: unknown): MtlsError {
  if (err instanceof MtlsError) return err;
  if (err instanceof Error && err.name === "MtlsError") return err as MtlsError;
  const message = err instanceof Error ? err.message : String(err);
  return new MtlsError("ERR_INTERNAL", message, Exit.INTERNAL, undefined, { cause: err });
}

/** Left-aligned columns separated by two spaces; the header is dimmed. Measures each cell once. */
export function table(header: string[], rawRows: string[][], s: Styles): string {
  const rows = rawRows.map((r) => r.map(cellText));
  const cellWidths = rows.map((r) => r.map(displayWidth));
  const widths = header.map((h, i) => cellWidths.reduce((m, w) => Math.max(m, w[i] ?? 0), displayWidth(h)));
  const line = (cells: string[], ws: number[]) => {
    let out = "";
    for (let i = 0; i < cells.length; i++) {
      const c = cells[i] ?? "";
      out += i === cells.length - 1 ? c : c + " ".repeat((widths[i] ?? 0) - (ws[i] ?? 0) + 2);
    }
    return out.trimEnd();
  };
  const lines = [s.dim(line(header, header.map(displayWidth)))];
  for (let r = 0; r < rows.length; r++) lines.push(line(rows[r] as string[], cellWidths[r] as number[]));
  return lines.join("\n");
}

/**
 * The table `table` prints, in pieces of a few thousand lines, reading row `i` through `cells(i)`
 * twice (widths, then lines) instead of holding every line: `mtls list` over 100,000
 * certificates (#21). Each cell is made safe for a terminal here (safeValue).
 */
export function* tableChunks(header: string[], count: number, cells: (i: number) => string[], s: Styles): Generator<string> {
  const widths = header.map(displayWidth);
  for (let r = 0; r < count; r++) {
    const row = cells(r);
    for (let i = 0; i < row.length; i++) {
      const raw = row[i] as string;
      // Printable ASCII (nearly every cell) is safe as it is and as wide as it is long: one regex
      // test per cell instead of three, at 100,000 rows.
      const w = isPlain(raw) ? raw.length : displayWidth(safeValue(raw));
      if (w > (widths[i] as number)) widths[i] = w;
    }
  }
  const line = (row: string[]) => {
    let out = "";
    for (let i = 0; i < row.length; i++) {
      const raw = row[i] as string;
      const plain = isPlain(raw);
      const c = plain ? raw : safeValue(raw);
      out += i === row.length - 1 ? c : c + " ".repeat((widths[i] as number) - (plain ? c.length : displayWidth(c)) + 2);
    }
    return out.trimEnd();
  };
  yield `${s.dim(line(header))}\n`;
  for (let r = 0; r < count; r += 2000) {
    let chunk = "";
    for (let i = r; i < Math.min(count, r + 2000); i++) chunk += `${line(cells(i))}\n`;
    yield chunk;
  }
}

/** "key: value" lines with aligned values. */
export function fields(pairs: Array<[string, string | number | undefined]>, s: Styles): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => [k, cellText(String(v))] as const);
  const w = Math.max(...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${s.dim(`${k}:`.padEnd(w + 1))} ${v}`).join("\n");
}
