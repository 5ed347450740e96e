// Notices as signed JSON POSTs. A receiver trusts a delivery by recomputing
//   X-Mtls-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Mtls-Timestamp>.<body>")>
// and rejecting old timestamps (replays), as Stripe and GitHub webhooks do. Only constant or
// mtls-made values go into headers; everything a partner controls travels in the JSON body.
import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { envError, type MtlsError, usageError } from "../errors.js";
import { DELIVERY_DEADLINE_MS, pastDeadline } from "./deadline.js";

export interface WebhookSettings {
  url: string;
  /** The HMAC key; never from argv (MTLS_WEBHOOK_SECRET or a file). */
  secret: string;
  /** PEM of the CA of an https receiver with a private certificate. */
  ca?: string;
  /** Idle timeout: the longest silence (default 20 s). */
  timeoutMs?: number;
  /** The most one delivery may take, the answer included (default DELIVERY_DEADLINE_MS). */
  deadlineMs?: number;
  userAgent?: string;
}

/** The most of a receiver's answer that is read: its status decides, the body only drains. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The signature header's value for a body sent at `timestamp` (seconds since the epoch). */
export const signWebhook = (secret: string, timestamp: number, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;

/** The URL as messages show it: without a query (it may carry a token) or user information. */
const shown = (u: URL) => `${u.protocol}//${u.host}${u.pathname}`;

export function checkWebhookSettings(s: WebhookSettings): URL {
  let url: URL | undefined;
  try {
    url = new URL(s.url);
  } catch {}
  if (!url || !["http:", "https:"].includes(url.protocol))
    throw usageError("ERR_WEBHOOK_URL", "invalid --webhook: expected an http:// or https:// URL", "e.g. --webhook https://hooks.example.com/mtls");
  if (url.username || url.password)
    throw usageError(
      "ERR_WEBHOOK_URL",
      "--webhook must not carry credentials (the command line is visible to other users)",
      "the receiver checks the HMAC signature instead",
    );
  if (!s.secret) throw usageError("ERR_WEBHOOK_SECRET", "a webhook needs a signing secret", "set MTLS_WEBHOOK_SECRET or pass --webhook-secret-file <file>");
  return url;
}

/**
 * POSTs one notice; any answer but 2xx, a timeout, an answer not complete within the deadline or a
 * refused connection is exit 5 naming the webhook.
 */
export function postWebhook(s: WebhookSettings, p: { event: string; delivery: string; body: string; now: Date }): Promise<void> {
  const url = checkWebhookSettings(s);
  const timestamp = Math.floor(p.now.getTime() / 1000);
  const headers = {
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(p.body)),
    "User-Agent": s.userAgent ?? "mtls",
    "X-Mtls-Event": p.event,
    "X-Mtls-Delivery": p.delivery,
    "X-Mtls-Timestamp": String(timestamp),
    "X-Mtls-Signature": signWebhook(s.secret, timestamp, p.body),
  };
  const fail = (why: string) =>
    envError("ERR_NOTIFY_WEBHOOK", `webhook ${shown(url)}: ${why}`, "check --webhook and that the receiver is up; the next run retries");
  const deadline = s.deadlineMs ?? DELIVERY_DEADLINE_MS;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (err?: MtlsError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      if (err) reject(err);
      else resolve();
    };
    const client = url.protocol === "https:" ? https : http;
    const req = client.request(url, { method: "POST", headers, timeout: s.timeoutMs ?? 20_000, ...(s.ca ? { ca: s.ca } : {}) }, (res) => {
      const code = res.statusCode ?? 0;
      const verdict = () => (code >= 200 && code < 300 ? undefined : fail(`HTTP ${code}`));
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_ANSWER_BYTES) settle(verdict());
      });
      res.on("end", () => settle(verdict()));
      res.on("error", (err: NodeJS.ErrnoException) => settle(fail(err.code ?? err.message)));
    });
    const timer = setTimeout(() => settle(fail(pastDeadline(deadline))), deadline);
    req.on("timeout", () => settle(fail("timed out")));
    req.on("error", (err: NodeJS.ErrnoException) => settle(fail(err.code ?? err.message)));
    req.end(p.body);
  });
}
