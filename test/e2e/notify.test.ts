// #14 mtls notify against real receivers: Debian's aiosmtpd on loopback (plain, and with STARTTLS
// and AUTH), and a webhook receiver that checks the HMAC. The CLI's clock is moved forward
// (MTLS_TEST_NOW under MTLS_TEST_HOOKS=1) instead of waiting for days.
import assert from "node:assert/strict";
import { createHmac, timingSafeEqual } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { join } from "node:path";
import test, { after } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { drippingWebhook } from "../helpers/drip.js";
import { json, mtls, openssl, run, tempDir } from "../helpers/run.js";
import { haveAiosmtpd, readMail, startSmtp, startSmtpAuth, startSmtps } from "../helpers/smtp.js";
import { serverCert } from "../helpers/tls.js";

const DAY = 86_400_000;
const start = Date.now();
const clock = (days: number) => ({ MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: new Date(start + days * DAY).toISOString() });

// One CA for the file; each test has partners of its own and passes --partner.
let shared: Promise<string> | undefined;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});
function pki(): Promise<string> {
  shared ??= (async () => {
    const dir = await tempDir({ after: (fn: () => Promise<void>) => cleanups.push(fn) } as unknown as import("node:test").TestContext, "mtls-notify-");
    assert.equal((await mtls(["ca", "init", "--name", "Home", "--insecure-no-passphrase"], { cwd: dir })).exitCode, 0);
    assert.equal((await mtls(["ca", "policy", "set", "--notify-operators", "pki@home.example"], { cwd: dir })).exitCode, 0);
    return dir;
  })();
  return shared;
}

async function partner(dir: string, id: string, days: number, o: { contact?: string; name?: string; cn?: string } = {}) {
  const add = ["partner", "add", id, ...(o.contact ? ["--contact", o.contact] : []), ...(o.name ? ["--name", o.name] : [])];
  assert.equal((await mtls(add, { cwd: dir })).exitCode, 0);
  const { csr } = await makeCsr(dir, id, { subj: `/O=Partner/CN=${o.cn ?? `${id}-client`}` });
  const r = await mtls(["partner", "issue", id, "--csr", csr, "--days", String(days), "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  return json(r).result as { serial: string; notAfter: string };
}

const auditText = (dir: string) => readFile(join(dir, "pki/audit.log"), "utf8");

test("#14 reminders reach a real SMTP server once per threshold; SMTP down is exit 5 with nothing recorded; the mailed command makes a CSR mtls accepts", async (t) => {
  if (!haveAiosmtpd()) return t.skip("aiosmtpd (python3-aiosmtpd) is not installed");
  const dir = await pki();
  const cert = await partner(dir, "acme", 40, { contact: "ops@acme.example", name: "Acme Corp" });
  let smtp = await startSmtp(t, dir);
  const notify = (days: number, extra: string[] = []) =>
    mtls(["notify", "--smtp", `smtp://127.0.0.1:${smtp.port}`, "--smtp-tls", "none", "--from", "pki@home.example", "--partner", "acme", "--json", ...extra], {
      cwd: dir,
      env: clock(days),
    });

  const early = await notify(0);
  assert.equal(early.exitCode, 0, early.stderr);
  assert.deepEqual(json(early).result.notices, []);

  // --dry-run shows what is due and records nothing.
  const dry = await notify(12, ["--dry-run"]);
  assert.equal(json(dry).result.notices[0].key, `reminder:${cert.serial}:30`);
  assert.match(json(dry).result.notices[0].text, /openssl req -new/);
  assert.deepEqual(await readMail(smtp.maildir), []);

  const first = await notify(12);
  assert.equal(first.exitCode, 0, first.stdout + first.stderr);
  assert.deepEqual(
    json(first).result.notices.map((n: { kind: string; threshold: number; channels: string[] }) => [n.kind, n.threshold, n.channels]),
    [["reminder", 30, ["smtp"]]],
  );
  let mails = await readMail(smtp.maildir);
  assert.equal(mails.length, 1);
  const m = mails[0] as (typeof mails)[number];
  assert.equal(m.to, "ops@acme.example");
  assert.equal(m.cc, "pki@home.example");
  assert.equal(m.from, "pki@home.example");
  assert.match(m.rcptTo, /ops@acme\.example.*pki@home\.example/);
  assert.match(m.subject, /^\[Home\] mTLS certificate for acme expires in 2[78] days$/);
  assert.match(m.body, /Hello Acme Corp,/);
  assert.ok(m.body.includes(cert.serial));
  const deadline = new Date(Date.parse(cert.notAfter) - 14 * DAY).toISOString().replace(/\.\d{3}Z$/, "Z");
  assert.ok(m.body.includes(`by ${deadline}`), `deadline ${deadline} in:\n${m.body}`);
  assert.match(m.body, /Send acme\.csr \(it is not secret\) to pki@home\.example/);
  const command = /^\s*(openssl req .*)$/m.exec(m.body)?.[1] as string;
  assert.equal(command, "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout acme.key -out acme.csr -subj '/CN=acme-client'");

  // A second run at the same time sends nothing new.
  const again = await notify(12);
  assert.equal(again.exitCode, 0);
  assert.deepEqual(json(again).result.notices, []);
  assert.equal(json(again).result.alreadySent, 1);
  assert.equal((await readMail(smtp.maildir)).length, 1);

  // The threshold moves: the 14-day reminder goes out, once.
  assert.equal((await notify(27)).exitCode, 0);
  mails = await readMail(smtp.maildir);
  assert.equal(mails.length, 2);
  assert.match((mails[1] as (typeof mails)[number]).body, /This is the reminder 14 days before expiry/);

  // SMTP down: exit 5 naming the channel, and the 7-day reminder is not recorded as sent.
  await smtp.stop();
  const down = await notify(34);
  assert.equal(down.exitCode, 5);
  assert.equal(json(down).error?.code, "ERR_NOTIFY_SMTP");
  assert.match(down.stderr, new RegExp(`smtp 127\\.0\\.0\\.1:${smtp.port}`));
  assert.doesNotMatch(await auditText(dir), new RegExp(`reminder:${cert.serial}:7`));
  smtp = await startSmtp(t, dir, "mail2");
  const retried = await notify(34);
  assert.equal(retried.exitCode, 0, retried.stderr);
  assert.equal(json(retried).result.notices[0].threshold, 7);
  assert.equal((await readMail(smtp.maildir)).length, 1);

  // The partner runs the mailed command as it stands: mtls accepts the CSR it makes.
  const partnerDir = join(dir, "acme-side");
  await mkdir(partnerDir);
  const made = await run("sh", ["-c", command], { cwd: partnerDir });
  assert.equal(made.exitCode, 0, made.stderr);
  const rot = await mtls(["partner", "rotate", "acme", "--csr", join(partnerDir, "acme.csr"), "--json"], { cwd: dir, env: clock(34) });
  assert.equal(rot.exitCode, 0, rot.stdout + rot.stderr);
  // The overlap runs to the old certificate's expiry (day 40); three days before, the partner is told.
  assert.deepEqual(json(await notify(35)).result.notices, []);
  const ending = await notify(38);
  assert.deepEqual(
    json(ending).result.notices.map((n: { kind: string }) => n.kind),
    ["overlap-ending"],
  );
  const last = (await readMail(smtp.maildir)).at(-1) as (typeof mails)[number];
  assert.match(last.subject, /acme: switch to the new mTLS certificate by /);
  assert.ok(last.body.includes(json(rot).result.newSerial));
  assert.match(await auditText(dir), /"action":"notify\.sent".*"channel":"smtp"/);
});

test("#14 webhook: a receiver verifies the HMAC; one delivery per notice; a wrong secret is exit 5 with nothing recorded; secrets never in argv or output", async (t) => {
  const dir = await pki();
  const cert = await partner(dir, "beta", 20, { contact: "ops@beta.example" });
  const secret = "whsec-0123456789abcdef";
  const received: Array<{ event: string; body: Record<string, unknown> }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const ts = String(req.headers["x-mtls-timestamp"]);
      const want = Buffer.from(`sha256=${createHmac("sha256", secret).update(`${ts}.${body}`).digest("hex")}`);
      const got = Buffer.from(String(req.headers["x-mtls-signature"]));
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        res.statusCode = 401;
        return res.end("bad signature");
      }
      received.push({ event: String(req.headers["x-mtls-event"]), body: JSON.parse(body) });
      res.end("ok");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}/hook?token=abc`;
  const hook = (env: NodeJS.ProcessEnv, extra: string[] = []) =>
    mtls(["notify", "--webhook", url, "--partner", "beta", "--json", ...extra], { cwd: dir, env: { ...clock(1), ...env } });

  const wrong = await hook({ MTLS_WEBHOOK_SECRET: "not-the-secret-42" });
  assert.equal(wrong.exitCode, 5);
  assert.equal(json(wrong).error?.code, "ERR_NOTIFY_WEBHOOK");
  assert.match(wrong.stderr, /webhook http:\/\/127\.0\.0\.1:\d+\/hook: HTTP 401/);
  assert.doesNotMatch(wrong.stderr + wrong.stdout, /token=abc|not-the-secret-42/);
  assert.equal(received.length, 0);
  assert.doesNotMatch(await auditText(dir), /not-the-secret-42|"channel":"webhook"/);

  const secretFile = join(dir, "webhook.secret");
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  const ok = await hook({}, ["--webhook-secret-file", secretFile]);
  assert.equal(ok.exitCode, 0, ok.stdout + ok.stderr);
  assert.equal(received.length, 1);
  const r = received[0] as (typeof received)[number];
  assert.equal(r.event, "mtls.reminder");
  assert.equal(r.body.id, `reminder:${cert.serial}:30`);
  assert.deepEqual(r.body.partner, { id: "beta" });
  assert.equal((r.body.certificate as { serial: string }).serial, cert.serial);
  assert.equal(r.body.thresholdDays, 30);
  assert.match(String(r.body.csrCommand), /-subj '\/CN=beta-client'/);
  assert.deepEqual(r.body.recipients, { to: ["ops@beta.example"], cc: ["pki@home.example"] });
  assert.equal((await hook({ MTLS_WEBHOOK_SECRET: secret })).exitCode, 0);
  assert.equal(received.length, 1, "no second delivery");
  const audit = await auditText(dir);
  assert.match(audit, /"channel":"webhook"/);
  assert.ok(!audit.includes(secret));

  const argv = await mtls(["notify", "--webhook", url, "--webhook-secret", secret, "--json"], { cwd: dir });
  assert.equal(argv.exitCode, 2);
  assert.equal(json(argv).error?.code, "ERR_SECRET_ARGV");
  assert.ok(!argv.stdout.includes(secret) && !argv.stderr.includes(secret));
  const inUrl = await mtls(["notify", "--smtp", "smtp://pki:hunter2-pass@127.0.0.1:25", "--from", "pki@home.example"], { cwd: dir });
  assert.equal(inUrl.exitCode, 2);
  assert.doesNotMatch(inUrl.stdout + inUrl.stderr, /hunter2-pass/);
  assert.equal((await mtls(["notify"], { cwd: dir })).exitCode, 2, "no channel and no --dry-run");
});

test("#14 SMTP with STARTTLS and AUTH: a wrong password is exit 5 and never shown; the right one from a file delivers; no login without TLS", async (t) => {
  if (!haveAiosmtpd()) return t.skip("aiosmtpd (python3-aiosmtpd) is not installed");
  const dir = await pki();
  await partner(dir, "delta", 5, { contact: "ops@delta.example" });
  const srv = await serverCert(dir);
  const password = "S3cret-Pa55-wOrd";
  const smtp = await startSmtpAuth(t, dir, srv, { user: "pki-sender", pass: password });
  const base = ["notify", "--smtp", `smtp://127.0.0.1:${smtp.port}`, "--smtp-user", "pki-sender", "--from", "pki@home.example", "--partner", "delta", "--json"];
  const secrets = [password, Buffer.from(password).toString("base64"), Buffer.from(`\0pki-sender\0${password}`).toString("base64")];

  const plain = await mtls([...base, "--smtp-tls", "none"], { cwd: dir, env: { ...clock(0), MTLS_SMTP_PASSWORD: password } });
  assert.equal(plain.exitCode, 2);
  assert.equal(json(plain).error?.code, "ERR_SMTP_PLAINTEXT_LOGIN");

  // The server's certificate is private: without --smtp-ca the TLS handshake refuses it.
  const untrusted = await mtls(base, { cwd: dir, env: { ...clock(0), MTLS_SMTP_PASSWORD: password } });
  assert.equal(untrusted.exitCode, 5, untrusted.stdout);

  const wrong = await mtls([...base, "--smtp-ca", srv.cert], { cwd: dir, env: { ...clock(0), MTLS_SMTP_PASSWORD: `${password}-typo` } });
  assert.equal(wrong.exitCode, 5, wrong.stdout);
  assert.equal(json(wrong).error?.code, "ERR_NOTIFY_SMTP");
  assert.match(wrong.stderr, /535|Invalid login/);
  assert.match(json(wrong).error?.hint ?? "", /--smtp-user and the password/);
  for (const s of [...secrets, `${password}-typo`]) assert.ok(!(wrong.stdout + wrong.stderr).includes(s), "the password is not shown");
  assert.deepEqual(await readMail(smtp.maildir), []);

  const file = join(dir, "smtp.password");
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  const ok = await mtls([...base, "--smtp-ca", srv.cert, "--smtp-password-file", file], { cwd: dir, env: clock(0) });
  assert.equal(ok.exitCode, 0, ok.stdout + ok.stderr);
  const mails = await readMail(smtp.maildir);
  assert.equal(mails.length, 1);
  assert.equal(mails[0]?.to, "ops@delta.example");
  const audit = await auditText(dir);
  for (const s of secrets) assert.ok(!audit.includes(s), "the password is not in the audit log");

  // Implicit TLS (smtps://), the server's certificate checked against --smtp-ca.
  await partner(dir, "epsilon", 5, { contact: "ops@epsilon.example" });
  const smtps = await startSmtps(t, dir, srv);
  const viaTls = await mtls(
    ["notify", "--smtp", `smtps://127.0.0.1:${smtps.port}`, "--smtp-ca", srv.cert, "--from", "pki@home.example", "--partner", "epsilon"],
    {
      cwd: dir,
      env: clock(0),
    },
  );
  assert.equal(viaTls.exitCode, 0, viaTls.stdout + viaTls.stderr);
  assert.equal((await readMail(smtps.maildir))[0]?.to, "ops@epsilon.example");
});

test("#14 hostile partner values: CR/LF in a name or a contact never adds a header or a recipient; escapes arrive inert; the CSR command stays one quoted word", async (t) => {
  if (!haveAiosmtpd()) return t.skip("aiosmtpd (python3-aiosmtpd) is not installed");
  const dir = await pki();
  const cn = "evil'$(touch PWNED) x";
  await partner(dir, "evil", 10, { name: "Evil", contact: "ops@evil.example", cn });
  // A name and a contact edited by hand around the checks `partner add` makes (or stored before them).
  const regPath = join(dir, "pki/partners.json");
  const reg = JSON.parse(await readFile(regPath, "utf8"));
  reg.partners.evil.name = "Evil\r\nBcc: victim@attacker.example\u001b]0;owned\u0007";
  reg.partners.evil.contact = "ops@evil.example\r\nBcc: victim@attacker.example";
  await writeFile(regPath, JSON.stringify(reg, null, 2));
  const smtp = await startSmtp(t, dir, "hostile");
  const r = await mtls(["notify", "--smtp", `smtp://127.0.0.1:${smtp.port}`, "--smtp-tls", "none", "--from", "pki@home.example", "--partner", "evil"], {
    cwd: dir,
    env: clock(0),
  });
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stderr, /not a plain e-mail address; only the operators are told/);
  assert.doesNotMatch(r.stdout + r.stderr, /\u001b|\u0007/, "no raw escape reaches the terminal");
  const [m] = await readMail(smtp.maildir);
  assert.ok(m);
  assert.equal(m.to, "pki@home.example");
  assert.equal(m.rcptTo, "pki@home.example");
  assert.ok(!m.headerNames.map((h) => h.toLowerCase()).includes("bcc"), m.headerNames.join(","));
  assert.doesNotMatch(m.raw, /^Bcc:/im);
  assert.match(m.body, /Hello Evil\\u\{d\}\\u\{a\}Bcc: victim@attacker\.example\\u\{1b\}\]0;owned\\u\{7\},/);
  assert.doesNotMatch(m.body, /[\u0000-\u0008\u000b-\u001f\u007f]/);

  // The webhook gets the same values inside its JSON body; no header carries anything of the partner's.
  const seen: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const srv = await serverCert(await tempDir(t));
  const receiver = https.createServer({ cert: await readFile(srv.cert), key: await readFile(srv.key) }, (req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ headers: req.headers, body });
      res.end();
    });
  });
  receiver.listen(0, "127.0.0.1");
  await once(receiver, "listening");
  t.after(() => new Promise<void>((r) => receiver.close(() => r())));
  const port = (receiver.address() as import("node:net").AddressInfo).port;
  const w = await mtls(["notify", "--webhook", `https://127.0.0.1:${port}/`, "--webhook-ca", srv.cert, "--partner", "evil"], {
    cwd: dir,
    env: { ...clock(0), MTLS_WEBHOOK_SECRET: "hostile-test-secret" },
  });
  assert.equal(w.exitCode, 0, w.stderr);
  const [hit] = seen;
  assert.ok(hit);
  const payload = JSON.parse(hit.body);
  assert.equal(payload.partner.name, "Evil\\u{d}\\u{a}Bcc: victim@attacker.example\\u{1b}]0;owned\\u{7}");
  for (const [k, v] of Object.entries(hit.headers)) assert.doesNotMatch(`${k}: ${v}`, /evil'|Evil|attacker|owned/, k);

  const command = /^\s*(openssl req .*)$/m.exec(m.body)?.[1] as string;
  const side = await tempDir(t);
  const made = await run("sh", ["-c", command], { cwd: side });
  assert.equal(made.exitCode, 0, made.stderr);
  assert.equal(existsSync(join(side, "PWNED")), false, "the CN never runs as a command");
  const subject = await openssl(["req", "-in", join(side, "evil.csr"), "-noout", "-subject", "-nameopt", "RFC2253"]);
  assert.equal(subject.stdout.trim(), `subject=CN=${cn}`);
});

/** Connections a test server holds, so that it can end them and close. */
function closeWithConnections(t: import("node:test").TestContext, server: http.Server | net.Server): void {
  const sockets = new Set<net.Socket>();
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
}

const listening = async (server: http.Server | net.Server) => {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
};

/**
 * A minimal SMTP server on loopback that accepts every command; at the end of each message it
 * calls `onMessage` with the connection, which decides when (and whether) the message's 250 goes.
 */
async function scriptedSmtp(t: import("node:test").TestContext, onMessage: (s: net.Socket) => void): Promise<number> {
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.write("220 scripted ESMTP\r\n");
    let buf = "";
    let inData = false;
    s.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (let i = buf.indexOf("\r\n"); i >= 0; i = buf.indexOf("\r\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) {
          if (line !== ".") continue;
          inData = false;
          onMessage(s);
          continue;
        }
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === "EHLO" || cmd === "HELO") s.write("250-scripted\r\n250 8BITMIME\r\n");
        else if (cmd === "DATA") {
          inData = true;
          s.write("354 go ahead\r\n");
        } else if (cmd === "QUIT") s.end("221 bye\r\n");
        else s.write("250 ok\r\n");
      }
    });
  });
  closeWithConnections(t, server);
  return listening(server);
}

const sentRecords = async (dir: string, key: string, channel: string) =>
  (await auditText(dir)).split("\n").filter((l) => l.includes('"notify.sent"') && l.includes(`"key":"${key}"`) && l.includes(`"channel":"${channel}"`)).length;

test("a webhook that answers 200 and then drips its body: notify gives up at the delivery deadline (exit 5, nothing recorded) without holding the store; a revoke goes through meanwhile and a second notify waits its turn", async (t) => {
  const dir = await pki();
  const cert = await partner(dir, "drip", 20, { contact: "ops@drip.example" });
  const other = await partner(dir, "dripother", 200);
  const key = `reminder:${cert.serial}:30`;
  const { url, delivering, requests } = await drippingWebhook(t);
  const notify = () =>
    mtls(["notify", "--webhook", url, "--partner", "drip", "--json"], {
      cwd: dir,
      env: { ...clock(1), MTLS_WEBHOOK_SECRET: "whsec-drip" },
      timeoutMs: 150_000,
    });

  const first = notify();
  await delivering;
  const second = notify();
  const revoke = await mtls(["revoke", other.serial, "--yes", "--json"], { cwd: dir, timeoutMs: 150_000 });
  assert.equal(revoke.exitCode, 0, `revoke while notify delivers: ${revoke.stdout}${revoke.stderr}`);

  const r = await first;
  assert.equal(r.exitCode, 5, r.stdout + r.stderr);
  assert.equal(json(r).error?.code, "ERR_NOTIFY_WEBHOOK");
  assert.match(r.stderr, /webhook http:\/\/127\.0\.0\.1:\d+\/hook: no complete answer within 30 s/);
  // The second run waited for the first to give up, then delivered once and recorded it.
  const r2 = await second;
  assert.equal(r2.exitCode, 0, r2.stdout + r2.stderr);
  assert.deepEqual(requests, [false, true], "the second run sent only after the first gave up");
  assert.equal(await sentRecords(dir, key, "webhook"), 1);
  assert.equal(json(await notify()).result.alreadySent, 1);
  assert.equal(requests.length, 2);
});

test("an SMTP server that keeps sending 250- continuation lines after the message: notify gives up at the delivery deadline (exit 5, nothing recorded); a revoke goes through meanwhile", async (t) => {
  const dir = await pki();
  const cert = await partner(dir, "slowmail", 20, { contact: "ops@slowmail.example" });
  const other = await partner(dir, "slowmailother", 200);
  let arrived: () => void = () => {};
  const delivering = new Promise<void>((r) => {
    arrived = r;
  });
  const port = await scriptedSmtp(t, (s) => {
    const drip = setInterval(() => s.write("250-still working\r\n"), 2000);
    s.on("close", () => clearInterval(drip));
    arrived();
  });
  const notify = mtls(["notify", "--smtp", `smtp://127.0.0.1:${port}`, "--smtp-tls", "none", "--from", "pki@home.example", "--partner", "slowmail", "--json"], {
    cwd: dir,
    env: clock(1),
    timeoutMs: 150_000,
  });
  await delivering;
  const revoke = await mtls(["revoke", other.serial, "--yes", "--json"], { cwd: dir, timeoutMs: 150_000 });
  assert.equal(revoke.exitCode, 0, `revoke while notify delivers: ${revoke.stdout}${revoke.stderr}`);
  const r = await notify;
  assert.equal(r.exitCode, 5, r.stdout + r.stderr);
  assert.equal(json(r).error?.code, "ERR_NOTIFY_SMTP");
  assert.match(r.stderr, new RegExp(`smtp 127\\.0\\.0\\.1:${port}: no complete answer within 30 s`));
  assert.equal(await sentRecords(dir, `reminder:${cert.serial}:30`, "smtp"), 0);
});

test("the channels deliver side by side: a relay that answers only once the webhook has its request, and a webhook that answers only once the relay has the message, both deliver in one run", async (t) => {
  const dir = await pki();
  const cert = await partner(dir, "bothways", 20, { contact: "ops@bothways.example" });
  const key = `reminder:${cert.serial}:30`;
  // Each receiver holds its answer until the other has what it was sent. Delivered one channel
  // after the other, the first waits for a request that never comes and gives up at the deadline.
  let mailed: () => void = () => {};
  const mail = new Promise<void>((r) => {
    mailed = r;
  });
  let posted: () => void = () => {};
  const post = new Promise<void>((r) => {
    posted = r;
  });
  const port = await scriptedSmtp(t, (s) => {
    mailed();
    void post.then(() => s.write("250 queued\r\n"));
  });
  const hook = http.createServer((req, res) => {
    req.resume();
    posted();
    void mail.then(() => res.end("ok"));
  });
  closeWithConnections(t, hook);
  const hookPort = await listening(hook);
  const r = await mtls(
    [
      "notify",
      "--smtp",
      `smtp://127.0.0.1:${port}`,
      "--smtp-tls",
      "none",
      "--from",
      "pki@home.example",
      "--webhook",
      `http://127.0.0.1:${hookPort}/hook`,
      "--partner",
      "bothways",
      "--json",
    ],
    { cwd: dir, env: { ...clock(1), MTLS_WEBHOOK_SECRET: "whsec-both" }, timeoutMs: 150_000 },
  );
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  assert.deepEqual(
    json(r).result.notices.map((n: { channels: string[] }) => n.channels),
    [["smtp", "webhook"]],
  );
  assert.equal(await sentRecords(dir, key, "smtp"), 1);
  assert.equal(await sentRecords(dir, key, "webhook"), 1);
});
