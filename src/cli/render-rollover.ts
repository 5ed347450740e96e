// Human renderings of the `ca rollover` commands.
import type { RolloverResult, RolloverStatus } from "../core/index.js";
import { fields, type Styles, table } from "./output.js";
import { renderPublished } from "./render.js";

export function renderRolloverStep(r: RolloverResult, s: Styles): string {
  const parts: string[] = [];
  if (r.created.length)
    parts.push(
      table(
        ["NEW CA", "SUBJECT", "NOT AFTER", "FILE"],
        r.created.map((c) => [c.id, c.subject, c.notAfter, c.certPath]),
        s,
      ),
    );
  if (r.crosses.length)
    parts.push(
      table(
        ["CROSS CERTIFICATE", "CA", "SIGNED BY", "FILE"],
        r.crosses.map((c) => [c.serial, c.subjectCa, c.issuerCa, c.certPath]),
        s,
      ),
    );
  parts.push(
    fields(
      [
        ["issuing CA", s.bold(r.issuing)],
        ["trusted roots", `${r.trusted.join(", ")} (${r.caBundlePath})`],
      ],
      s,
    ),
  );
  const published = renderPublished({ crls: r.crls, copies: r.copies }, s);
  if (published) parts.push(published);
  return parts.join("\n\n");
}

export function renderRolloverStatus(r: RolloverStatus, s: Styles): string {
  const cas = table(
    ["CA", "STATE", "TRUSTED", "NOT AFTER", "DAYS", "VALID CERTS", "SUBJECT"],
    r.cas.map((c) => [
      c.id,
      c.state,
      c.trusted === undefined ? "" : c.trusted ? "yes" : "no",
      c.notAfter,
      String(c.daysLeft),
      String(c.validCertificates),
      c.subject,
    ]),
    s,
  );
  const phase = r.rootRollover
    ? `root rollover ${r.rootRollover.from} → ${r.rootRollover.to} since ${r.rootRollover.startedAt}: ${r.finishBlockers} valid certificate(s) still on ${r.rootRollover.from}`
    : "no root rollover in progress";
  const due = r.certificates.filter((c) => c.due);
  const certs = due.length
    ? table(
        ["DUE FOR ROTATION", "PARTNER", "KIND", "ISSUER", "CHAIN", "NOT AFTER"],
        due.map((c) => [c.serial, c.partnerId, c.kind, c.issuer, c.chain, c.notAfter]),
        s,
      )
    : s.dim(`every valid certificate (${r.certificates.length}) comes from the issuing CA ${r.issuing}`);
  return [fields([["phase", phase]], s), cas, certs].join("\n\n");
}
