// Real SMTP servers for the notify tests: Debian's aiosmtpd on a free loopback port, storing mail
// in a Maildir, started by the test and stopped by PID; messages are read back with Python's
// own e-mail parser.
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { freePort, startProcess } from "./gateways.js";
import { have, ROOT, run } from "./run.js";

export const haveAiosmtpd = () => have("aiosmtpd");

/** The interpreter Debian's aiosmtpd script runs with (the one that can import aiosmtpd). */
async function python(): Promise<string> {
  const script = (await run("sh", ["-c", "command -v aiosmtpd"])).stdout.trim();
  return (
    (await readFile(script, "utf8"))
      .split("\n")[0]
      ?.replace(/^#!\s*/, "")
      .trim() || "python3"
  );
}

export interface SmtpServer {
  port: number;
  maildir: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox MAILDIR`: plain SMTP, no login. */
export async function startSmtp(t: TestContext, dir: string, name = "mail"): Promise<SmtpServer> {
  const port = await freePort();
  const maildir = join(dir, `${name}-${port}`);
  const log = join(dir, `${name}-${port}.log`);
  const child = await startProcess(t, "aiosmtpd", ["-n", "-l", `127.0.0.1:${port}`, "-c", "aiosmtpd.handlers.Mailbox", maildir], port, log);
  return { port, maildir, child, stop: () => stopChild(child) };
}

/** `aiosmtpd --smtpscert/--smtpskey`: SMTP over implicit TLS (smtps), no login. */
export async function startSmtps(t: TestContext, dir: string, tls: { cert: string; key: string }): Promise<SmtpServer> {
  const port = await freePort();
  const maildir = join(dir, `smtps-mail-${port}`);
  const args = ["-n", "-l", `127.0.0.1:${port}`, "--smtpscert", tls.cert, "--smtpskey", tls.key, "-c", "aiosmtpd.handlers.Mailbox", maildir];
  const child = await startProcess(t, "aiosmtpd", args, port, join(dir, "smtps.log"));
  return { port, maildir, child, stop: () => stopChild(child) };
}

/** aiosmtpd requiring STARTTLS, and AUTH after it (test/helpers/smtp-auth-server.py). */
export async function startSmtpAuth(
  t: TestContext,
  dir: string,
  tls: { cert: string; key: string },
  login: { user: string; pass: string },
): Promise<SmtpServer> {
  const port = await freePort();
  const maildir = join(dir, `auth-mail-${port}`);
  const py = await python();
  const loginFile = join(dir, `smtp-login-${port}`);
  await writeFile(loginFile, `${login.user}\n${login.pass}\n`, { mode: 0o600 });
  const script = join(ROOT, "test/helpers/smtp-auth-server.py");
  const child = await startProcess(t, py, [script, String(port), maildir, tls.cert, tls.key, loginFile], port, join(dir, "auth-mail.log"));
  return { port, maildir, child, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill("SIGTERM");
  await once(child, "exit");
}

export interface ReceivedMail {
  subject: string;
  from: string;
  to: string;
  cc: string;
  /** The envelope recipients as aiosmtpd saw them (RCPT TO). */
  rcptTo: string;
  /** Every header name, in order. */
  headerNames: string[];
  body: string;
  raw: string;
}

const PARSE = String.raw`
import json, mailbox, re, sys
box = mailbox.Maildir(sys.argv[1], create=False)
out = []
def arrival(key):
    # Maildir names are "<seconds>.M<microseconds>P<pid>Q<count>...": compare the numbers, not the text.
    m = re.match(r"(\d+)\.M(\d+)P\d+Q(\d+)", key)
    return (int(m[1]), int(m[2]), int(m[3])) if m else (float("inf"), 0, 0)
for key in sorted(box.keys(), key=arrival):
    m = box[key]
    body = m.get_payload(decode=True).decode(m.get_content_charset() or "utf-8")
    out.append({"subject": re.sub(r"\r?\n(?=[ \t])", "", str(m["Subject"])), "from": str(m["From"]), "to": str(m["To"]), "cc": str(m.get("Cc", "")),
                "rcptTo": str(m.get("X-RcptTo", "")), "headerNames": list(m.keys()), "body": body, "raw": m.as_string()})
print(json.dumps(out))
`;

/** Every message in the Maildir, oldest first ([] when none arrived). */
export async function readMail(maildir: string): Promise<ReceivedMail[]> {
  const py = await python();
  const r = await run(py, ["-c", PARSE, maildir]);
  if (r.exitCode !== 0) {
    if (/NoSuchMailboxError|FileNotFoundError/.test(r.stderr)) return [];
    throw new Error(`reading ${maildir}: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as ReceivedMail[];
}
