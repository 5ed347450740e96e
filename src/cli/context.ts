import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { fsError, inputError } from "../core/errors.js";
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

  constructor(readonly io: Io) {
    this.out = new Output(io.stdout, io.stderr, io.env);
    this.prompt = new Prompter({ stdin: io.stdin, stderr: io.stderr, env: io.env });
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
    this.prompt.allowed = g.input && !g.json;
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

  now(): Date {
    return new Date();
  }

  resolvePath(p: string): string {
    return resolve(this.io.cwd(), p);
  }

  /** Reads a file given on the command line ("-" is standard input), refusing huge inputs. */
  async readInput(path: string, what: string, maxBytes = 1024 * 1024): Promise<Buffer> {
    if (path === "-") {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const c of this.io.stdin) {
        size += (c as Buffer).length;
        if (size > maxBytes) throw inputError("ERR_INPUT_TOO_LARGE", `${what} on standard input is larger than ${maxBytes} bytes`);
        chunks.push(c as Buffer);
      }
      return Buffer.concat(chunks);
    }
    const full = this.resolvePath(path);
    try {
      const st = await stat(full);
      if (st.size > maxBytes)
        throw inputError(
          "ERR_INPUT_TOO_LARGE",
          `${what} ${path} is ${st.size} bytes, more than the ${maxBytes} allowed`,
          "check that you passed the right file",
        );
      return await readFile(full);
    } catch (err) {
      if (err instanceof Error && err.name === "MtlsError") throw err;
      throw fsError(err, path, "read");
    }
  }
}
