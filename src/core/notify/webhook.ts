// Notices as signed JSON POSTs. A receiver trusts a delivery by recomputing
//   X-Mtls-Signature: sha256=<hex HMAC-SHA256(secret, "<X-Mtls-Timestamp>.<body>")>
// and rejecting old timestamps (replays), as Stripe and GitHub webhooks do. Only constant or
// mtls-made values go into headers; everything a partner controls travels in the JSON body.
import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { envError, usageError } from "../errors.js";

export interface WebhookSettings {
  url: string;
  /** The HMAC key; never from argv (MTLS_WEBHOOK_SECRET or a file). */
  secret: string;
  /** PEM of the CA of an https receiver with a private certificate. */
  ca?: string;
  timeoutMs?: number;
  userAgent?: string;
}

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

/** POSTs one notice; any answer but 2xx, a timeout or a refused connection is exit 5 naming the webhook. */
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
  return new Promise((resolve, reject) => {
    const client = url.protocol === "https:" ? https : http;
    const req = client.request(url, { method: "POST", headers, timeout: s.timeoutMs ?? 20_000, ...(s.ca ? { ca: s.ca } : {}) }, (res) => {
      res.resume();
      res.on("end", () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject(fail(`HTTP ${code}`));
      });
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (err) => reject(fail((err as NodeJS.ErrnoException).code ?? err.message)));
    req.end(p.body);
  });
}
