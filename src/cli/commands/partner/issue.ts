import { dirname } from "node:path";
import { type Command, Option } from "commander";
import { Exit, usageError } from "../../../core/errors.js";
import type { IssueResult } from "../../../core/index.js";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, collect, examplesHelp, exitCodesHelp, flagValue, openWriteSession, type PassphraseOpts, parseDays } from "../../flags.js";
import { fields, type Styles, table } from "../../output.js";
import {
  addP12PasswordOptions,
  checkP12PasswordDestination,
  type P12PasswordOpts,
  profileOption,
  refuseUnusedP12Options,
  withP12Password,
} from "../../p12-flags.js";
import { askIssue, loadQuestionCore } from "../../questions.js";

interface Opts extends PassphraseOpts, P12PasswordOpts {
  p12?: string;
  csr?: string;
  generate?: boolean;
  keyType?: string;
  cn?: string;
  san?: string[];
  days?: number;
  out?: string;
  outLeaf?: string;
  outKey?: string;
  bundle?: string;
  armor?: boolean;
  gatewayUrl?: string;
  force?: boolean;
  batch?: string;
  keyDir?: string;
  keysOut?: string;
  allOrNothing?: boolean;
}

type Shown = Omit<IssueResult, "p12"> & { p12?: Omit<NonNullable<IssueResult["p12"]>, "password"> };

const render = (r: Shown, s: Styles): string =>
  fields(
    [
      ["serial", s.bold(r.serial)],
      ["partner", r.partnerId + (r.partnerRegistered ? s.dim(" (new)") : "")],
      ["subject", r.subject],
      ["SANs", r.sans.join(", ")],
      ["key", `${r.keyType} (${r.source === "csr" ? "partner's CSR" : "generated"})`],
      ["valid", `${r.notBefore} → ${r.notAfter}`],
      ["fingerprint", r.fingerprint],
      ["certificate", r.certPath],
      ["full chain", r.chainPath],
      [
        "for the client",
        r.outChain ? `${r.outChain} ${s.dim("(certificate + intermediate: what the partner's client presents, e.g. curl --cert)")}` : undefined,
      ],
      ["leaf only", r.outCert],
      ["private key", r.outKey],
      ["bundle", r.bundle ? `${r.bundle.path} (encrypted to ${r.bundle.recipientFingerprint}, signed by ${r.bundle.signerFingerprint})` : undefined],
      ["PKCS#12", r.p12 ? `${r.p12.file} in the bundle (${r.p12.profile} profile)` : undefined],
    ],
    s,
  );

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("issue")
    .description("issue a client certificate to a partner, from its CSR or with a generated key")
    .argument("[partner-id]", "partner id (registered on first issue): lowercase letters, digits, . _ -")
    .option("--csr <file>", "the partner's CSR, PEM or DER ('-' reads standard input)")
    .option("--generate", "generate the key pair here instead of signing a CSR")
    .addOption(
      new Option("--key-type <type>", "key type with --generate (default: ec-p256)").choices(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]),
    )
    .option("--cn <name>", "subject CN (replaces the CSR's subject)")
    .option("--san <type:value>", "subject alternative name, repeatable: dns:, uri:, email:, ip: (replaces the CSR's)", collect)
    .option("--days <n>", "validity in days (default: the CA's policy)", parseDays)
    .option("--out <file>", "also write what the partner's client presents here: the certificate followed by the intermediate (PEM)")
    .option("--out-leaf <file>", "also write the certificate alone (PEM), e.g. for a gateway's allow-list")
    .option("--out-key <file>", "with --generate: also write the private key here in the clear, mode 0600")
    .option("--bundle <file>", "with --generate: the encrypted delivery bundle (default when the partner has an OpenPGP key: ./<partner>-<serial>.zip.pgp)")
    .option("--armor", "ASCII-armored bundle")
    .option("--gateway-url <url>", "the gateway URL written into the bundle's test commands (http:// or https://)")
    .option("--force", "overwrite --out / --out-leaf / --out-key files")
    .option("--batch <file>", "issue every request of a JSON Lines file in one go (see README); no <partner-id> then")
    .option("--key-dir <dir>", "with --batch: where generated keys go (0600) when a line names no outKey")
    .addOption(
      new Option(
        "--keys-out <file>",
        "with --batch: generated keys go into this one new file (0600) instead, a JSON line each with partner, serial, key, certificate and chain",
      ).conflicts("keyDir"),
    )
    .option("--all-or-nothing", "with --batch: issue nothing when any line is invalid")
    .addOption(profileOption("--p12 <profile>", "with --generate: also put <partner>.p12 into the bundle (modern, or legacy-des for macOS / old Windows)"));
  addP12PasswordOptions(cmd);
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls partner issue acme --csr acme.csr",
        "mtls partner issue acme --generate --san uri:spiffe://example.org/partner/acme --out-key acme.key",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  issued",
        "2  missing or conflicting options; a bad --gateway-url, --san or --days",
        "3  invalid CSR or --cn, key policy, a SAN the CSR asks for, a validity over the CA's maximum; wrong passphrase",
        "4  --out/--out-leaf/--out-key exists (use --force); a CN or SAN belongs to another partner",
        "5  no PKI, lock held, unreadable file",
      ]),
    )
    .action(async (partnerId: string | undefined, opts: Opts) => {
      if (opts.batch) return renderBatch(ctx, opts.batch, await runIssueBatch(ctx, { ...opts, batch: opts.batch, ...(partnerId ? { partnerId } : {}) }));
      const result = await runIssue(ctx, { ...opts, ...(partnerId ? { partnerId } : {}) });
      for (const w of result.warnings) ctx.out.warn(w);
      if (!result.p12) return ctx.out.result(result as Shown, render);
      const { password, ...p12 } = result.p12;
      ctx.out.result(withP12Password(ctx, opts, { ...result, p12 }, password), render);
    });
}

export interface IssueOptions extends Opts {
  partnerId?: string;
}

/**
 * `mtls partner issue` (one certificate), in-process: asks what is missing when the context has a
 * terminal, signs, returns the result with the PKCS#12 password (the CLI decides where it goes).
 */
export async function runIssue(ctx: CliContext, opts: IssueOptions): Promise<IssueResult> {
  // Before the session and any progress line: the two name different sources of the key.
  if (opts.csr && opts.generate)
    throw usageError("ERR_USAGE", "--csr and --generate exclude each other", "pass --csr to sign the partner's request, or --generate to make a key pair");
  const partnerId = opts.partnerId;
  let a = { partnerId, csr: opts.csr, generate: opts.generate, keyType: opts.keyType, outKey: opts.outKey, cn: opts.cn, sans: opts.san, days: opts.days };
  const pki = await openWriteSession(ctx, opts);
  const questions = !partnerId || (!opts.csr && !opts.generate);
  if (questions && !ctx.prompt.interactive)
    throw ctx.prompt.missing(
      !partnerId ? "<partner-id>" : "--csr <file> or --generate",
      !partnerId ? "who the certificate is for" : "where the key comes from",
    );
  // The issuing module and what it imports, not the whole core (#21).
  const core = await loadIssueCore();
  if (questions) {
    a = { ...a, ...(await askIssue(ctx, await loadQuestionCore(), pki, a)) };
    ctx.io.stderr.write(
      `\nIssue a certificate to ${a.partnerId} (${a.csr ? `CSR ${a.csr}` : `generated ${a.keyType} key → ${a.outKey}`})${a.cn ? `, CN ${a.cn}` : ""}, ${a.days} days, SANs: ${a.sans?.join(", ") || "from the CSR"}\n`,
    );
    await ctx.prompt.confirmOrYes("Sign it?", ctx.globals.yes);
  }
  const keyType = a.keyType ?? "ec-p256";
  refuseUnusedP12Options(opts, Boolean(opts.p12), "--p12 <profile>");
  if (opts.p12) checkP12PasswordDestination(ctx, opts);
  return ctx.out.withProgress(a.generate ? `generating a ${keyType} key pair and signing…` : "checking the CSR and signing…", async () => {
    return core.issuePartnerCert(pki, {
      partnerId: a.partnerId as string,
      ...(a.csr ? { csr: await ctx.readInput(a.csr, "CSR", INPUT_LIMITS.csr), csrSource: `CSR ${a.csr}` } : {}),
      ...(a.generate ? { generateKeyType: core.parseKeyType(keyType) } : {}),
      ...(a.cn !== undefined ? { cn: a.cn } : {}),
      ...(a.sans?.length ? { sans: a.sans.map((s) => flagValue(() => core.parseSan(s))) } : {}),
      ...(a.days !== undefined ? { days: a.days } : {}),
      ...(opts.out ? { outChain: ctx.resolvePath(opts.out) } : {}),
      ...(opts.outLeaf ? { outCert: ctx.resolvePath(opts.outLeaf) } : {}),
      ...(a.outKey ? { outKey: ctx.resolvePath(a.outKey) } : {}),
      ...(opts.bundle ? { bundleOut: ctx.resolvePath(opts.bundle) } : {}),
      bundleDir: ctx.resolvePath("."),
      bundleArmor: Boolean(opts.armor),
      ...(opts.gatewayUrl ? { gatewayUrl: opts.gatewayUrl } : {}),
      ...(opts.p12 ? { p12Profile: core.parseP12Profile(opts.p12) } : {}),
      ...(opts.p12PasswordFile ? { p12PasswordFile: ctx.resolvePath(opts.p12PasswordFile) } : {}),
      force: Boolean(opts.force),
    });
  });
}

/** What issuing one certificate calls, from the modules that hold it. */
async function loadIssueCore() {
  const [issue, keys, sans, p12] = await Promise.all([
    import("../../../core/issue/issue.js"),
    import("../../../core/keys.js"),
    import("../../../core/sans.js"),
    import("../../../core/p12/p12.js"),
  ]);
  return { issuePartnerCert: issue.issuePartnerCert, parseKeyType: keys.parseKeyType, parseSan: sans.parseSan, parseP12Profile: p12.parseP12Profile };
}

type BatchResult = Awaited<ReturnType<typeof import("../../../core/issue/batch.js").issueBatch>>;

/** `mtls partner issue --batch <file>`, in-process: every line's outcome (the CLI exits 1 when one failed). */
export async function runIssueBatch(ctx: CliContext, opts: IssueOptions & { batch: string }): Promise<BatchResult> {
  const core = await import("../../../core/issue/batch.js");
  if (opts.partnerId || opts.csr || opts.generate)
    throw usageError("ERR_USAGE", "--batch takes every request from its file", "drop <partner-id>, --csr and --generate");
  const file = ctx.resolvePath(opts.batch);
  const pki = await openWriteSession(ctx, opts);
  const batch = (text: string) =>
    core.issueBatch(pki, {
      text,
      baseDir: dirname(file),
      ...(opts.keyDir ? { keyDir: ctx.resolvePath(opts.keyDir) } : {}),
      ...(opts.keysOut ? { keysOut: ctx.resolvePath(opts.keysOut) } : {}),
      allOrNothing: Boolean(opts.allOrNothing),
      onProgress: (done, total) => ctx.out.progress(`signed ${done}/${total}`),
    });
  const text = (await ctx.readInput(opts.batch, "batch file", INPUT_LIMITS.batchFile)).toString("utf8");
  return ctx.out.withProgress("", () => batch(text));
}

function renderBatch(ctx: CliContext, batchFile: string, result: BatchResult): void {
  ctx.out.result(result, (r, s) => {
    const failed = r.results.filter((x) => !x.ok);
    const head = `${s.ok(`${r.issued} issued`)}${r.failed ? `, ${s.bad(`${r.failed} failed`)}` : ""} from ${batchFile}`;
    if (!failed.length) return head;
    return `${head}\n${table(
      ["LINE", "PARTNER", "ERROR"],
      failed.map((x) => [String(x.line), x.partnerId ?? "", x.error?.message ?? ""]),
      s,
    )}`;
  });
  if (result.failed) ctx.out.setExit(Exit.CHECK_FAILED);
}
