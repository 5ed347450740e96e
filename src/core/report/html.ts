// One self-contained page: inline CSS and SVG, no script, and a Content-Security-Policy that
// forbids loading anything, so the file can be mailed to an auditor and opened offline. Every
// value from the store is escaped (partners choose their names, subjects and SANs).
import type { PartnerState } from "../health/partners.js";
import { escapeHtml as e } from "./escape.js";
import type { ReportData, ReportPartner } from "./report.js";
import { renderTimeline, STATUS_COLOURS } from "./timeline.js";

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{font-weight:600;color:#555}.mono{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.badge{display:inline-block;padding:1px 8px;border-radius:9px;color:#fff;font-size:12px}
.ok{background:#2e7d32}.bad{background:#c62828}.warn{background:#f9a825;color:#222}.muted{color:#777}
svg text{font:11px system-ui,sans-serif}svg .label{font-weight:600}svg .tick{fill:#555}svg .on-bar{fill:#fff}
svg .grid{stroke:#eee}svg .sep{stroke:#f3f3f3}svg .now{stroke:#c62828;stroke-dasharray:4 3}svg .now-label{fill:#c62828}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
`;

const badge = (ok: boolean, yes: string, no: string) => `<span class="badge ${ok ? "ok" : "bad"}">${e(ok ? yes : no)}</span>`;
const STATE_CLASS: Record<PartnerState, string> = { ok: "ok", rotating: "ok", due: "warn", pending: "warn", "locked-out": "bad", offboarded: "bad" };

function partnersTable(ps: ReportPartner[]): string {
  if (ps.length === 0) return `<p class="muted">No partners yet.</p>`;
  const rows = ps.map(
    (p) =>
      `<tr class="partner" data-partner="${e(p.id)}"><td class="mono">${e(p.id)}</td><td>${e(p.name)}</td><td>${e(p.contact)}</td><td><span class="badge ${STATE_CLASS[p.state]}">${e(p.state)}</span>${p.offboardedAt ? ` <span class="muted">${e(p.offboardedAt)}</span>` : ""}</td><td>${p.counts.valid} valid, ${p.counts.expiring} expiring, ${p.counts.expired} expired, ${p.counts.revoked} revoked</td><td class="mono">${e(p.pgpFingerprint ?? "—")}</td></tr>`,
  );
  return `<table id="partners"><tr><th>Partner</th><th>Name</th><th>Contact</th><th>State</th><th>Certificates</th><th>OpenPGP key</th></tr>${rows.join("")}</table>`;
}

function certificatesTable(ps: ReportPartner[]): string {
  const rows = ps.flatMap((p) =>
    p.certificates.map(
      (c) =>
        `<tr class="certificate" data-serial="${e(c.serial)}"><td class="mono">${e(c.serial)}</td><td class="mono">${e(p.id)}</td><td>${e(c.subject)}</td><td>${e(c.sans.join(", "))}</td><td>${e(c.notAfter)}</td><td>${e(c.status)}${c.revokedAt ? ` ${e(c.revokedAt)} (${e(c.revocationReason)})` : ""}</td></tr>`,
    ),
  );
  if (rows.length === 0) return `<p class="muted">No certificates issued yet.</p>`;
  return `<table id="certificates"><tr><th>Serial</th><th>Partner</th><th>Subject</th><th>SANs</th><th>Not after</th><th>Status</th></tr>${rows.join("")}</table>`;
}

function crlTable(d: ReportData): string {
  const rows = d.crls.map((c) =>
    c.missing
      ? `<tr class="crl"><td>${e(c.issuer)}</td><td colspan="4"><span class="badge bad">missing</span></td></tr>`
      : `<tr class="crl"><td>${e(c.issuer)}</td><td>${e(c.number)}</td><td>${e(c.thisUpdate)}</td><td>${e(c.nextUpdate)} ${badge((c.hoursLeft ?? -1) > 0, `${c.hoursLeft} h left`, "past nextUpdate")}</td><td>${e(c.entries)}</td></tr>`,
  );
  return `<table id="crls"><tr><th>CA</th><th>CRL number</th><th>This update</th><th>Next update</th><th>Entries</th></tr>${rows.join("")}</table>`;
}

function probesSection(d: ReportData): string {
  if (d.probes.length === 0) return `<p class="muted">No probe run recorded (run <code>mtls probe &lt;url&gt;</code>).</p>`;
  const rows = d.probes.map(
    (p) =>
      `<tr class="probe"><td>${e(p.time)}</td><td class="mono">${e(p.targets.join(" "))}</td><td>${badge(p.outcome === "pass", "pass", p.outcome)}</td><td>${e(p.passed ?? "")} passed, ${e(p.failed ?? "")} failed</td></tr>`,
  );
  return `<table id="probes"><tr><th>When</th><th>Targets</th><th>Outcome</th><th>Scenarios</th></tr>${rows.join("")}</table>`;
}

function auditSection(d: ReportData): string {
  const a = d.audit;
  const detail = a.ok
    ? `${a.records} records, hash chain intact${a.lastTime ? `, last at ${e(a.lastTime)}` : ""}`
    : `broken at line ${e(a.firstBad?.line)}: ${e(a.firstBad?.reason)}`;
  return `<p id="audit">${badge(a.ok, "chain intact", "chain broken")} ${detail}</p>`;
}

function problemsList(d: ReportData): string {
  if (d.health.healthy) return "";
  return `<ul id="problems">${d.health.problems.map((p) => `<li>${e(p.message)} <span class="muted">(${e(p.hint)})</span></li>`).join("")}</ul>`;
}

/** The whole page. */
export function renderReportHtml(d: ReportData): string {
  const legend = Object.entries(STATUS_COLOURS)
    .map(([k, c]) => `<span><i style="background:${c}"></i>${k === "ca" ? "CA" : k}</span>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mtls report — ${e(d.location)}</title><style>${CSS}</style></head>
<body>
<h1>mtls PKI report</h1>
<p class="muted">${e(d.location)} · generated ${e(d.generatedAt)} · ${badge(d.health.healthy, "healthy", `${d.health.problems.length} problem(s)`)}</p>
${problemsList(d)}
<h2>Partners</h2>${partnersTable(d.partners)}
<h2>Expiry timeline</h2><p class="legend">${legend}</p>${renderTimeline(d)}
<h2>Certificates</h2>${certificatesTable(d.partners)}
<h2>CRL freshness</h2>${crlTable(d)}
<h2>Last probe results</h2>${probesSection(d)}
<h2>Audit log</h2>${auditSection(d)}
</body></html>
`;
}
