// Questions asked on a terminal when `partner issue` (and the onboarding wizard) lack values.
// Each answer is validated as it is typed, with the same rules the core applies.
import { existsSync } from "node:fs";
import type { CliContext } from "./context.js";

type Core = typeof import("../core/index.js");

const check =
  (fn: (v: string) => unknown) =>
  (v: string): string | true => {
    try {
      fn(v);
      return true;
    } catch (err) {
      return (err as Error).message;
    }
  };

export interface IssueAnswers {
  partnerId?: string;
  csr?: string;
  generate?: boolean;
  keyType?: string;
  outKey?: string;
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

/** Fills in what is missing, asking one question per value. */
export async function askIssue(ctx: CliContext, core: Core, a: IssueAnswers, defaultDays: number): Promise<IssueAnswers> {
  const p = ctx.prompt;
  const out = { ...a };
  out.partnerId ??= await p.input("Partner id (e.g. acme-payments):", { validate: check(core.validatePartnerId) });
  if (!out.csr && !out.generate) {
    const how = await p.select("How does the partner get its key?", [
      { value: "csr", name: "The partner sent a CSR (it keeps its private key)" },
      { value: "generate", name: "Generate the key pair here" },
    ]);
    if (how === "csr") out.csr = await p.input("Path of the CSR file:", { validate: (v) => (existsSync(ctx.resolvePath(v)) ? true : `${v} does not exist`) });
    else out.generate = true;
  }
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
  if (out.sans === undefined) {
    const text = await p.input(
      `Subject alternative names (dns:…, uri:spiffe://…, email:…, ip:…), comma-separated${out.csr ? "; empty keeps the CSR's" : ""}:`,
      {
        validate: check((v) => parseSanList(core, v)),
      },
    );
    const list = parseSanList(core, text);
    if (list.length || out.generate) out.sans = list;
  }
  out.days ??= Number(
    await p.input("Validity in days:", { default: String(defaultDays), validate: (v) => (/^\d+$/.test(v) && Number(v) > 0 ? true : "a whole number of days") }),
  );
  return out;
}
