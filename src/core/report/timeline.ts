// The expiry timeline as inline SVG written by hand (one chart does not justify a charting
// library, and the page must load nothing): one row per partner, one bar per certificate from
// notBefore to notAfter (to revokedAt when revoked), overlapping rotations stacked in lanes, the
// CAs' own validity on top, and a line for "now".
import type { ListedCert } from "../inventory/list.js";
import { DAY } from "../time.js";
import { escapeHtml as e } from "./escape.js";
import type { ReportData } from "./report.js";

const WIDTH = 960;
const LABEL = 190;
const LANE = 14;
const GAP = 4;
const PAD = 8;
const AXIS = 28;

export const STATUS_COLOURS: Record<string, string> = { valid: "#2e7d32", expiring: "#f9a825", expired: "#9e9e9e", revoked: "#c62828", ca: "#1565c0" };

interface Span {
  start: number;
  end: number;
}

const endOf = (c: ListedCert): number => (c.status === "revoked" && c.revokedAt ? Date.parse(c.revokedAt) : Date.parse(c.notAfter));

/** The time window: the partner certificates and now, with a margin; the CAs usually reach beyond it. */
function rangeOf(d: ReportData, now: number): Span {
  const certs = d.partners.flatMap((p) => p.certificates);
  const start = Math.min(now - 14 * DAY, ...certs.map((c) => Date.parse(c.notBefore)));
  const end = Math.max(now + 30 * DAY, ...certs.map((c) => Date.parse(c.notAfter)));
  const pad = (end - start) * 0.04;
  return { start: start - pad, end: end + pad };
}

/** Greedy lanes: a certificate goes into the first lane free at its notBefore (rotations overlap). */
function lanes(certs: ListedCert[]): ListedCert[][] {
  const out: ListedCert[][] = [];
  for (const c of [...certs].sort((a, b) => a.notBefore.localeCompare(b.notBefore))) {
    const lane = out.find((l) => Date.parse((l.at(-1) as ListedCert).notAfter) <= Date.parse(c.notBefore));
    if (lane) lane.push(c);
    else out.push([c]);
  }
  return out.length ? out : [[]];
}

function axis(r: Span, x: (t: number) => number, height: number): string {
  const ticks: string[] = [];
  for (let i = 0; i <= 6; i++) {
    const t = r.start + ((r.end - r.start) * i) / 6;
    const anchor = i === 0 ? "start" : i === 6 ? "end" : "middle";
    ticks.push(
      `<line x1="${x(t)}" y1="${AXIS - 6}" x2="${x(t)}" y2="${height}" class="grid"/><text x="${x(t)}" y="${AXIS - 10}" text-anchor="${anchor}" class="tick">${new Date(t).toISOString().slice(0, 10)}</text>`,
    );
  }
  return ticks.join("");
}

function bar(c: ListedCert, y: number, x: (t: number) => number, partnerId: string): string {
  const x1 = x(Date.parse(c.notBefore));
  const w = Math.max(2, x(endOf(c)) - x1);
  const title = `${c.serial} ${c.subject} ${c.notBefore} → ${c.notAfter} (${c.status}${c.revokedAt ? ` at ${c.revokedAt}` : ""})`;
  const colour = STATUS_COLOURS[c.status] ?? "#666";
  // A revoked certificate's bar ends at the revocation; the validity it lost is only outlined.
  const lost =
    c.status === "revoked" && endOf(c) < Date.parse(c.notAfter)
      ? `<rect class="cert-lost" x="${(x1 + w).toFixed(1)}" y="${y + 0.5}" width="${Math.max(0, x(Date.parse(c.notAfter)) - x1 - w).toFixed(1)}" height="${LANE - 1}" fill="none" stroke="${colour}" stroke-dasharray="3 3"/>`
      : "";
  return `<rect class="cert-bar ${e(c.status)}" data-partner="${e(partnerId)}" data-serial="${e(c.serial)}" x="${x1.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${LANE}" fill="${colour}"><title>${e(title)}</title></rect>${lost}`;
}

function caRows(d: ReportData, r: Span, x: (t: number) => number, y0: number): { svg: string; height: number } {
  let y = y0;
  const parts: string[] = [];
  for (const ca of d.cas) {
    const end = Date.parse(ca.notAfter);
    const beyond = end > r.end;
    const xEnd = x(Math.min(end, r.end));
    parts.push(
      `<g class="timeline-row ca-row" data-ca="${e(ca.role)}"><text x="${LABEL - 8}" y="${y + LANE - 3}" text-anchor="end" class="label">${e(ca.role)} CA</text>`,
      `<rect class="ca-bar" x="${LABEL}" y="${y}" width="${(xEnd - LABEL).toFixed(1)}" height="${LANE}" fill="${STATUS_COLOURS.ca}"><title>${e(`${ca.subject} valid until ${ca.notAfter}`)}</title></rect>`,
      `<text x="${beyond ? xEnd - 4 : xEnd + 4}" y="${y + LANE - 3}" text-anchor="${beyond ? "end" : "start"}" class="${beyond ? "on-bar" : "tick"}">expires ${e(ca.notAfter.slice(0, 10))}${beyond ? " →" : ""}</text></g>`,
    );
    y += LANE + GAP;
  }
  return { svg: parts.join(""), height: y - y0 };
}

/** The chart, or a sentence when there is nothing to draw. */
export function renderTimeline(d: ReportData): string {
  const now = Date.parse(d.generatedAt);
  const r = rangeOf(d, now);
  const x = (t: number) => Number((LABEL + ((t - r.start) / (r.end - r.start)) * (WIDTH - LABEL - 12)).toFixed(1));
  const ca = caRows(d, r, x, AXIS + PAD);
  let y = AXIS + PAD + ca.height + PAD;
  const rows: string[] = [];
  for (const p of d.partners) {
    const ls = lanes(p.certificates);
    const h = ls.length * (LANE + GAP) - GAP;
    rows.push(
      `<g class="timeline-row" data-partner="${e(p.id)}"><line x1="0" x2="${WIDTH}" y1="${y - PAD / 2}" y2="${y - PAD / 2}" class="sep"/><text x="${LABEL - 8}" y="${y + LANE - 3}" text-anchor="end" class="label">${e(p.id)}</text>${ls
        .map((lane, i) => lane.map((c) => bar(c, y + i * (LANE + GAP), x, p.id)).join(""))
        .join("")}</g>`,
    );
    y += h + PAD;
  }
  const height = y + PAD;
  const nowLine = `<line x1="${x(now)}" x2="${x(now)}" y1="${AXIS - 6}" y2="${height}" class="now"/><text x="${x(now) + 3}" y="${height - 3}" class="now-label">now</text>`;
  return `<svg id="expiry-timeline" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" shape-rendering="crispEdges" role="img" aria-label="certificate expiry timeline">${axis(r, x, height)}${ca.svg}${rows.join("")}${nowLine}</svg>`;
}
