import { existsSync } from "node:fs";
import { type Command, Option } from "commander";
import { usageError } from "../../../core/errors.js";
import type { OnboardResult } from "../../../core/index.js";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, collect, examplesHelp, exitCodesHelp, loadCore, type PassphraseOpts, parseDays, passphraseSource } from "../../flags.js";
import type { Styles } from "../../output.js";
import { askIssue } from "../../questions.js";

interface Opts extends PassphraseOpts {
  name?: string;
  contact?: string;
  pgpKey?: string;
  csr?: string;
  generate?: boolean;
  keyType: string;
  san?: string[];
  days?: number;
  out?: string;
  gatewayUrl?: string;
}

const render = (r: OnboardResult, s: Styles): string =>
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
    `  curl --cert chain.pem --key ${r.keyHeldBy === "bundle" ? "private-key.pem" : "<the key they made the CSR with>"} https://<your gateway>/`,
  ].join("\n");

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
    .addOption(new Option("--key-type <type>", "with --generate").choices(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]).default("ec-p256"))
    .option("--san <type:value>", "subject alternative name, repeatable: dns:, uri:, email:, ip:", collect)
    .option("--days <n>", "validity in days (default: the CA's policy)", parseDays)
    .option("--out <file>", "the bundle (default ./<partner>-<serial prefix>.zip.pgp)")
    .option("--gateway-url <url>", "the gateway URL written into the bundle's test commands");
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
        "2  answers missing and no terminal to ask (the flags are named)",
        "3  invalid id, key, CSR, SAN or validity; a subject outside the policy",
        "4  a CN or SAN belongs to another partner (nothing is registered)",
        "130  cancelled",
      ]),
    )
    .action(async (partnerId: string | undefined, opts: Opts) => {
      const core = await loadCore();
      let a = {
        partnerId,
        name: opts.name,
        contact: opts.contact,
        pgpKey: opts.pgpKey,
        csr: opts.csr,
        generate: opts.generate,
        keyType: opts.keyType,
        sans: opts.san,
        days: opts.days,
      };
      const missing = [!a.partnerId && "<partner-id>", !a.pgpKey && "--pgp-key <file>", !a.csr && !a.generate && "--csr <file> or --generate"].filter(
        Boolean,
      ) as string[];
      if (missing.length) {
        if (!ctx.prompt.interactive)
          throw usageError("ERR_MISSING", `missing ${missing.join(", ")}`, "pass them on the command line; the wizard only asks on a terminal");
        const p = ctx.prompt;
        const check = (fn: (v: string) => unknown) => (v: string) => {
          try {
            fn(v);
            return true as const;
          } catch (err) {
            return (err as Error).message;
          }
        };
        a.partnerId ??= await p.input("Partner id (e.g. acme-payments):", { validate: check(core.validatePartnerId) });
        a.name ??= (await p.input("Organisation (Enter to skip):")) || undefined;
        a.contact ??=
          (await p.input("Contact e-mail for the bundle (Enter to skip):", {
            validate: (v) => (v === "" || /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v) ? true : "an e-mail address"),
          })) || undefined;
        a.pgpKey ??= await p.input("Path of the partner's OpenPGP public key (.asc):", {
          validate: (v) => (existsSync(ctx.resolvePath(v)) ? true : `${v} does not exist`),
        });
        a = { ...a, ...(await askIssue(ctx, core, { ...a, outKey: "-" }, (await core.showCa({ pkiDir: ctx.pkiDir, now: ctx.now() })).policy.defaultDays)) };
        ctx.io.stderr.write(
          `\nOnboard ${a.partnerId}${a.name ? ` (${a.name})` : ""}: ${a.csr ? `sign CSR ${a.csr}` : `generate a ${a.keyType} key`}, SANs ${a.sans?.join(", ") || "from the CSR"}, ${a.days} days, bundle encrypted to ${a.pgpKey}\n`,
        );
        await ctx.prompt.confirmOrYes("Go ahead?", ctx.globals.yes);
      }
      const result = await core.onboardPartner({
        pkiDir: ctx.pkiDir,
        partnerId: a.partnerId as string,
        ...(a.name ? { name: a.name } : {}),
        ...(a.contact ? { contact: a.contact } : {}),
        ...(a.pgpKey ? { pgpKey: await ctx.readInput(a.pgpKey, "OpenPGP key", INPUT_LIMITS.pgpKey), pgpSource: a.pgpKey } : {}),
        ...(a.csr ? { csr: await ctx.readInput(a.csr, "CSR", INPUT_LIMITS.csr), csrSource: `CSR ${a.csr}` } : {}),
        ...(a.generate ? { generateKeyType: core.parseKeyType(a.keyType) } : {}),
        ...(a.sans?.length ? { sans: a.sans.map(core.parseSan) } : {}),
        ...(a.days ? { days: a.days } : {}),
        ...(opts.out ? { bundleOut: ctx.resolvePath(opts.out) } : {}),
        bundleDir: ctx.resolvePath("."),
        ...(opts.gatewayUrl ? { gatewayUrl: opts.gatewayUrl } : {}),
        passphrase: passphraseSource(ctx, opts),
        now: ctx.now(),
      });
      ctx.out.result(result, render);
    });
}
