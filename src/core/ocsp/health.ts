// The responder as a health gate: gateways that check OCSP fail closed, so a responder that is
// down, wrong or serving stale answers locks every partner out. `status` asks it about the
// revoked canary, exactly as a gateway would ask about a partner.
import type { CaCerts } from "../ca/material.js";
import { readCertFile } from "../ca/material.js";
import type { StoreConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";
import { iso } from "../time.js";

export interface ResponderHealth {
  url: string;
  ok: boolean;
  /** What the responder said about the canary (expected: revoked). */
  canaryStatus?: string;
  thisUpdate?: string;
  nextUpdate?: string;
  signer?: string;
  problem?: { kind: "ocsp-down" | "ocsp-wrong"; message: string; hint: string };
}

export async function checkResponder(store: StoreReader, config: StoreConfig, ca: CaCerts, now: Date): Promise<ResponderHealth | undefined> {
  const url = config.ca.ocspUrl;
  if (!url || !config.canary) return undefined;
  const canary = await readCertFile(store, storeKeys.canaryCert, "the canary certificate");
  // The OCSP client loads the ASN.1 schemas: only when a responder is configured (#21).
  const { checkOcsp, OcspCheckError } = await import("./client.js");
  try {
    const r = await checkOcsp(url, canary, ca.issuer, now);
    const facts = { url, canaryStatus: r.status, thisUpdate: iso(r.thisUpdate), ...(r.nextUpdate ? { nextUpdate: iso(r.nextUpdate) } : {}), signer: r.signer };
    if (r.status === "revoked") return { ...facts, ok: true };
    return {
      ...facts,
      ok: false,
      problem: {
        kind: "ocsp-wrong",
        message: `the OCSP responder at ${url} says the revoked canary ${canary.serial} is ${r.status}`,
        hint: "point --ocsp-url at `mtls revocation serve` for this PKI (mtls ca policy set --ocsp-url ...)",
      },
    };
  } catch (err) {
    if (!(err instanceof OcspCheckError)) throw err;
    return {
      url,
      ok: false,
      problem: {
        kind: "ocsp-down",
        message: `the OCSP responder at ${url} cannot vouch for this PKI: ${err.message}; gateways that check OCSP refuse every partner meanwhile`,
        hint: "start or fix `mtls revocation serve` (its /health endpoint says more)",
      },
    };
  }
}
