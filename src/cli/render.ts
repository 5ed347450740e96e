// Human renderings shared by several commands.
import type { DeliveredBundle, P12FileResult, PublishResult, RevokeResult } from "../core/index.js";
import { safe } from "./inspect-render.js";
import { fields, type Styles, table } from "./output.js";

export function renderBundle(r: Pick<DeliveredBundle, "path" | "encrypted" | "bytes" | "recipientFingerprint" | "signerFingerprint">, s: Styles): string {
  return fields(
    [
      ["bundle", s.bold(r.path)],
      ["size", `${r.bytes} bytes`],
      ["encrypted to", r.recipientFingerprint ?? (r.encrypted ? "" : s.warn("nobody (plain zip)"))],
      ["signed by", r.signerFingerprint],
    ],
    s,
  );
}

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

export function renderP12(r: Omit<P12FileResult, "password">, s: Styles): string {
  return fields(
    [
      ["PKCS#12", s.bold(r.path)],
      ["profile", r.profile],
      // Both come from the user's certificate when it is not one of ours: printed terminal-safe.
      ["friendly name", safe(r.friendlyName)],
      ["certificate", `${r.serial} ${safe(r.subject)}`],
      ["certificates", r.certificates],
      ["password file", r.passwordFile],
    ],
    s,
  );
}
