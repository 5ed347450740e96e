// The onboarding wizard's questions and summary. Every answer is checked as it is typed with the
// checks `partner onboard` itself applies (id rule, OpenPGP key policy, CSR, CN, SANs, validity
// against the CA's policy), so "Go ahead?" is only asked about a request that will be accepted.
import { existsSync } from "node:fs";
import { INPUT_LIMITS } from "../core/input.js";
import type { Pki } from "../core/session.js";
import type { CliContext } from "./context.js";
import { gnupgAlgorithmName } from "./pgp-names.js";
import { askIssue, check, type IssueAnswers } from "./questions.js";
import { safeText } from "./terminal-safe.js";

type Core = typeof import("../core/index.js");

export interface OnboardAnswers extends IssueAnswers {
  name?: string;
  contact?: string;
  pgpKey?: string;
}

/** "0123ABCD…" as GnuPG prints it, in groups of four, to be read out over the phone. */
export const groupFingerprint = (hex: string): string => (hex.match(/.{1,4}/g) ?? []).join(" ");

async function describeKey(ctx: CliContext, core: Core, path: string): Promise<string> {
  const { info } = await core.checkRecipientKey(await ctx.readInput(path, "OpenPGP key", INPUT_LIMITS.pgpKey), path, ctx.now());
  const algo = [gnupgAlgorithmName(info.algorithm), gnupgAlgorithmName(info.encryptionAlgorithm)].filter(Boolean).join("/");
  return `${groupFingerprint(info.fingerprint)} (${algo}${info.userIds[0] ? `, ${info.userIds[0]}` : ""})`;
}

/** Asks for every missing answer, shows the summary and asks to go ahead. */
export async function runOnboardWizard(ctx: CliContext, core: Core, pki: Pki, given: OnboardAnswers): Promise<OnboardAnswers> {
  const p = ctx.prompt;
  const a = { ...given };
  a.partnerId ??= await p.input("Partner id (e.g. acme-payments):", { validate: check(core.validatePartnerId) });
  a.name ??= (await p.input("Organisation (Enter to skip):", { validate: check((v) => v === "" || core.checkPartnerName(v)) })) || undefined;
  a.contact ??=
    (await p.input("Contact e-mail for the bundle (Enter to skip):", { validate: check((v) => v === "" || core.checkPartnerContact(v)) })) || undefined;
  a.pgpKey ??= await p.input("Path of the partner's OpenPGP public key (.asc):", {
    validate: check(async (v) => {
      if (!existsSync(ctx.resolvePath(v))) throw new Error(`${v} does not exist`);
      await core.checkRecipientKey(await ctx.readInput(v, "OpenPGP key", INPUT_LIMITS.pgpKey), v, ctx.now());
    }),
  });
  Object.assign(a, await askIssue(ctx, core, pki, { ...a, outKey: "-" }));
  const key = await describeKey(ctx, core, a.pgpKey);
  // The key's user ID and the answers are shown raw nowhere: a partner chose the user ID.
  ctx.io.stderr.write(
    safeText(
      [
        "",
        `Onboard ${a.partnerId}${a.name ? ` (${a.name})` : ""}: ${a.csr ? `sign CSR ${a.csr}` : `generate a ${a.keyType ?? "ec-p256"} key`}${a.cn ? `, CN ${a.cn}` : ""}, SANs ${a.sans?.join(", ") || "from the CSR"}, ${a.days} days`,
        `  bundle encrypted to OpenPGP key ${key}`,
        "  compare this fingerprint with the partner by phone before going ahead",
        "",
      ].join("\n"),
    ),
  );
  await ctx.prompt.confirmOrYes("Go ahead?", ctx.globals.yes);
  return a;
}
