// Questions to a person at a terminal. The only module that imports the prompt library, lazily:
// it costs ~75 ms to load and hangs (rather than fails) without a terminal, so every prompt
// goes through the `interactive` guard first.
import { Exit, MtlsError, usageError } from "../core/errors.js";

export interface PromptEnv {
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

type Prompts = typeof import("@inquirer/prompts");

export class Prompter {
  /** Set from the global flags: the one of --json and --no-input that forbids prompts, if any. */
  forbiddenBy: "--json" | "--no-input" | undefined;

  constructor(private readonly io: PromptEnv) {}

  /** True only on a terminal (stdin and stderr), outside CI, without --json or --no-input. */
  get interactive(): boolean {
    return this.whyNot === undefined;
  }

  /**
   * Why nothing is asked, as the end of a sentence: a person at a terminal who passed --no-input
   * must not be told there is no terminal.
   */
  get whyNot(): string | undefined {
    if (this.forbiddenBy) return `${this.forbiddenBy} turns questions off`;
    const ci = this.io.env.CI;
    if (ci !== undefined && ci !== "" && ci !== "false" && ci !== "0") return "CI is set, which turns questions off";
    if (!(this.io.stdin.isTTY && this.io.stderr.isTTY)) return "there is no terminal to ask";
    return undefined;
  }

  private async run<T>(ask: (p: Prompts, ctx: { input: NodeJS.ReadStream; output: NodeJS.WriteStream }) => Promise<T>): Promise<T> {
    const prompts = await import("@inquirer/prompts");
    try {
      return await ask(prompts, { input: this.io.stdin, output: this.io.stderr });
    } catch (err) {
      if (err instanceof Error && (err.name === "ExitPromptError" || err.name === "AbortPromptError")) {
        throw new MtlsError("ERR_CANCELLED", "cancelled", Exit.CANCELLED);
      }
      throw err;
    }
  }

  /** A usage error for a value that was neither given nor can be asked for. */
  missing(flag: string, what: string): MtlsError {
    return usageError("ERR_MISSING", `missing ${flag} (${what})`, `pass it on the command line (${this.whyNot ?? "mtls did not ask"})`);
  }

  input(message: string, opts: { default?: string; validate?: (v: string) => string | true | Promise<string | true> } = {}): Promise<string> {
    return this.run((p, ctx) =>
      p.input({ message, ...(opts.default !== undefined ? { default: opts.default } : {}), ...(opts.validate ? { validate: opts.validate } : {}) }, ctx),
    );
  }

  password(message: string, validate?: (v: string) => string | true): Promise<string> {
    return this.run((p, ctx) => p.password({ message, mask: "*", ...(validate ? { validate } : {}) }, ctx));
  }

  select<T extends string>(message: string, choices: Array<{ value: T; name: string }>): Promise<T> {
    return this.run((p, ctx) => p.select<T>({ message, choices }, ctx));
  }

  confirm(message: string, defaultValue = false): Promise<boolean> {
    return this.run((p, ctx) => p.confirm({ message, default: defaultValue }, ctx));
  }

  /**
   * Gate for destructive or costly actions: --yes proceeds, a terminal asks, anything else
   * (a script, CI) refuses with a usage error instead of going ahead on its own.
   */
  async confirmOrYes(message: string, yes: boolean | undefined): Promise<void> {
    if (yes) return;
    const whyNot = this.whyNot;
    if (whyNot) throw usageError("ERR_CONFIRMATION_REQUIRED", `this needs confirmation and ${whyNot}`, "pass --yes to confirm");
    if (!(await this.confirm(message))) throw new MtlsError("ERR_CANCELLED", "cancelled", Exit.CANCELLED);
  }
}
