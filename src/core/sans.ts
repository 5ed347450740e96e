import { inputError } from "./errors.js";
import { describeChar } from "./identity/subject-policy.js";
import { canonicalIp, ipVersion } from "./ip.js";

export type SanType = "dns" | "uri" | "email" | "ip";
export interface San {
  type: SanType;
  value: string;
}

/** "dns:api.partner.example" — the form used by --san, the index and --json output. */
export const formatSan = (s: San): string => `${s.type}:${s.value}`;

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

function checkDns(v: string): string | undefined {
  if (v.startsWith("*.")) return "wildcards are not allowed in client certificates";
  if (v.length > 253) return "longer than 253 characters";
  // RFC 5280 §4.2.1.6 takes the preferred name syntax, without the root's dot.
  if (v.endsWith(".")) return "ends with a dot: write the name without it";
  const labels = v.split(".");
  if (!labels.every((l) => LABEL.test(l))) return "not a valid DNS name (letters, digits and hyphens in dot-separated labels)";
  return undefined;
}

function checkUri(v: string): string | undefined {
  if (v.length > 2048) return "longer than 2048 characters";
  if (!/^[a-z][a-z0-9+.-]*:/i.test(v)) return "a URI needs a scheme, e.g. spiffe://example.org/partner";
  const bad = [...v].find((c) => /[\s<>"{}|\\^`]/.test(c) || c.charCodeAt(0) < 0x21 || c.charCodeAt(0) > 0x7e);
  if (bad) return `contains the character ${describeChar(bad)}, not allowed in a URI (RFC 3986)`;
  try {
    new URL(v);
  } catch {
    return "not a valid URI";
  }
  return /^spiffe:/i.test(v) ? spiffeProblem(v) : undefined;
}

/**
 * SPIFFE IDs as the SPIFFE ID specification (§2) has them: a lowercase trust domain (letters,
 * digits, dots, dashes, underscores; no port or user info) and path segments of letters, digits,
 * dots, dashes and underscores, none empty, "." or "..", and no query, fragment or
 * percent-encoding. Workloads compare SPIFFE IDs as strings, so one ID has one spelling.
 */
function spiffeProblem(v: string): string | undefined {
  // The scheme compares case-insensitively (RFC 3986 §3.1), the trust domain is lowercase.
  const m = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[A-Za-z0-9._-]+)*)$/i.exec(v);
  const segments = m?.[2]?.split("/").slice(1) ?? [];
  if (!m || /[A-Z]|\.$/.test(m[1] as string) || segments.some((x) => x === "." || x === ".."))
    return "not a valid SPIFFE ID: spiffe://<trust-domain>/<path>, a lowercase trust domain and path segments of letters, digits, '.', '-' and '_' (no '.' or '..' segment, trailing '/', port, query or %-escape)";
  return undefined;
}

const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

function checkEmail(v: string): string | undefined {
  const at = v.lastIndexOf("@");
  // The local part as an RFC 5322 dot-atom: no quoted strings, spaces, controls or commas (#12).
  if (at < 1 || v.length > 254 || !EMAIL_LOCAL.test(v.slice(0, at)) || checkDns(v.slice(at + 1))) return "not a valid e-mail address";
  return undefined;
}

function checkIp(v: string): string | undefined {
  // A zone (fe80::1%eth0) names an interface of one host; a certificate holds only the address.
  if (v.includes("%")) return "an address with a zone (%…) cannot be in a certificate";
  const version = ipVersion(v);
  if (!version) return "not an IPv4 or IPv6 address";
  // Go's net.IP and others take ::ffff:a.b.c.d for a.b.c.d: one address, one spelling.
  if (version === 6 && /^::ffff:/.test(canonicalIp(v))) return "an IPv4-mapped IPv6 address: write the IPv4 address itself";
  return undefined;
}

const CHECKS: Record<SanType, (v: string) => string | undefined> = {
  dns: checkDns,
  uri: checkUri,
  email: checkEmail,
  ip: checkIp,
};

/** Validates one SAN value of a known type; returns the reason it is invalid, if it is. */
export function sanProblem(s: San): string | undefined {
  if (s.value.length === 0) return "empty value";
  return CHECKS[s.type](s.value);
}

/** Parses "type:value" (dns, uri, email, ip) and validates the value. Input error on failure. */
export function parseSan(text: string): San {
  const m = /^(dns|uri|email|ip):(.*)$/is.exec(text.trim());
  if (!m)
    throw inputError(
      "ERR_SAN",
      `invalid SAN "${text}": expected dns:, uri:, email: or ip: followed by a value`,
      "e.g. --san dns:api.partner.example --san uri:spiffe://example.org/partner/acme",
    );
  const san: San = { type: (m[1] as string).toLowerCase() as SanType, value: m[2] as string };
  const problem = sanProblem(san);
  if (problem) throw inputError("ERR_SAN", `invalid SAN "${text}": ${problem}`);
  return canonicalSan(san);
}

/** An address in the form a certificate's reader prints it ("2001:DB8:0:0::1" is "2001:db8::1"), so that records, allow-lists and duplicates compare as the certificate does. */
export const canonicalSan = (s: San): San => (s.type === "ip" ? { ...s, value: canonicalIp(s.value) } : s);

/** Removes duplicates, keeping the first occurrence (DNS names compare case-insensitively). */
export function dedupeSans(sans: San[]): San[] {
  const seen = new Set<string>();
  return sans.filter((s) => {
    const key = `${s.type}:${s.type === "dns" || s.type === "email" ? s.value.toLowerCase() : s.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
