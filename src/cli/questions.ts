// Questions asked on a terminal when `partner issue` (and the onboarding wizard) lack values.
// Each answer is validated as it is typed, with the same core checks the command applies, so an
// answer the command would refuse never gets past its prompt.
import { existsSync } from "node:fs";
import { INPUT_LIMITS } from "../core/input.js";
import type { Pki } from "../core/session.js";
import type { CliContext } from "./context.js";
import { parseDays } from "./flags.js";

/** The checks the questions run, from the modules that hold them (not the whole core, #21). */
export async function loadQuestionCore() {
  const [check, validity, ids, keys, sans] = await Promise.all([
    import("../core/issue/check.js"),
    import("../core/issue/validity.js"),
    import("../core/ids.js"),
    import("../core/keys.js"),
    import("../core/sans.js"),
  ]);
  return {
    checkIssueRequest: check.checkIssueRequest,
    readIssueLimits: check.readIssueLimits,
    checkCn: validity.checkCn,
    checkValidityDays: validity.checkValidityDays,
    validatePartnerId: ids.validatePartnerId,
    KEY_TYPES: keys.KEY_TYPES,
    parseSan: sans.parseSan,
  };
}
type Core = Awaited<ReturnType<typeof loadQuestionCore>>;
export type IssueLimits = Awaited<ReturnType<Core["readIssueLimits"]>>;

/** A prompt validator from a core check: its message, then its hint (which states the rule). */
export const check =
  (fn: (v: string) => unknown) =>
  async (v: string): Promise<string | true> => {
    try {
      await fn(v);
      return true;
    } catch (err) {
      const e = err as { message: string; hint?: string };
      return e.hint ? `${e.message}: ${e.hint}` : e.message;
    }
  };

export interface IssueAnswers {
  partnerId?: string;
  csr?: string;
  generate?: boolean;
  keyType?: string;
  outKey?: string;
  cn?: string;
  sans?: string[];
  days?: number;
}

export function parseSanList(core: Core, text: string): string[] {
  const items = text
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  for (const i of items) core.parseSan(i);
  return items;
}

/** Validity in the duration syntax of --days ("90", "90d", "12w"), held to the CA's policy. */
export function daysWithinPolicy(core: Core, text: string, limits: IssueLimits): number {
  const days = parseDays(text.trim());
  core.checkValidityDays(days, limits);
  return days;
}

async function askKeySource(ctx: CliContext, core: Core, pki: Pki, out: IssueAnswers): Promise<string | undefined> {
  const p = ctx.prompt;
  const how = await p.select("How does the partner get its key?", [
    { value: "csr", name: "The partner sent a CSR (it keeps its private key)" },
    { value: "generate", name: "Generate the key pair here" },
  ]);
  if (how === "generate") {
    out.generate = true;
    return undefined;
  }
  let subject: string | undefined;
  out.csr = await p.input("Path of the CSR file:", {
    validate: check(async (v) => {
      if (!existsSync(ctx.resolvePath(v))) throw new Error(`${v} does not exist`);
      const checked = await core.checkIssueRequest(pki, {
        partnerId: out.partnerId as string,
        csr: await ctx.readInput(v, "CSR", INPUT_LIMITS.csr),
        csrSource: `CSR ${v}`,
      });
      subject = checked.subject;
    }),
  });
  return subject;
}

/** Fills in what is missing, asking one question per value; answers are checked against the session's CA and policy. */
export async function askIssue(ctx: CliContext, core: Core, pki: Pki, a: IssueAnswers): Promise<IssueAnswers> {
  const limits = await core.readIssueLimits(pki);
  const p = ctx.prompt;
  const out = { ...a };
  out.partnerId ??= await p.input("Partner id (e.g. acme-payments):", { validate: check(core.validatePartnerId) });
  const csrSubject = !out.csr && !out.generate ? await askKeySource(ctx, core, pki, out) : undefined;
  if (out.generate) {
    out.keyType ??= await p.select(
      "Key type:",
      core.KEY_TYPES.map((k) => ({ value: k, name: k })),
    );
    out.outKey ??= await p.input("Write the private key (mode 0600) to:", {
      default: `${out.partnerId}.key`,
      validate: (v) => (existsSync(ctx.resolvePath(v)) ? `${v} exists` : true),
    });
  }
  if (out.cn === undefined) {
    const keeps = out.generate ? out.partnerId : (csrSubject ?? "the CSR's subject");
    const cn = await p.input(`Subject CN (Enter for ${keeps}):`, { validate: check((v) => v === "" || core.checkCn(v)) });
    if (cn !== "") out.cn = cn;
  }
  if (out.sans === undefined) {
    const text = await p.input(
      `Subject alternative names (dns:…, uri:spiffe://…, email:…, ip:…), comma-separated${out.csr ? "; empty keeps the CSR's" : ""}:`,
      { validate: check((v) => parseSanList(core, v)) },
    );
    const list = parseSanList(core, text);
    if (list.length || out.generate) out.sans = list;
  }
  if (out.days === undefined) {
    const text = await p.input(`Validity (days, or e.g. 12w; at most ${limits.maxDays} days):`, {
      default: String(limits.defaultDays),
      validate: check((v) => daysWithinPolicy(core, v, limits)),
    });
    out.days = daysWithinPolicy(core, text, limits);
  }
  return out;
}
