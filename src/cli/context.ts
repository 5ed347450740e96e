import { resolve } from "node:path";
import { readFileBounded, readStreamBounded } from "../core/input.js";
import type { DatabaseStore } from "../core/store/sql/session.js";
import { Output } from "./output.js";
import { Prompter } from "./prompt.js";

export interface GlobalOptions {
  pki: string;
  json: boolean;
  quiet: boolean;
  color: boolean;
  yes: boolean;
  input: boolean;
}

export interface Io {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: () => string;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** What every command gets: parsed global flags, output, prompts, and I/O helpers. */
export class CliContext {
  readonly out: Output;
  readonly prompt: Prompter;
  globals: GlobalOptions;
  /** The database store when --store names a database (#16). */
  storeSession: DatabaseStore | undefined;

  constructor(readonly io: Io) {
    this.out = new Output(io.stdout, io.stderr, io.env);
    // The Io itself, not its streams: standard input is built only when a prompt or "-" needs it.
    this.prompt = new Prompter(io);
    // Before commander has parsed anything (usage errors), honour the output flags we can see.
    const has = (...flags: string[]) => io.argv.some((a) => flags.includes(a));
    this.globals = {
      pki: "pki",
      json: has("--json"),
      quiet: has("-q", "--quiet"),
      color: !has("--no-color"),
      yes: has("-y", "--yes"),
      input: !has("--no-input"),
    };
    this.applyGlobals(this.globals);
  }

  applyGlobals(g: GlobalOptions): void {
    this.globals = g;
    this.out.configure({ json: g.json, quiet: g.quiet, color: g.color });
    this.prompt.forbiddenBy = g.json ? "--json" : g.input ? undefined : "--no-input";
  }

  get env(): NodeJS.ProcessEnv {
    return this.io.env;
  }

  get pkiDir(): string {
    return this.resolvePath(this.globals.pki);
  }

  get debug(): boolean {
    return Boolean(this.io.env.MTLS_DEBUG && this.io.env.MTLS_DEBUG !== "0");
  }

  /**
   * The clock. Tests move it with MTLS_TEST_NOW (an ISO time), honoured only together with
   * MTLS_TEST_HOOKS=1 so a stray variable cannot make a real run sign with a false date.
   */
  now(): Date {
    const fake = this.io.env.MTLS_TEST_HOOKS === "1" ? this.io.env.MTLS_TEST_NOW : undefined;
    if (fake && !Number.isNaN(Date.parse(fake))) return new Date(fake);
    return new Date();
  }

  resolvePath(p: string): string {
    return resolve(this.io.cwd(), p);
  }

  /**
   * Reads a file given on the command line ("-" is standard input), in constant memory: past
   * `maxBytes` it stops reading and fails with exit 3 (a device like /dev/zero never ends).
   */
  async readInput(path: string, what: string, maxBytes = 1024 * 1024): Promise<Buffer> {
    if (path === "-") return readStreamBounded(this.io.stdin, maxBytes, `${what} on standard input`);
    return readFileBounded(this.resolvePath(path), maxBytes, `${what} ${path}`);
  }
}
