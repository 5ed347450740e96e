// What the HTML report shows, gathered from the store with the same readers `status`, `list`,
// `partner list` and `audit verify` use: the page states nothing those commands would not.
import { readAuditFrom } from "../audit/audit.js";
import { conflictError } from "../errors.js";
import type { PartnerState } from "../health/partners.js";
import { type ListedCert, listCertificates } from "../inventory/list.js";
import { listPartners, type PartnerSummary } from "../partners/partners.js";
import type { Pki } from "../session.js";
import { checkStatus, type StatusResult } from "../status/status.js";
import { iso } from "../time.js";
import { exists, writeFileAtomic } from "../user-files.js";
import { renderReportHtml } from "./html.js";

export interface ReportPartner {
  id: string;
  name?: string;
  contact?: string;
  pgpFingerprint?: string;
  offboardedAt?: string;
  /** The partner's health as `status` and `partner list` judge it (core/health/partners.ts). */
  state: PartnerState;
  counts: PartnerSummary["certificates"];
  certificates: ListedCert[];
}

export interface ProbeRun {
  time: string;
  targets: string[];
  outcome: string;
  passed?: number;
  failed?: number;
}

export interface ReportData {
  generatedAt: string;
  /** The store the report is of (its directory, or the database as messages name it). */
  location: string;
  health: Pick<StatusResult, "healthy" | "problems">;
  cas: StatusResult["cas"];
  crls: StatusResult["crls"];
  partners: ReportPartner[];
  /** The latest recorded probe run per set of targets, newest first. */
  probes: ProbeRun[];
  audit: { ok: boolean; records: number; firstBad?: { line: number; reason: string }; lastTime?: string };
}

/** Gathers the report's data. Needs no passphrase and changes nothing. */
export async function buildReport(pki: Pki): Promise<ReportData> {
  const now = pki.now;
  const [status, partners, list] = await Promise.all([checkStatus(pki), listPartners(pki), listCertificates(pki)]);
  const { records, verification } = await readAuditFrom(pki.storage);
  const byTargets = new Map<string, ProbeRun>();
  for (const r of records) {
    if (r.action !== "probe.run") continue;
    const targets = String(r.details?.targets ?? "");
    byTargets.set(targets, {
      time: r.time,
      targets: targets.split(" ").filter(Boolean),
      outcome: r.outcome,
      ...(typeof r.details?.passed === "number" ? { passed: r.details.passed } : {}),
      ...(typeof r.details?.failed === "number" ? { failed: r.details.failed } : {}),
    });
  }
  return {
    generatedAt: iso(now),
    location: pki.location,
    health: { healthy: status.healthy, problems: status.problems },
    cas: status.cas,
    crls: status.crls,
    partners: partners.partners.map((s) => ({
      id: s.id,
      ...(s.name ? { name: s.name } : {}),
      ...(s.contact ? { contact: s.contact } : {}),
      ...(s.pgp ? { pgpFingerprint: s.pgp.fingerprint } : {}),
      ...(s.offboardedAt ? { offboardedAt: s.offboardedAt } : {}),
      state: s.state ?? "pending",
      counts: s.certificates,
      certificates: list.certificates.filter((c) => c.partnerId === s.id),
    })),
    probes: [...byTargets.values()].sort((a, b) => b.time.localeCompare(a.time)),
    audit: { ...verification, ...(records.length ? { lastTime: records.at(-1)?.time as string } : {}) },
  };
}

export interface WriteReportParams {
  /** The HTML file to write. */
  out: string;
  force?: boolean;
}

export interface WriteReportResult {
  path: string;
  bytes: number;
  partners: number;
  certificates: number;
  healthy: boolean;
  auditChainOk: boolean;
}

/** Writes the report as one self-contained HTML page (no script, no network, no external asset). */
export async function writeHtmlReport(pki: Pki, p: WriteReportParams): Promise<WriteReportResult> {
  if (!p.force && (await exists(p.out))) throw conflictError("ERR_EXISTS", `${p.out} already exists`, "pass --force to overwrite it");
  const data = await buildReport(pki);
  const html = renderReportHtml(data);
  await writeFileAtomic(p.out, html);
  return {
    path: p.out,
    bytes: Buffer.byteLength(html),
    partners: data.partners.length,
    certificates: data.partners.reduce((n, x) => n + x.certificates.length, 0),
    healthy: data.health.healthy,
    auditChainOk: data.audit.ok,
  };
}
