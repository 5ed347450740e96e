import { type Command, Option } from "commander";
import { usageError } from "../../core/errors.js";
import type { NotifyParams, NotifyResult } from "../../core/index.js";
import { INPUT_LIMITS } from "../../core/input.js";
import type { CliContext } from "../context.js";
import { examplesHelp, exitCodesHelp, secretSource } from "../flags.js";
import { type Styles, table } from "../output.js";
import { openSession } from "../whole-core.js";

export interface NotifyOptions {
  smtp?: string;
  smtpTls?: "starttls" | "tls" | "none";
  smtpUser?: string;
  smtpPasswordFile?: string;
  smtpPassword?: string;
  smtpCa?: string;
  from?: string;
  webhook?: string;
  webhookSecretFile?: string;
  webhookSecret?: string;
  webhookCa?: string;
  partner?: string;
  overlapNotice?: string;
  dryRun?: boolean;
}

function render(r: NotifyResult, s: Styles): string {
  const verb = r.dryRun ? "would send" : "sent";
  if (!r.notices.length)
    return s.dim(`nothing to send${r.alreadySent ? ` (${r.alreadySent} due notice${r.alreadySent === 1 ? " was" : "s were"} sent before)` : ""}`);
  const rows = r.notices.map((n) => [
    n.partnerId,
    n.kind + (n.threshold !== undefined ? ` ${n.threshold}d` : ""),
    n.serial,
    [...n.to, ...n.cc].join(", "),
    n.channels.join("+"),
  ]);
  const head = `${r.dryRun ? s.warn(verb) : s.ok(verb)} ${r.notices.length} notice${r.notices.length === 1 ? "" : "s"}`;
  const texts = r.dryRun ? r.notices.map((n) => `\n--- ${n.partnerId}: ${n.subject}\n${n.text ?? ""}`) : [];
  return [head, table(["PARTNER", "NOTICE", "SERIAL", "RECIPIENTS", "CHANNELS"], rows, s), ...texts].join("\n");
}

/** The SMTP and webhook settings the flags name, with their secrets read from files or the environment. */
async function channels(ctx: CliContext, opts: NotifyOptions): Promise<Pick<NotifyParams, "smtp" | "webhook">> {
  const pem = async (f: string | undefined) => (f ? (await ctx.readInput(f, "CA certificate file", INPUT_LIMITS.certificates)).toString("utf8") : undefined);
  const out: Pick<NotifyParams, "smtp" | "webhook"> = {};
  if (opts.smtp) {
    const password = opts.smtpUser
      ? await secretSource(ctx, {
          file: opts.smtpPasswordFile,
          envVar: "MTLS_SMTP_PASSWORD",
          ask: () => ctx.prompt.password("SMTP password:"),
          missing: { message: "--smtp-user needs a password", hint: "set MTLS_SMTP_PASSWORD or pass --smtp-password-file <file>" },
        })()
      : undefined;
    const ca = await pem(opts.smtpCa);
    out.smtp = {
      url: opts.smtp,
      from: opts.from as string,
      ...(opts.smtpTls ? { tls: opts.smtpTls } : {}),
      ...(opts.smtpUser ? { user: opts.smtpUser } : {}),
      ...(password ? { password } : {}),
      ...(ca ? { ca } : {}),
    };
  }
  if (opts.webhook) {
    const secret = await secretSource(ctx, {
      file: opts.webhookSecretFile,
      envVar: "MTLS_WEBHOOK_SECRET",
      ask: () => ctx.prompt.password("Webhook signing secret:"),
      missing: { message: "a webhook needs a signing secret", hint: "set MTLS_WEBHOOK_SECRET or pass --webhook-secret-file <file>" },
    })();
    const ca = await pem(opts.webhookCa);
    out.webhook = { url: opts.webhook, secret, ...(ca ? { ca } : {}) };
  }
  return out;
}

/**
 * --smtp and --from, checked before anything is read or asked, and in dry runs too: a dry run is
 * how a cron line is tested, and it must fail where the real run would.
 */
async function checkSenderFlags(opts: NotifyOptions): Promise<void> {
  if (opts.smtp) {
    const { checkSmtpSettings } = await import("../../core/notify/smtp.js");
    checkSmtpSettings({
      url: opts.smtp,
      from: opts.from ?? "",
      ...(opts.smtpTls ? { tls: opts.smtpTls } : {}),
      ...(opts.smtpUser ? { user: opts.smtpUser } : {}),
    });
  } else if (opts.from !== undefined) {
    const { checkAddress } = await import("../../core/notify/address.js");
    checkAddress(opts.from, "--from address");
  }
}

/** `mtls notify`, in-process: the notices due, sent (or, with dryRun, only listed) and recorded. */
export async function runNotify(ctx: CliContext, opts: NotifyOptions): Promise<NotifyResult> {
  if (opts.smtpPassword !== undefined || opts.webhookSecret !== undefined)
    throw usageError(
      "ERR_SECRET_ARGV",
      "secrets are not accepted on the command line (other users can read them in the process list and your shell history)",
      "set MTLS_SMTP_PASSWORD / MTLS_WEBHOOK_SECRET or pass --smtp-password-file / --webhook-secret-file",
    );
  if (!opts.smtp && !opts.webhook && !opts.dryRun)
    throw usageError("ERR_NO_CHANNEL", "no channel to send on", "pass --smtp <url> --from <address> and/or --webhook <url>, or --dry-run to see what is due");
  await checkSenderFlags(opts);
  const { core, pki } = await openSession(ctx);
  return core.sendNotices(pki, {
    dryRun: Boolean(opts.dryRun),
    ...(opts.partner ? { partnerId: core.validatePartnerId(opts.partner) } : {}),
    overlapNoticeMs: core.parseDuration(opts.overlapNotice ?? "3d", "--overlap-notice"),
    ...(await channels(ctx, opts)),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("notify")
    .description("send renewal reminders and locked-out, overlap-ending and stalled-rotation notices to partners and operators (e-mail, webhook)")
    .addOption(new Option("--smtp <url>", "SMTP server, smtp://host[:port] (STARTTLS) or smtps://host[:port]").env("MTLS_SMTP"))
    .addOption(new Option("--smtp-tls <mode>", "starttls (required; default), tls (implicit), none (plaintext, no login)").choices(["starttls", "tls", "none"]))
    .option("--smtp-user <name>", "SMTP login; the password comes from MTLS_SMTP_PASSWORD or --smtp-password-file")
    .option("--smtp-password-file <file>", "read the SMTP password from the first line of <file>")
    .addOption(new Option("--smtp-password <value>").hideHelp())
    .option("--smtp-ca <file>", "CA certificate(s) of a private SMTP server (PEM)")
    .addOption(new Option("--from <address>", "sender address; partners send their CSR here when no operator is named").env("MTLS_NOTIFY_FROM"))
    .addOption(new Option("--webhook <url>", "POST each notice as JSON, signed with X-Mtls-Signature (HMAC-SHA256)").env("MTLS_WEBHOOK_URL"))
    .option("--webhook-secret-file <file>", "read the webhook signing secret from the first line of <file> (or MTLS_WEBHOOK_SECRET)")
    .addOption(new Option("--webhook-secret <value>").hideHelp())
    .option("--webhook-ca <file>", "CA certificate(s) of an https receiver with a private certificate (PEM)")
    .option("--partner <id>", "only this partner")
    .option("--overlap-notice <duration>", "tell partners when their rotation's overlap ends within this window", "3d")
    .option("--dry-run", "print what would be sent; send and record nothing")
    .addHelpText(
      "after",
      examplesHelp([
        "mtls notify --dry-run",
        "MTLS_SMTP_PASSWORD=… mtls notify --smtp smtp://mail.acme.example:587 --smtp-user pki --from pki@acme.example",
        "MTLS_WEBHOOK_SECRET=… mtls notify --webhook https://hooks.acme.example/mtls --json",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  every due notice was delivered (or nothing was due, or --dry-run)",
        "2  no channel and no --dry-run; a bad --smtp/--webhook URL or --overlap-notice; a secret on the command line; a login without TLS",
        "3  unknown partner, invalid --from, unreadable secret file",
        "5  a channel failed, or a delivery took over 30 s (named): what it delivered is recorded, the rest is retried by the next run; no PKI, lock held",
      ]),
    )
    .action(async (opts: NotifyOptions) => {
      const result = await runNotify(ctx, opts);
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(result, render);
    });
}
