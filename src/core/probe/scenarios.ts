import { usageError } from "../errors.js";
import type { TlsMode } from "./attempt.js";

export type ScenarioName =
  | "valid"
  | "no-cert"
  | "self-signed"
  | "untrusted-ca"
  | "expired"
  | "not-yet-valid"
  | "revoked"
  | "wrong-eku"
  | "missing-intermediate"
  | "legacy-tls"
  | "other-identity"
  | "identity-spoof"
  | "ocsp-revoked"
  | "previous-hierarchy";

export interface Scenario {
  name: ScenarioName;
  description: string;
  /** "accept", "reject", or "info" (observed and reported, no expectation). */
  expect: "accept" | "reject" | "info";
  /** Needs the CA key to mint its certificate. */
  needsCa: boolean;
  /** Only run when named, or when an allow-list is expected (its variants say nothing otherwise). */
  allowlistOnly?: boolean;
  /** Only run when named, or when the gateway is expected to check OCSP. */
  ocspOnly?: boolean;
  /** Only during a root rollover (#18): the probe adds it by itself then. */
  rolloverOnly?: boolean;
  /** legacy-tls runs once, offering only TLS 1.0 and 1.1; the others run per --tls version. */
  tls?: TlsMode;
}

export const SCENARIOS: Scenario[] = [
  { name: "valid", description: "a good client certificate with its full chain", expect: "accept", needsCa: false },
  { name: "no-cert", description: "no client certificate at all", expect: "reject", needsCa: false },
  { name: "self-signed", description: "a self-signed certificate with the same identity", expect: "reject", needsCa: false },
  { name: "untrusted-ca", description: "a chain from a CA the gateway does not trust", expect: "reject", needsCa: false },
  {
    name: "previous-hierarchy",
    description: "during a root rollover: a good certificate from the hierarchy being replaced, with its chain (the gateway must trust both roots)",
    expect: "accept",
    needsCa: true,
    rolloverOnly: true,
  },
  { name: "expired", description: "issued by the real CA, expired yesterday", expect: "reject", needsCa: true },
  { name: "not-yet-valid", description: "issued by the real CA, valid from tomorrow", expect: "reject", needsCa: true },
  { name: "revoked", description: "the CA's canary certificate, revoked at CA creation and on every CRL", expect: "reject", needsCa: true },
  { name: "wrong-eku", description: "issued by the real CA with serverAuth but without clientAuth", expect: "reject", needsCa: true },
  { name: "missing-intermediate", description: "the leaf alone, without its intermediate", expect: "reject", needsCa: false },
  { name: "legacy-tls", description: "a valid certificate, but only TLS 1.0 and 1.1 offered", expect: "reject", needsCa: false, tls: "legacy" },
  { name: "other-identity", description: "a valid certificate from the same CA for another subject", expect: "info", needsCa: true },
  {
    name: "identity-spoof",
    description: "valid certificates from the same CA with the allowed identity in O/OU, after an escaped comma, or as a second CN",
    expect: "info",
    needsCa: true,
    allowlistOnly: true,
  },
  {
    name: "ocsp-revoked",
    description: "the OCSP canary: revoked at the PKI's OCSP responder and on no CRL, so only a gateway that asks the responder refuses it",
    expect: "info",
    needsCa: true,
    ocspOnly: true,
  },
];

/** Parses --scenarios ("all", names, and "untrusted" for both untrusted kinds). */
export function selectScenarios(list: string | undefined, o: { expectAllowlist?: boolean; expectOcsp?: boolean } = {}): Scenario[] {
  if (!list || list === "all") return SCENARIOS.filter((s) => !s.rolloverOnly && (!s.allowlistOnly || o.expectAllowlist) && (!s.ocspOnly || o.expectOcsp));
  const wanted = new Set<string>();
  for (const raw of list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (raw === "untrusted") {
      wanted.add("self-signed").add("untrusted-ca");
      continue;
    }
    if (!SCENARIOS.some((s) => s.name === raw))
      throw usageError("ERR_USAGE", `unknown scenario "${raw}"`, `use: ${SCENARIOS.map((s) => s.name).join(", ")}, untrusted, all`);
    wanted.add(raw);
  }
  wanted.add("valid"); // the baseline every other verdict depends on
  // The canary carries its own identity; other-identity is the control that tells a CRL rejection
  // from an identity allow-list answering the same way.
  if (wanted.has("revoked") || wanted.has("ocsp-revoked")) wanted.add("other-identity");
  return SCENARIOS.filter((s) => wanted.has(s.name));
}

export function parseTlsVersions(list: string | undefined): Array<"1.2" | "1.3"> {
  const out = (list ?? "1.2,1.3").split(",").map((s) => s.trim());
  for (const v of out) if (v !== "1.2" && v !== "1.3") throw usageError("ERR_USAGE", `unknown TLS version "${v}"`, "use 1.2, 1.3 or 1.2,1.3");
  return [...new Set(out)] as Array<"1.2" | "1.3">;
}

/** During a root rollover the gateway must accept both hierarchies: a scenario per chain (#18). */
export function withRolloverScenarios(scenarios: Scenario[], rootRollover: boolean): Scenario[] {
  if (!rootRollover || scenarios.some((s) => s.rolloverOnly)) return scenarios;
  const extra = SCENARIOS.filter((s) => s.rolloverOnly);
  const at = scenarios.findIndex((s) => s.name === "valid") + 1;
  return [...scenarios.slice(0, at), ...extra, ...scenarios.slice(at)];
}
