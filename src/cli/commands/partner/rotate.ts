import { type Command, Option } from "commander";
import { usageError } from "../../../core/errors.js";
import type { FinishResult, RotateResult } from "../../../core/index.js";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts, parseDays } from "../../flags.js";
import { fields, type Styles, table } from "../../output.js";
import { openSession } from "../../whole-core.js";

interface Opts extends PassphraseOpts {
  csr?: string;
  generate?: boolean;
  keyType?: string;
  reuseKey?: boolean;
  overlap?: string;
  serial?: string;
  days?: number;
  out?: string;
  outLeaf?: string;
  outKey?: string;
  bundle?: string;
  armor?: boolean;
  gatewayUrl?: string;
  force?: boolean;
  finish?: boolean;
  now?: boolean;
}

const renderRotated = (r: RotateResult, s: Styles): string =>
  fields(
    [
      ["partner", r.partnerId],
      ["old serial", `${r.oldSerial} ${s.dim(`(valid until the overlap ends, then revoked as superseded; expires ${r.oldNotAfter})`)}`],
      ["new serial", s.bold(r.newSerial)],
      ["overlap until", r.overlapUntil],
      ["new certificate", `${r.issued.chainPath} ${s.dim(`(valid until ${r.newNotAfter})`)}`],
      ["bundle", r.bundlePath],
      ["private key", r.issued.outKey],
      [
        "next",
        `when the partner uses the new certificate: mtls partner rotate --finish ${r.partnerId} (or let the scheduled --finish do it after ${r.overlapUntil})`,
      ],
    ],
    s,
  );

const pendingLine = (p: FinishResult["pending"][number]): string =>
  p.reason === "in-overlap"
    ? `${p.partnerId}: ${p.serial} stays valid until ${p.overlapUntil}`
    : `${p.partnerId}: not finished: successor ${p.successor} ${p.reason === "successor-revoked" ? "was revoked" : "expired"}, so ${p.serial} stays valid; rotate ${p.partnerId} again`;

function renderFinished(r: FinishResult, s: Styles): string {
  const done = r.finished.length
    ? table(
        ["PARTNER", "REVOKED (SUPERSEDED)", "SUCCESSOR", "OVERLAP UNTIL"],
        r.finished.map((f) => [f.partnerId, f.serial, f.successor, f.overlapUntil + (f.early ? s.dim(" (ended early)") : "")]),
        s,
      )
    : s.dim("no rotation is due: nothing revoked, no CRL published");
  const crls = r.crls.length ? `\n${s.ok("published")} ${r.crls.map((c) => `${c.issuer} CRL #${c.number}`).join(", ")}` : "";
  const pending = r.pending.length ? `\n${r.pending.map(pendingLine).join("\n")}` : "";
  return done + crls + pending;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("rotate")
    .description("issue a partner's successor certificate with an overlap, or finish rotations whose overlap ended")
    .argument("[partner-id]", "the partner (with --finish: only this partner's rotations)")
    .option("--csr <file>", "Option A: the partner's new CSR ('-' reads standard input); its key must be new unless --reuse-key")
    .option("--generate", "Option B: generate the new key here and deliver it in an encrypted bundle, like the first issue")
    .addOption(
      new Option("--key-type <type>", "key type with --generate (default: ec-p256)").choices(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]),
    )
    .option("--reuse-key", "accept a CSR with the old certificate's public key (warns)")
    .option("--overlap <duration>", "how long the old certificate stays valid next to the new one (default: the policy's, 14d)")
    .option("--serial <serial>", "the certificate to succeed, when the partner has several valid ones")
    .option("--days <n>", "validity of the new certificate in days (default: the CA's policy)", parseDays)
    .option("--out <file>", "also write the new certificate followed by the intermediate (PEM)")
    .option("--out-leaf <file>", "also write the new certificate alone (PEM)")
    .option("--out-key <file>", "with --generate: also write the new private key here in the clear, mode 0600")
    .option("--bundle <file>", "with --generate: the encrypted delivery bundle (default ./<partner>-<serial>.zip.pgp)")
    .option("--armor", "ASCII-armored bundle")
    .option("--gateway-url <url>", "the gateway URL written into the bundle's test commands (http:// or https://)")
    .option("--force", "overwrite --out / --out-leaf / --out-key / --bundle files")
    .option(
      "--finish",
      "revoke (reason superseded) every superseded certificate whose overlap has ended, and publish the CRLs once; one whose successor expired or was revoked stays valid (reported as pending)",
    )
    .option("--now", "with --finish: end the overlaps now instead of waiting (asks for confirmation, or --yes)");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls partner rotate acme --csr acme-2027.csr --overlap 14d",
        "mtls partner rotate acme --generate --json",
        "mtls partner rotate --finish            # from cron or CI, e.g. daily",
        "mtls partner rotate --finish acme --now --yes",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  rotated; or finished (also when nothing was due)",
        "2  conflicting options; a bad --gateway-url or --overlap; several valid certificates and no --serial; --now without --yes or a terminal",
        "3  invalid CSR, a CSR with other names or the old key (without --reuse-key), a successor expiring before the overlap ends (use a longer --days), unknown partner or serial, wrong passphrase",
        "4  already superseded or revoked, partner offboarded, an output file exists (use --force)",
        "5  no PKI, lock held, unreadable file",
      ]),
    )
    .action(async (partnerId: string | undefined, opts: Opts) => {
      const o = { ...opts, ...(partnerId ? { partnerId } : {}) };
      const result = opts.finish ? await runPartnerRotateFinish(ctx, o) : await runPartnerRotate(ctx, o);
      for (const w of result.warnings) ctx.out.warn(w);
      if ("finished" in result) ctx.out.result(result, renderFinished);
      else ctx.out.result(result, renderRotated);
    });
}

export interface PartnerRotateOptions extends Opts {
  /** The partner (with finish: only this partner's rotations). */
  partnerId?: string;
}

/** `mtls partner rotate <partner>`, in-process: the successor certificate, issued with an overlap. */
export async function runPartnerRotate(ctx: CliContext, opts: PartnerRotateOptions): Promise<RotateResult> {
  const { core, pki } = await openSession(ctx, opts);
  const { partnerId } = opts;
  if (opts.now) throw usageError("ERR_USAGE", "--now ends overlaps: it goes with --finish", "mtls partner rotate --finish <partner-id> --now");
  if (!partnerId) throw ctx.prompt.missing("<partner-id>", "whose certificate to rotate");
  if (Boolean(opts.csr) === Boolean(opts.generate))
    throw usageError("ERR_USAGE", "a rotation needs exactly one of --csr <file> (the partner's new CSR) and --generate", "see mtls partner rotate --help");
  ctx.out.progress(opts.generate ? "generating the new key pair and signing…" : "checking the CSR and signing…");
  const result = await core.rotatePartner(pki, {
    partnerId,
    ...(opts.serial ? { serial: core.parseSerial(opts.serial) } : {}),
    ...(opts.csr ? { csr: await ctx.readInput(opts.csr, "CSR", INPUT_LIMITS.csr), csrSource: `CSR ${opts.csr}` } : {}),
    ...(opts.generate ? { generateKeyType: core.parseKeyType(opts.keyType ?? "ec-p256") } : {}),
    reuseKey: Boolean(opts.reuseKey),
    ...(opts.overlap ? { overlapMs: core.parseDuration(opts.overlap, "--overlap") } : {}),
    ...(opts.days !== undefined ? { days: opts.days } : {}),
    ...(opts.out ? { outChain: ctx.resolvePath(opts.out) } : {}),
    ...(opts.outLeaf ? { outCert: ctx.resolvePath(opts.outLeaf) } : {}),
    ...(opts.outKey ? { outKey: ctx.resolvePath(opts.outKey) } : {}),
    ...(opts.bundle ? { bundleOut: ctx.resolvePath(opts.bundle) } : {}),
    bundleDir: ctx.resolvePath("."),
    bundleArmor: Boolean(opts.armor),
    ...(opts.gatewayUrl ? { gatewayUrl: opts.gatewayUrl } : {}),
    force: Boolean(opts.force),
  });
  ctx.out.progress("");
  return result;
}

/**
 * `mtls partner rotate --finish`, in-process: revokes (superseded) what rotations replaced once
 * their overlap ended, or now (confirmed, or --yes from the context).
 */
export async function runPartnerRotateFinish(ctx: CliContext, opts: PartnerRotateOptions): Promise<FinishResult> {
  const { core, pki } = await openSession(ctx, opts);
  const creating = [opts.csr, opts.generate, opts.serial, opts.overlap, opts.reuseKey, opts.outKey, opts.bundle].some((v) => v !== undefined);
  if (creating)
    throw usageError(
      "ERR_USAGE",
      "--finish revokes what rotations superseded; it issues nothing",
      "drop --csr, --generate, --serial, --overlap and the output options",
    );
  if (opts.now)
    await ctx.prompt.confirmOrYes(`End the overlap of ${opts.partnerId ?? "every open rotation"} now and revoke the superseded certificates?`, ctx.globals.yes);
  return core.finishRotations(pki, { ...(opts.partnerId ? { partnerId: opts.partnerId } : {}), early: Boolean(opts.now) });
}
