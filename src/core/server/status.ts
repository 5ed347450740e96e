// What `mtls status` says about the gateways' own certificates: an expired partner certificate is
// the partner's business, an expired server certificate takes every partner's traffic down.
import type { Problem } from "../status/status.js";
import type { CertRecord } from "../store/index-file.js";
import type { IndexRow } from "../store/index-summary.js";
import { SERVER_PREFIX } from "./prefix.js";

export const renewHint = (r: Pick<CertRecord, "kind" | "partnerId">): string =>
  r.kind === "server"
    ? `issue a new one: mtls server issue ${r.partnerId.slice(SERVER_PREFIX.length)} --dns … --out … --out-key …, then reload the gateway`
    : `issue a new certificate: mtls partner issue ${r.partnerId} ...`;

/** Servers whose newest unrevoked certificate has expired (an older expired one, since replaced, is fine). */
export function expiredServerProblems(index: readonly IndexRow[], now: Date): Problem[] {
  const newest = new Map<string, IndexRow>();
  for (const r of index) {
    if (r.kind !== "server" || r.status === "revoked") continue;
    const seen = newest.get(r.partnerId);
    if (!seen || r.notAfter > seen.notAfter) newest.set(r.partnerId, r);
  }
  return [...newest.values()]
    .filter((r) => Date.parse(r.notAfter) <= now.getTime())
    .map((r) => ({
      kind: "server-cert-expired" as const,
      message: `${r.partnerId}: server certificate ${r.serial} expired at ${r.notAfter}`,
      hint: renewHint(r),
      serial: r.serial,
      partnerId: r.partnerId,
    }));
}
