// The one adapter of nodemailer: e-mail over SMTP with STARTTLS or implicit TLS and optional
// authentication. The password lives only in this module's transport; errors are scrubbed of it
// (and of its base64 forms, which an AUTH exchange could echo) before they leave.
import { isIP } from "node:net";
import type { Transporter } from "nodemailer";
import { envError, usageError } from "../errors.js";
import { checkAddress } from "./address.js";
import { DELIVERY_DEADLINE_MS, pastDeadline } from "./deadline.js";

export type SmtpTls = "starttls" | "tls" | "none";

export interface SmtpSettings {
  /** smtp://host[:port] or smtps://host[:port]; no user, password, path or query. */
  url: string;
  /** starttls (required, the default), tls (implicit, smtps), none (plaintext, no credentials). */
  tls?: SmtpTls;
  user?: string;
  /** Never from argv: the CLI reads it from MTLS_SMTP_PASSWORD or a file. */
  password?: string;
  from: string;
  /** PEM of the CA that signed the server's certificate (a private relay); the system's otherwise. */
  ca?: string;
  /** Idle timeout: the longest silence (default 20 s). */
  timeoutMs?: number;
  /** The most one message may take, from connecting to the server's last answer (default DELIVERY_DEADLINE_MS). */
  deadlineMs?: number;
}

export interface Mail {
  to: string[];
  cc: string[];
  subject: string;
  text: string;
}

export interface Mailer {
  send(m: Mail): Promise<void>;
  close(): void;
  /** host:port, for messages. */
  readonly where: string;
}

/** Parses and checks the settings without connecting (exit 2 for a bad URL or a plaintext login). */
export function checkSmtpSettings(s: SmtpSettings): { host: string; port: number; tls: SmtpTls } {
  let url: URL | undefined;
  try {
    url = new URL(s.url);
  } catch {}
  if (!url || !["smtp:", "smtps:"].includes(url.protocol) || !url.hostname)
    throw usageError(
      "ERR_SMTP_URL",
      `invalid --smtp "${s.url.replace(/[\x00-\x1f\x7f]/g, "?")}": expected smtp://host[:port] or smtps://host[:port]`,
      "e.g. --smtp smtp://mail.example.com:587",
    );
  if (url.username || url.password)
    throw usageError(
      "ERR_SMTP_URL",
      "--smtp must not carry a user or password (the command line is visible to other users)",
      "pass --smtp-user <name> and the password in MTLS_SMTP_PASSWORD or --smtp-password-file <file>",
    );
  if ((url.pathname && url.pathname !== "/") || url.search || url.hash)
    throw usageError("ERR_SMTP_URL", "--smtp takes only a scheme, host and port", "e.g. --smtp smtp://mail.example.com:587");
  const tls: SmtpTls = url.protocol === "smtps:" ? "tls" : (s.tls ?? "starttls");
  if (tls === "none" && (s.user || s.password))
    throw usageError(
      "ERR_SMTP_PLAINTEXT_LOGIN",
      "SMTP authentication without TLS would send the password in the clear",
      "use --smtp-tls starttls (the default) or an smtps:// URL",
    );
  // After the URL: a wrong scheme is the first thing to fix, whether or not --from was given.
  if (!s.from) throw usageError("ERR_USAGE", "--smtp needs --from <address>", "e.g. --from pki@example.com");
  checkAddress(s.from, "--from address");
  const port = url.port ? Number(url.port) : tls === "tls" ? 465 : tls === "starttls" ? 587 : 25;
  return { host: url.hostname.replace(/^\[|\]$/g, ""), port, tls };
}

/** Removes the password, and what an AUTH exchange makes of it, from a message. */
function scrub(text: string, s: SmtpSettings): string {
  if (!s.password) return text;
  const forms = [s.password, Buffer.from(s.password).toString("base64"), Buffer.from(`\0${s.user ?? ""}\0${s.password}`).toString("base64")];
  return forms.reduce((t, f) => (f ? t.split(f).join("[redacted]") : t), text);
}

export function openMailer(s: SmtpSettings): Mailer {
  const { host, port, tls } = checkSmtpSettings(s);
  const timeout = s.timeoutMs ?? 20_000;
  const options = {
    host,
    port,
    secure: tls === "tls",
    requireTLS: tls === "starttls",
    ignoreTLS: tls === "none",
    ...(s.user ? { auth: { user: s.user, pass: s.password ?? "" } } : {}),
    tls: { minVersion: "TLSv1.2" as const, ...(s.ca ? { ca: s.ca } : {}), ...(isIP(host) ? {} : { servername: host }) },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  };
  // nodemailer (300 KB) loads on the first message, not with every command whose module graph
  // reaches notify (#21: issuance's hooks do).
  let transport: Transporter | undefined;
  const open = async (): Promise<Transporter> => {
    transport ??= (await import("nodemailer")).default.createTransport(options);
    return transport;
  };
  const where = `${host}:${port}`;
  const deadline = s.deadlineMs ?? DELIVERY_DEADLINE_MS;
  return {
    where,
    async send(m) {
      const t = await open();
      try {
        await t.sendMail({
          from: s.from,
          to: m.to,
          cc: m.cc,
          subject: m.subject,
          text: m.text,
          // RFC 3834: an automatic message; mail systems do not answer it with out-of-office replies.
          headers: { "Auto-Submitted": "auto-generated" },
          disableFileAccess: true,
          disableUrlAccess: true,
          // Aborting closes the connection, however busy the server keeps it.
          signal: AbortSignal.timeout(deadline),
        });
      } catch (err) {
        const e = err as Error & { code?: string; responseCode?: number };
        throw envError(
          "ERR_NOTIFY_SMTP",
          `smtp ${where}: ${e.code === "EABORT" ? pastDeadline(deadline) : scrub(e.message, s)}`,
          e.code === "EAUTH"
            ? "check --smtp-user and the password (MTLS_SMTP_PASSWORD or --smtp-password-file)"
            : "check --smtp and that the server is up; the next run retries",
        );
      }
    },
    close: () => transport?.close(),
  };
}
