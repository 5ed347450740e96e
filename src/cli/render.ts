// Human renderings shared by several commands.
import type { PublishResult, RevokeResult } from "../core/index.js";
import { type Styles, table } from "./output.js";

export function renderPublished(r: Pick<PublishResult, "crls" | "copies"> & { bundlePath?: string }, s: Styles): string {
  if (r.crls.length === 0) return "";
  const rows = r.crls.map((c) => [c.issuer, String(c.number), c.nextUpdate, String(c.entries), c.pemPath]);
  const lines = [table(["CRL", "NUMBER", "NEXT UPDATE", "ENTRIES", "FILE"], rows, s)];
  if (r.bundlePath) lines.push(`combined: ${r.bundlePath}`);
  for (const c of r.copies) lines.push(`copied to: ${c}`);
  return lines.join("\n");
}

export function renderRevoked(r: RevokeResult, s: Styles): string {
  const revoked = r.revoked.length
    ? table(
        ["REVOKED", "PARTNER", "SUBJECT", "REASON"],
        r.revoked.map((e) => [e.serial, e.partnerId, e.subject, e.reason]),
        s,
      )
    : s.dim("nothing to revoke");
  const published = renderPublished(r, s);
  return published ? `${revoked}\n\n${published}` : revoked;
}
