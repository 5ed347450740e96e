// The CA's policy after `ca init`: revocation URLs written into new certificates, the CRL
// publish directory, validity limits. Changing it is one audited commit; certificates already
// issued keep what they carry.
import { crlValidityProblem } from "../crl/validity.js";
import { inputError, usageError } from "../errors.js";
import { checkAddress } from "../notify/address.js";
import type { Pki } from "../session.js";
import { type StoreConfig, serializeConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";

/**
 * The shape of a revocation URL: scheme, host, port and a plain path. It is written into every
 * certificate and as a bare word into gateway configs (nginx, Apache, stunnel), where `;`, quotes,
 * `$` or `#` would end or extend a directive, so nothing else is let through.
 */
const PLAIN_URL = /^https?:\/\/[A-Za-z0-9.\-[\]:]+(\/[A-Za-z0-9._~/%-]*)?$/;

/** An http(s) URL as it will be written into certificates (an IA5String) and configs, normalised. */
export function validateHttpUrl(value: string, flag: string, example: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {}
  if (!url || !["http:", "https:"].includes(url.protocol) || !PLAIN_URL.test(url.href))
    throw usageError(
      `ERR_${flag.slice(2).toUpperCase().replace(/-/g, "_")}`,
      `invalid ${flag} "${value.replace(/[\x00-\x1f\x7f]/g, "?")}": expected an http:// or https:// URL`,
      `e.g. ${flag} ${example}`,
    );
  return url.href;
}

/** How long a rotated-out certificate stays valid next to its successor, unless the policy says otherwise. */
export const DEFAULT_OVERLAP_DAYS = 14;
/** Reminder thresholds (days before expiry), unless the policy says otherwise. */
export const DEFAULT_NOTIFY_DAYS = [30, 14, 7, 1];

/** A change to one setting; `null` removes an optional one. */
export interface PolicyChanges {
  crlUrl?: string | null;
  ocspUrl?: string | null;
  crlPublishDir?: string | null;
  defaultDays?: number;
  maxDays?: number;
  warnDays?: number;
  crlDays?: number;
  overlapDays?: number;
  /** Reminder thresholds in days before expiry. */
  notifyDays?: number[];
  /** Operators copied on every reminder; `null` removes them. */
  notifyOperators?: string[] | null;
}

export interface SetPolicyParams {
  changes: PolicyChanges;
}

export interface PolicyView {
  crlUrl?: string;
  ocspUrl?: string;
  crlPublishDir?: string;
  defaultDays: number;
  maxDays: number;
  warnDays: number;
  crlDays: number;
  overlapDays: number;
  /** Reminder thresholds, e.g. "30,14,7,1". */
  notifyDays: string;
  notifyOperators?: string;
}

export interface SetPolicyResult {
  policy: PolicyView;
  /** The settings that changed, old → new. */
  changed: Array<{ setting: string; from: string | number | null; to: string | number | null }>;
}

export const policyView = (c: StoreConfig): PolicyView => ({
  ...(c.ca.crlUrl ? { crlUrl: c.ca.crlUrl } : {}),
  ...(c.ca.ocspUrl ? { ocspUrl: c.ca.ocspUrl } : {}),
  ...(c.crl.publishDir ? { crlPublishDir: c.crl.publishDir } : {}),
  defaultDays: c.policy.defaultDays,
  maxDays: c.policy.maxDays,
  warnDays: c.policy.warnDays,
  crlDays: c.crl.validityDays,
  overlapDays: c.policy.overlapDays ?? DEFAULT_OVERLAP_DAYS,
  notifyDays: (c.policy.notifyDays ?? DEFAULT_NOTIFY_DAYS).join(","),
  ...(c.policy.notifyOperators?.length ? { notifyOperators: c.policy.notifyOperators.join(",") } : {}),
});

function apply(config: StoreConfig, ch: PolicyChanges): StoreConfig {
  const next: StoreConfig = { ...config, ca: { ...config.ca }, policy: { ...config.policy }, crl: { ...config.crl } };
  const optional = <K extends "crlUrl" | "ocspUrl">(key: K, flag: string, example: string) => {
    const v = ch[key];
    if (v === undefined) return;
    if (v === null) delete next.ca[key];
    else next.ca[key] = validateHttpUrl(v, flag, example);
  };
  optional("crlUrl", "--crl-url", "http://pki.example.com/crl/intermediate.crl");
  optional("ocspUrl", "--ocsp-url", "http://pki.example.com/ocsp");
  if (ch.crlPublishDir === "") throw usageError("ERR_USAGE", "--crl-publish-dir needs a directory", "name one, or pass none to stop copying CRLs");
  if (ch.crlPublishDir === null) delete next.crl.publishDir;
  else if (ch.crlPublishDir !== undefined) next.crl.publishDir = ch.crlPublishDir;
  for (const [flag, v] of [
    ["--default-days", ch.defaultDays],
    ["--max-days", ch.maxDays],
    ["--warn-days", ch.warnDays],
    ["--crl-days", ch.crlDays],
    ["--overlap-days", ch.overlapDays],
    ...(ch.notifyDays ?? []).map((d) => ["--notify-days", d] as const),
  ] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw usageError("ERR_DAYS", `${flag} must be a whole number of days, at least 1 (got ${v})`);
  }
  const crlDays = ch.crlDays === undefined ? undefined : crlValidityProblem(ch.crlDays, "--crl-days");
  if (crlDays) throw usageError("ERR_DAYS", crlDays);
  next.policy.defaultDays = ch.defaultDays ?? next.policy.defaultDays;
  next.policy.maxDays = ch.maxDays ?? next.policy.maxDays;
  next.policy.warnDays = ch.warnDays ?? next.policy.warnDays;
  next.crl.validityDays = ch.crlDays ?? next.crl.validityDays;
  if (ch.overlapDays !== undefined) next.policy.overlapDays = ch.overlapDays;
  if (ch.notifyDays !== undefined) next.policy.notifyDays = [...new Set(ch.notifyDays)].sort((a, b) => b - a);
  if (ch.notifyOperators === null) delete next.policy.notifyOperators;
  else if (ch.notifyOperators !== undefined) next.policy.notifyOperators = ch.notifyOperators.map((a) => checkAddress(a, "--notify-operators address"));
  if (next.policy.defaultDays > next.policy.maxDays)
    throw inputError(
      "ERR_DAYS",
      `the default validity (${next.policy.defaultDays} days) exceeds the maximum (${next.policy.maxDays} days)`,
      "raise --max-days or lower --default-days",
    );
  return next;
}

/** Changes the policy in one audited commit under the store lock. Nothing to change is a usage error. */
export async function setCaPolicy(pki: Pki, p: SetPolicyParams): Promise<SetPolicyResult> {
  if (Object.values(p.changes).every((v) => v === undefined))
    throw usageError(
      "ERR_NOTHING_TO_SET",
      "no policy setting given",
      "pass at least one of --crl-url, --ocsp-url, --crl-publish-dir, --default-days, --max-days, --warn-days, --crl-days, --overlap-days, --notify-days, --notify-operators",
    );
  await pki.config();
  return pki.transact(
    "ca.policy",
    async (tx) => {
      const config = await tx.config();
      const next = apply(config, p.changes);
      const [before, after] = [policyView(config), policyView(next)];
      const keys = Object.keys({ ...before, ...after }) as Array<keyof PolicyView>;
      const changed = keys.filter((k) => before[k] !== after[k]).map((k) => ({ setting: k, from: before[k] ?? null, to: after[k] ?? null }));
      if (changed.length) {
        tx.put(storeKeys.config, serializeConfig(next));
        const details = Object.fromEntries(changed.map((c) => [c.setting, c.to === null ? "(removed)" : c.to]));
        tx.audit({ action: "ca.policy", outcome: "ok", details });
      }
      return { policy: after, changed };
    },
    { purpose: "ca policy set" },
  );
}
