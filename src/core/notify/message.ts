// A notice as a message: subject and text from the editable templates in templates/notify/, and
// the JSON a webhook receives. Every value a partner controls (its name, subject, contact) is
// made inert for each sink: a header value holds no line break (nodemailer also encodes it), the
// text holds no terminal escape, and the CSR command quotes the subject for the shell and for
// openssl's -subj syntax.
import { safeValue } from "../display-text.js";
import { commonNamesFromText } from "../pki.js";
import { shellWord } from "../shell.js";
import type { PartnerRecord } from "../store/partners.js";
import { loadTemplate, renderTemplate } from "../templates.js";
import { DAY, daysUntil, iso } from "../time.js";
import { addressProblem } from "./address.js";
import type { Notice } from "./plan.js";

/**
 * One value for a message: every control (tab and newline included), bidi, zero-width or other
 * invisible character shown as \u{…}, never acted on by a terminal or a mail parser.
 */
export const inert = (s: string): string => safeValue(s);

/** The openssl command that makes a CSR mtls accepts for this certificate's successor. */
export function csrCommand(p: { partnerId: string; cn: string; keyType: string }): string {
  const rsa = /^rsa-(\d+)$/.exec(p.keyType);
  const bits = rsa ? Math.max(2048, Number(rsa[1])) : 0;
  const key = rsa ? `-newkey rsa:${bits}` : `-newkey ec -pkeyopt ec_paramgen_curve:${p.keyType === "ec-p384" ? "P-384" : "P-256"}`;
  // openssl -subj: "/" separates attributes and "\" escapes; the shell then sees one quoted word.
  const subj = `/CN=${inert(p.cn).replace(/[\\/]/g, "\\$&")}`;
  return `openssl req -new ${key} -nodes -keyout ${p.partnerId}.key -out ${p.partnerId}.csr -subj ${shellWord(subj)}`;
}

export interface MessageContext {
  caName: string;
  partner?: PartnerRecord;
  operators: readonly string[];
  /** The sender; who partners write to when no operator is named. */
  from?: string;
  overlapDays: number;
  now: Date;
}

export interface RenderedNotice {
  subject: string;
  text: string;
  /** The partner's contact; the operators when it has none. */
  to: string[];
  cc: string[];
  /** Facts the webhook payload carries besides the text. */
  facts: Record<string, string | number>;
  warnings: string[];
}

function recipients(n: Notice, c: MessageContext): { to: string[]; cc: string[]; warnings: string[] } {
  const contact = c.partner?.contact;
  if (contact && !addressProblem(contact)) return { to: [contact], cc: [...c.operators], warnings: [] };
  const warnings = [
    contact
      ? `partner ${n.partnerId}: its contact ${JSON.stringify(inert(contact))} is not a plain e-mail address; only the operators are told`
      : `partner ${n.partnerId} has no contact address (mtls partner add ${n.partnerId} --contact <e-mail>); only the operators are told`,
  ];
  return { to: [...c.operators], cc: [], warnings };
}

/** "1 day", "14 days": the number with its noun, for templates that say how long. */
const dayCount = (n: number): string => `${n} ${n === 1 ? "day" : "days"}`;

/** The values the templates see, every one inert. */
function values(n: Notice, c: MessageContext): Record<string, string | number> {
  const cert = n.cert;
  const cn = cert.commonNames?.[0] ?? commonNamesFromText(cert.subject)[0] ?? n.partnerId;
  const notAfter = new Date(cert.notAfter);
  const deadline = new Date(Math.max(c.now.getTime(), notAfter.getTime() - c.overlapDays * DAY));
  const v: Record<string, string | number> = {
    caName: inert(c.caName),
    partnerId: n.partnerId,
    partnerName: inert(c.partner?.name ?? ""),
    serial: cert.serial,
    subject: inert(cert.subject),
    cn: inert(cn),
    notAfter: cert.notAfter,
    daysLeft: Math.max(0, daysUntil(notAfter, c.now)),
    daysLeftText: dayCount(Math.max(0, daysUntil(notAfter, c.now))),
    deadline: iso(deadline),
    csrCommand: csrCommand({ partnerId: n.partnerId, cn, keyType: cert.keyType }),
    csrFile: `${n.partnerId}.csr`,
    keyAdvice: "EC keys on P-256 or P-384 and RSA keys of 2048 bits or more",
    sendTo: c.operators.length ? c.operators.join(", ") : (c.from ?? "the PKI team that sent this message"),
    overlapDays: c.overlapDays,
    why: cert.status === "revoked" ? `was revoked at ${cert.revokedAt}` : `expired at ${cert.notAfter}`,
  };
  if (n.threshold !== undefined) {
    v.threshold = n.threshold;
    v.thresholdText = dayCount(n.threshold);
  }
  if (n.successor) {
    v.successor = n.successor.serial;
    v.successorNotAfter = n.successor.notAfter;
    v.overlapUntil = n.successor.overlapUntil ?? n.successor.issuedAt;
    v.successorWhy = n.successor.status === "revoked" ? `was revoked at ${n.successor.revokedAt}` : `expired at ${n.successor.notAfter}`;
  }
  return v;
}

/** Renders a notice from templates/notify/<kind>.txt, whose first line is "Subject: …". */
export async function renderNotice(n: Notice, c: MessageContext): Promise<RenderedNotice> {
  const v = values(n, c);
  const rendered = renderTemplate(await loadTemplate(`notify/${n.kind}.txt`), v);
  const m = /^Subject: ?(.*)\r?\n\r?\n?/.exec(rendered);
  const subject = inert((m?.[1] ?? `${n.kind}: ${n.partnerId}`).trim());
  const text = m ? rendered.slice(m[0].length) : rendered;
  const { to, cc, warnings } = recipients(n, c);
  return { subject, text, to, cc, facts: v, warnings };
}

/** The JSON body a webhook receives for a notice. */
export function webhookPayload(n: Notice, r: RenderedNotice, now: Date): Record<string, unknown> {
  return {
    event: `mtls.${n.kind}`,
    id: n.key,
    time: iso(now),
    partner: { id: n.partnerId, ...(r.facts.partnerName ? { name: r.facts.partnerName } : {}) },
    certificate: { serial: n.cert.serial, subject: r.facts.subject, notAfter: n.cert.notAfter, daysLeft: r.facts.daysLeft },
    ...(n.threshold !== undefined ? { thresholdDays: n.threshold } : {}),
    ...(n.successor ? { successor: { serial: n.successor.serial, notAfter: n.successor.notAfter }, overlapUntil: r.facts.overlapUntil } : {}),
    ...(n.kind === "reminder" || n.kind === "rotation-stalled" ? { deadline: r.facts.deadline } : {}),
    csrCommand: r.facts.csrCommand,
    recipients: { to: r.to, cc: r.cc },
    subject: r.subject,
    text: r.text,
  };
}
