import { type Command, Option } from "commander";
import { usageError } from "../../../core/errors.js";
import type { InitCaResult } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, checkPublishDir, examplesHelp, exitCodesHelp, newPassphrase, type PassphraseOpts, parseDays } from "../../flags.js";
import { fields, type Styles } from "../../output.js";
import { tokenAccessFor } from "../../pin.js";
import { openSession } from "../../whole-core.js";

/** The options as on the command line; commander fills in the defaults `--help` shows. */
export interface CaInitOptions extends PassphraseOpts {
  name: string;
  org?: string;
  keyType: string;
  rootDays: number;
  intermediateDays: number;
  intermediate: boolean;
  crlUrl?: string;
  ocspUrl?: string;
  defaultDays: number;
  maxDays: number;
  warnDays: number;
  crlDays: number;
  crlPublishDir?: string;
  insecureNoPassphrase?: boolean;
  keyStore?: string;
  rootKeyStore?: string;
  /** --intermediate-days was typed, not commander's default: --no-intermediate makes it meaningless. */
  intermediateDaysGiven?: boolean;
}

function render(r: InitCaResult, s: Styles): string {
  const ca = (label: string, c: InitCaResult["root"]) =>
    fields(
      [
        [label, c.subject],
        [
          "key",
          c.keyUri
            ? `${c.keyType}, in a PKCS#11 token, not extractable (${c.keyUri})`
            : `${c.keyType}, ${r.keyEncrypted ? "encrypted" : s.warn("NOT encrypted")} (${c.keyPath})`,
        ],
        ["valid until", c.notAfter],
        ["fingerprint", c.fingerprint],
      ],
      s,
    );
  return [
    ca("root", r.root),
    ...(r.intermediate ? [ca("intermediate", r.intermediate)] : []),
    fields(
      [
        ["gateway CA bundle", r.caBundlePath],
        ["gateway CRL bundle", r.crlBundlePath],
      ],
      s,
    ),
  ].join("\n\n");
}

/** `mtls ca init`, in-process: the new passphrase from the shared sourcing, then the CA and its first CRLs. */
export async function runCaInit(ctx: CliContext, opts: CaInitOptions): Promise<InitCaResult> {
  if (!opts.intermediate && opts.intermediateDaysGiven)
    throw usageError(
      "ERR_USAGE",
      "--no-intermediate and --intermediate-days exclude each other",
      "a single-tier CA has no intermediate: drop --intermediate-days",
    );
  if (opts.crlPublishDir) await checkPublishDir(ctx.resolvePath(opts.crlPublishDir));
  const { core, pki } = await openSession(ctx);
  const passphrase = opts.insecureNoPassphrase ? undefined : await newPassphrase(ctx, opts, core.MIN_PASSPHRASE_LENGTH);
  ctx.out.info(`creating the CA in ${pki.location} ...`);
  return ctx.out.withProgress(`generating ${opts.keyType} keys, signing the CA certificates and the first CRLs…`, async () => {
    return core.initCa(pki, {
      name: opts.name,
      ...(opts.org ? { org: opts.org } : {}),
      keyType: core.parseKeyType(opts.keyType),
      rootDays: opts.rootDays,
      intermediateDays: opts.intermediateDays,
      intermediate: opts.intermediate,
      ...(opts.crlUrl ? { crlUrl: opts.crlUrl } : {}),
      ...(opts.ocspUrl ? { ocspUrl: opts.ocspUrl } : {}),
      ...(passphrase !== undefined ? { passphrase } : {}),
      insecureNoPassphrase: Boolean(opts.insecureNoPassphrase),
      defaultDays: opts.defaultDays,
      maxDays: opts.maxDays,
      warnDays: opts.warnDays,
      crlDays: opts.crlDays,
      ...(opts.crlPublishDir ? { crlPublishDir: ctx.resolvePath(opts.crlPublishDir) } : {}),
      ...(opts.keyStore !== undefined ? { keyStore: opts.keyStore } : {}),
      ...(opts.rootKeyStore !== undefined ? { rootKeyStore: opts.rootKeyStore } : {}),
      tokens: tokenAccessFor(ctx, opts),
    });
  });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("init")
    .description("create the private CA: a root and an issuing intermediate, keys encrypted at rest")
    .option("--name <name>", 'CA base name: "<name> Root CA", "<name> Intermediate CA"', "mtls")
    .option("--org <org>", "organisation (O) of the CA certificates")
    .addOption(new Option("--key-type <type>", "CA key type").choices(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]).default("ec-p256"))
    .option("--root-days <n>", "root validity in days", parseDays, 3650)
    .option("--intermediate-days <n>", "intermediate validity in days", parseDays, 1825)
    .option("--no-intermediate", "single tier: the root signs partner certificates")
    .option("--crl-url <url>", "CRL Distribution Point written into every partner certificate")
    .option("--ocsp-url <url>", "OCSP responder (Authority Information Access) written into every partner certificate")
    .option("--default-days <n>", "partner certificate validity when --days is not given", parseDays, 90)
    .option("--max-days <n>", "longest partner certificate validity allowed", parseDays, 398)
    .option("--warn-days <n>", "certificates expiring within this many days are reported as expiring", parseDays, 30)
    .option("--crl-days <n>", "validity of published CRLs (nextUpdate) in days, at most 366", parseDays, 7)
    .option("--crl-publish-dir <dir>", "also copy every published CRL into this directory (a web root, a gateway's config dir)")
    .option("--insecure-no-passphrase", "store the CA keys unencrypted (not recommended)")
    .option(
      "--key-store <uri>",
      "generate the CA keys inside a PKCS#11 token (RFC 7512 URI naming the token and module-path); PIN from MTLS_PKCS11_PIN or --pin-file",
    )
    .option("--root-key-store <uri>", "generate the root key in this token instead (an offline root); the intermediate follows --key-store, or stays a file");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        'MTLS_CA_PASSPHRASE=... mtls ca init --name "Acme Partner" --org "Acme Corp" --crl-url http://pki.acme.example/crl/issuing.crl',
        "MTLS_PKCS11_PIN=... mtls ca init --name Acme --key-store 'pkcs11:token=acme-ca?module-path=/usr/lib/softhsm/libsofthsm2.so'",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  CA created",
        "2  an invalid option value, or options that conflict; no passphrase given and no terminal to ask",
        "3  weak passphrase",
        "4  a CA (or other files) already in the directory, or a file in its place",
        "5  PKCS#11: module missing, token absent, wrong PIN, mechanism unsupported, or PKCS#11 support not installed",
      ]),
    )
    .action(async (opts: CaInitOptions) => {
      const result = await runCaInit(ctx, { ...opts, intermediateDaysGiven: cmd.getOptionValueSource("intermediateDays") === "cli" });
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, render);
      ctx.out.success(`CA ready in ${result.pkiDir}`);
    });
}
