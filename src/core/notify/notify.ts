// `mtls notify`: plans the due notices (plan.ts), renders them (message.ts), delivers each on
// every configured channel it has not reached yet, and records every delivery in the audit log
// (action notify.sent, with the notice key and channel) in one commit. That record is the state:
// a second run finds it and sends nothing again. A failed delivery is never recorded, so the next
// run retries it; the run then exits 5 naming the channel.
//
// Deliveries wait on other servers, up to the delivery deadline each (deadline.ts). They run under
// notify's own lock (pki.aside), not the store lock: a stalling receiver must not hold up
// revocations, CRLs and issuance. The notify lock is what keeps two runs from both sending a
// notice: only a run holding it sends or records notify.sent, so what it reads under it is the
// whole truth until it records its own deliveries, in one short transaction at the end.
import type { AuditEntry } from "../audit/audit.js";
import { DEFAULT_NOTIFY_DAYS, DEFAULT_OVERLAP_DAYS } from "../ca/policy.js";
import { envError, inputError, MtlsError } from "../errors.js";
import { assessPartners } from "../health/partners.js";
import type { Pki } from "../session.js";
import type { PartnerRecord } from "../store/partners.js";
import { readIndexFrom, readPartnersFrom } from "../store/read.js";
import { DAY } from "../time.js";
import { type MessageContext, type RenderedNotice, renderNotice, webhookPayload } from "./message.js";
import { type Channel, type Notice, planNotices, type SentLog, sentLog, unsent, wasSent } from "./plan.js";
import { checkSmtpSettings, type Mailer, openMailer, type SmtpSettings } from "./smtp.js";
import { checkWebhookSettings, postWebhook, type WebhookSettings } from "./webhook.js";

export interface NotifyParams {
  smtp?: SmtpSettings;
  webhook?: WebhookSettings;
  /** Show what would be sent; send and record nothing. */
  dryRun?: boolean;
  /** Only this partner. */
  partnerId?: string;
  /** A rotation's overlap ending within this window gets a notice (default 3 days). */
  overlapNoticeMs?: number;
}

export interface NotifyItem {
  key: string;
  kind: Notice["kind"];
  partnerId: string;
  serial: string;
  threshold?: number;
  subject: string;
  to: string[];
  cc: string[];
  /** Channels it went out on in this run (with dryRun: would go out on). */
  channels: Channel[];
  /** Present with dryRun: the message text. */
  text?: string;
}

export interface NotifyResult {
  dryRun: boolean;
  notices: NotifyItem[];
  /** Due notices every configured channel already delivered. */
  alreadySent: number;
  warnings: string[];
}

/** "<key>@<channel>" of every delivery the audit log records; lines that do not parse are skipped. */
export async function readSentKeys(pki: Pki): Promise<Set<string>> {
  const text = await pki.storage.readJournal("audit");
  const sent = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.includes('"notify.sent"')) continue;
    try {
      const r = JSON.parse(line) as AuditEntry;
      const key = r.details?.key;
      const channel = r.details?.channel;
      if (r.action === "notify.sent" && typeof key === "string" && typeof channel === "string") sent.add(`${key}@${channel}`);
    } catch {}
  }
  return sent;
}

interface Prepared {
  notices: Notice[];
  /** Shared by every message; contextFor adds the partner. */
  context: MessageContext;
  partners: Record<string, PartnerRecord>;
  channels: Channel[];
}

async function prepare(pki: Pki, p: NotifyParams): Promise<Prepared> {
  const config = await pki.config();
  const now = pki.now;
  const [records, registry] = await Promise.all([readIndexFrom(pki.storage, pki.storage).then((s) => s.records), readPartnersFrom(pki.storage, pki.storage)]);
  if (p.partnerId !== undefined && !registry.partners[p.partnerId] && !records.some((r) => r.partnerId === p.partnerId))
    throw inputError("ERR_UNKNOWN_PARTNER", `no partner "${p.partnerId}" in this PKI`, "see `mtls partner list`");
  const health = assessPartners({ records, registry, now, warnMs: config.policy.warnDays * DAY }).filter(
    (h) => p.partnerId === undefined || h.partnerId === p.partnerId,
  );
  const notices = planNotices({
    health,
    records,
    thresholds: config.policy.notifyDays ?? DEFAULT_NOTIFY_DAYS,
    overlapNoticeMs: p.overlapNoticeMs ?? 3 * DAY,
    now,
  });
  const channels: Channel[] = [...(p.smtp ? (["smtp"] as const) : []), ...(p.webhook ? (["webhook"] as const) : [])];
  const context: MessageContext = {
    caName: config.ca.name,
    operators: config.policy.notifyOperators ?? [],
    ...(p.smtp ? { from: p.smtp.from } : {}),
    overlapDays: config.policy.overlapDays ?? DEFAULT_OVERLAP_DAYS,
    now,
  };
  return { notices, channels, context, partners: registry.partners };
}

const contextFor = (prep: Prepared, partnerId: string): MessageContext => {
  const partner = prep.partners[partnerId];
  return { ...prep.context, ...(partner ? { partner } : {}) };
};

const item = (n: Notice, r: RenderedNotice, channels: Channel[]): NotifyItem => ({
  key: n.key,
  kind: n.kind,
  partnerId: n.partnerId,
  serial: n.cert.serial,
  ...(n.threshold !== undefined ? { threshold: n.threshold } : {}),
  subject: r.subject,
  to: r.to,
  cc: r.cc,
  channels,
});

/** Sends the renewal reminders and notices that are due (see the module comment). */
export async function sendNotices(pki: Pki, p: NotifyParams): Promise<NotifyResult> {
  if (p.smtp) checkSmtpSettings(p.smtp);
  if (p.webhook) checkWebhookSettings(p.webhook);
  const prep = await prepare(pki, p);
  if (p.dryRun) return dryRun(prep, sentLog(await readSentKeys(pki)));
  // What was delivered commits as audit records even when a later delivery fails, which then
  // ends the run (exit 5).
  const { result, failure } = await pki.aside("notify", async () => {
    const run = await deliver(p, prep, sentLog(await readSentKeys(pki)), pki.now);
    if (run.audit.length) await record(pki, run.audit);
    return run;
  });
  if (failure !== undefined) throw failure;
  return result;
}

/** Commits the deliveries' audit records; when that fails, the error says they will go out again. */
async function record(pki: Pki, audit: AuditEntry[]): Promise<void> {
  try {
    await pki.transact("notify", async (tx) => tx.audit(...audit));
  } catch (err) {
    if ((err as MtlsError).name !== "MtlsError") throw err;
    const e = err as MtlsError;
    const why = `${e.message}; ${audit.length} deliveries went out but are not recorded, and the next run sends them again`;
    throw new MtlsError(e.code, why, e.exit, e.hint, { cause: e });
  }
}

async function dryRun(prep: Prepared, sent: SentLog): Promise<NotifyResult> {
  const out: NotifyItem[] = [];
  const warnings = new Set<string>();
  const channels: Channel[] = prep.channels.length ? prep.channels : ["smtp", "webhook"];
  let alreadySent = 0;
  for (const n of prep.notices) {
    const todo = channels.filter((c) => !wasSent(sent, n, c));
    if (!todo.length) {
      alreadySent++;
      continue;
    }
    const r = await renderNotice(n, contextFor(prep, n.partnerId));
    for (const w of r.warnings) warnings.add(w);
    out.push({ ...item(n, r, todo), text: r.text });
  }
  return { dryRun: true, notices: out, alreadySent, warnings: [...warnings] };
}

/** The audit record of one delivery: the state that keeps the next run from sending it again. */
const sentRecord = (n: Notice, r: RenderedNotice, channel: Channel): AuditEntry => ({
  action: "notify.sent",
  outcome: "ok",
  serial: n.cert.serial,
  partner: n.partnerId,
  details: {
    key: n.key,
    channel,
    kind: n.kind,
    ...(n.threshold !== undefined ? { thresholdDays: n.threshold } : {}),
    ...(channel === "smtp" ? { to: [...r.to, ...r.cc].join(",") } : {}),
  },
});

interface Delivery {
  result: NotifyResult;
  /** The notify.sent records of what went out, still to commit. */
  audit: AuditEntry[];
  /** Thrown once the records are committed: a channel's MtlsError, or whatever a bug threw. */
  failure?: unknown;
}

/**
 * Delivers what `sent` does not hold yet on every channel; `sent` must be read under the notify lock.
 * The channels deliver side by side: each waits on its own server, up to the deadline per
 * delivery, and a slow relay must not hold back the webhook (or the reverse). Results are merged
 * in channel order, so the records and the report do not depend on which server answered first.
 */
async function deliver(p: NotifyParams, prep: Prepared, sent: SentLog, now: Date): Promise<Delivery> {
  const warnings = new Set<string>();
  const rendered = new Map<string, Promise<RenderedNotice>>();
  const render = (n: Notice): Promise<RenderedNotice> => {
    let r = rendered.get(n.key);
    if (!r) {
      r = renderNotice(n, contextFor(prep, n.partnerId)).then((x) => {
        for (const w of x.warnings) warnings.add(w);
        return x;
      });
      rendered.set(n.key, r);
    }
    return r;
  };
  // Each channel's deliveries are kept as they happen: what one channel delivered is recorded even
  // when the other fails in a way no MtlsError describes (a bug), which is then thrown as it is.
  const runs = prep.channels.map((channel) => ({
    channel,
    done: [] as Array<{ notice: Notice; rendered: RenderedNotice }>,
    failure: undefined as MtlsError | undefined,
  }));
  const settled = await Promise.allSettled(
    runs.map(async (run) => {
      const todo = unsent(prep.notices, sent, run.channel);
      if (todo.length) run.failure = await deliverOn(run.channel, todo, p, now, render, (notice, r) => run.done.push({ notice, rendered: r }));
    }),
  );
  const bug = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  const delivered = new Map<string, { notice: Notice; rendered: RenderedNotice; channels: Channel[] }>();
  const audit: AuditEntry[] = [];
  for (const { channel, done } of runs) {
    for (const { notice, rendered: r } of done) {
      const d = delivered.get(notice.key) ?? { notice, rendered: r, channels: [] };
      d.channels.push(channel);
      delivered.set(notice.key, d);
      audit.push(sentRecord(notice, r, channel));
    }
  }
  const alreadySent = prep.notices.filter((n) => prep.channels.every((c) => wasSent(sent, n, c))).length;
  const result = { dryRun: false, notices: [...delivered.values()].map((d) => item(d.notice, d.rendered, d.channels)), alreadySent, warnings: [...warnings] };
  if (bug) return { result, audit, failure: bug.reason };
  const first = runs.find((r) => r.failure)?.failure;
  if (!first) return { result, audit };
  const why = `${first.message}; ${audit.length} deliveries recorded, the failed ones were not and the next run retries them`;
  return { result, audit, failure: envError(first.code, why, first.hint) };
}

/** Delivers `todo` on one channel until the first failure, which it returns (the rest wait for the next run). */
async function deliverOn(
  channel: Channel,
  todo: Notice[],
  p: NotifyParams,
  now: Date,
  render: (n: Notice) => Promise<RenderedNotice>,
  done: (n: Notice, r: RenderedNotice) => void,
): Promise<MtlsError | undefined> {
  let mailer: Mailer | undefined;
  try {
    if (channel === "smtp") mailer = openMailer(p.smtp as SmtpSettings);
    for (const n of todo) {
      const r = await render(n);
      if (channel === "smtp") {
        if (r.to.length === 0) continue; // no contact and no operator: the warning says so
        await mailer?.send({ to: r.to, cc: r.cc, subject: r.subject, text: r.text });
      } else {
        const body = JSON.stringify(webhookPayload(n, r, now));
        await postWebhook(p.webhook as WebhookSettings, { event: `mtls.${n.kind}`, delivery: n.key, body, now });
      }
      done(n, r);
    }
    return undefined;
  } catch (err) {
    if ((err as MtlsError).name === "MtlsError") return err as MtlsError;
    throw err;
  } finally {
    mailer?.close();
  }
}
