import { type Command, Option } from "commander";
import { usageError } from "../../../core/errors.js";
import type { OnboardResult } from "../../../core/index.js";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, collect, examplesHelp, exitCodesHelp, flagValue, type PassphraseOpts, parseDays } from "../../flags.js";
import type { Styles } from "../../output.js";
import { openSession } from "../../whole-core.js";
import { runOnboardWizard } from "../../wizard.js";

interface Opts extends PassphraseOpts {
  name?: string;
  contact?: string;
  pgpKey?: string;
  csr?: string;
  generate?: boolean;
  keyType?: string;
  cn?: string;
  san?: string[];
  days?: number;
  out?: string;
  gatewayUrl?: string;
}

/** One POSIX shell word: the URL may hold & or ; (a query string), which the shell would act on. */
const shellWord = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

const render = (r: OnboardResult, s: Styles, gatewayUrl: string | undefined): string =>
  [
    `${s.ok("✔")} ${s.bold(r.partnerId)} onboarded: certificate ${r.serial}, valid until ${r.notAfter}`,
    "",
    s.bold("What to send the partner:"),
    `  1. ${r.bundlePath}${r.contact ? ` to ${r.contact}` : ""} (encrypted to their key ${r.recipientFingerprint})`,
    `  2. the home party's public key ${r.signerPublicKeyPath}; read them its fingerprint by phone:`,
    `     ${r.signerFingerprint}`,
    "",
    s.bold("How they open and test it:"),
    '  gpg --import home-party.asc && gpg --output bundle.zip --decrypt <bundle>   (look for "Good signature")',
    `  curl --cert chain.pem --key ${r.keyHeldBy === "bundle" ? "private-key.pem" : "<the key they made the CSR with>"} ${shellWord(gatewayUrl ?? "https://<your gateway>/")}`,
  ].join("\n");

export interface PartnerOnboardOptions extends Opts {
  partnerId?: string;
}

/**
 * `mtls partner onboard`, in-process: asks what is missing when the context has a terminal (the
 * wizard), otherwise names the missing flags; then one transaction registers, issues and writes the bundle.
 */
export async function runPartnerOnboard(ctx: CliContext, opts: PartnerOnboardOptions): Promise<OnboardResult> {
  const { core, pki } = await openSession(ctx, opts);
  // A bad flag is refused before the wizard asks anything.
  if (opts.gatewayUrl) core.checkGatewayUrl(opts.gatewayUrl);
  let a = {
    partnerId: opts.partnerId,
    name: opts.name,
    contact: opts.contact,
    pgpKey: opts.pgpKey,
    csr: opts.csr,
    generate: opts.generate,
    keyType: opts.keyType,
    cn: opts.cn,
    sans: opts.san,
    days: opts.days,
  };
  const missing = [!a.partnerId && "<partner-id>", !a.pgpKey && "--pgp-key <file>", !a.csr && !a.generate && "--csr <file> or --generate"].filter(
    Boolean,
  ) as string[];
  if (missing.length) {
    const whyNot = ctx.prompt.whyNot;
    if (whyNot) throw usageError("ERR_MISSING", `missing ${missing.join(", ")}`, `pass them on the command line (${whyNot})`);
    a = { ...a, ...(await runOnboardWizard(ctx, core, pki, a)) };
  }
  // The policy check the wizard applies as days are typed, for flags too: before anything is written.
  if (a.days !== undefined) core.checkValidityDays(a.days, await core.readIssueLimits(pki));
  // On a terminal the passphrase is asked (and asked again after a typo) before any work starts.
  if (ctx.prompt.interactive) await pki.passphrase?.();
  return ctx.out.withProgress("registering, issuing and writing the encrypted bundle…", async () => {
    return core.onboardPartner(pki, {
      partnerId: a.partnerId as string,
      ...(a.name ? { name: a.name } : {}),
      ...(a.contact ? { contact: a.contact } : {}),
      ...(a.pgpKey ? { pgpKey: await ctx.readInput(a.pgpKey, "OpenPGP key", INPUT_LIMITS.pgpKey), pgpSource: a.pgpKey } : {}),
      ...(a.csr ? { csr: await ctx.readInput(a.csr, "CSR", INPUT_LIMITS.csr), csrSource: `CSR ${a.csr}` } : {}),
      ...(a.generate ? { generateKeyType: core.parseKeyType(a.keyType ?? "ec-p256") } : {}),
      ...(a.cn !== undefined ? { cn: a.cn } : {}),
      ...(a.sans?.length ? { sans: a.sans.map((s) => flagValue(() => core.parseSan(s))) } : {}),
      ...(a.days ? { days: a.days } : {}),
      ...(opts.out ? { bundleOut: ctx.resolvePath(opts.out) } : {}),
      bundleDir: ctx.resolvePath("."),
      ...(opts.gatewayUrl ? { gatewayUrl: opts.gatewayUrl } : {}),
    });
  });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("onboard")
    .description("the onboarding wizard: register a partner, issue its certificate, write its encrypted bundle")
    .argument("[partner-id]", "partner id: lowercase letters, digits, . _ -")
    .option("--name <org>", "the partner's organisation")
    .option("--contact <email>", "who receives the bundle")
    .option("--pgp-key <file>", "the partner's OpenPGP public key")
    .option("--csr <file>", "the partner's CSR (it keeps its key)")
    .option("--generate", "generate the key pair here (it travels only inside the encrypted bundle)")
    .addOption(new Option("--key-type <type>", "with --generate (default: ec-p256)").choices(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]))
    .option("--cn <name>", "subject CN (replaces the CSR's subject; default for --generate: the partner id)")
    .option("--san <type:value>", "subject alternative name, repeatable: dns:, uri:, email:, ip:", collect)
    .option("--days <n>", "validity in days (default: the CA's policy)", parseDays)
    .option("--out <file>", "the bundle (default ./<partner>-<serial prefix>.zip.pgp)")
    .option("--gateway-url <url>", "the gateway URL written into the bundle's test commands (http:// or https://)");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls partner onboard                      # on a terminal: answers the questions",
        "mtls partner onboard acme --name 'Acme' --contact pki@acme.example --pgp-key acme.asc --csr acme.csr",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  onboarded",
        "2  answers missing and no terminal to ask (the flags are named); a bad --gateway-url, --san or --days",
        "3  invalid id, name, contact, key or CSR, a SAN the CSR asks for, a validity over the CA's maximum; a subject outside the policy",
        "4  a CN or SAN belongs to another partner (nothing is registered)",
        "130  cancelled",
      ]),
    )
    .action(async (partnerId: string | undefined, opts: Opts) => {
      const result = await runPartnerOnboard(ctx, { ...opts, ...(partnerId ? { partnerId } : {}) });
      ctx.out.result(result, (r, st) => render(r, st, opts.gatewayUrl));
    });
}
