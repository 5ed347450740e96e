// How identities compare (#12). Two spellings that a gateway, an upstream or a URL library may take
// for one name must be one identity, or a partner could be issued another's name in a variant
// spelling: "api.acme.example." for "api.acme.example", "spiffe://td/./acme" or
// "spiffe://td/%61cme" for "spiffe://td/acme", "::ffff:10.0.0.1" for "10.0.0.1" (Go's net.IP
// takes them as equal). The key folds every such variant into one form; it is never printed.
import { formatIp, ipBytes, ipVersion } from "../ip.js";

/** Schemes whose URLs WHATWG parsing rewrites beyond RFC 3986 (numeric hosts, default ports). */
const SPECIAL = /^(https?|wss?|ftp|file):/;

/**
 * Whether RFC 3986 normalisation leaves a URI as it is: a plain host (no user info, port or
 * trailing dot), no percent-encoding, query or fragment, and no empty, "." or ".." path segment
 * or trailing "/". Nearly every stored URI (SPIFFE IDs) is one, and skips the URL parser on the
 * hot path (every issue compares against every certificate's identities): string searches only.
 */
function plainUri(v: string, authority: number): boolean {
  if (SPECIAL.test(v) || v.includes("%") || v.includes("?") || v.includes("#") || v.includes("@") || v.includes("\\")) return false;
  const slash = v.indexOf("/", authority);
  const host = slash < 0 ? v.slice(authority) : v.slice(authority, slash);
  if (host === "" || host.includes(":") || host.endsWith(".")) return false;
  if (slash < 0) return true;
  const path = `${v.slice(slash)}/`;
  return !path.includes("//") && !path.includes("/./") && !path.includes("/../");
}

const UNRESERVED = /[a-z0-9._~-]/;

const SCHEME = /^[a-z][a-z0-9+.-]*$/;

/** RFC 3986 §6.2.2 for a lowercased URI with an authority: unreserved characters decoded, dot segments and empty parts dropped. */
function uriKey(v: string, authority: number): string {
  if (plainUri(v, authority)) return v;
  const decoded = v.replace(/%([0-9a-f]{2})/g, (m, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : m;
  });
  let u: URL;
  try {
    u = new URL(decoded);
  } catch {
    return decoded.replace(/[./]+$/, "");
  }
  const user = u.username || u.password ? `${u.username}${u.password ? `:${u.password}` : ""}@` : "";
  const port = u.port ? `:${u.port}` : "";
  const path = u.pathname.replace(/\/{2,}/g, "/").replace(/\/+$/, "");
  return `${u.protocol}//${user}${u.hostname.replace(/\.+$/, "")}${port}${path}${u.search}${u.hash}`;
}

/** An IPv6 address in its short form, an IPv4-mapped one (::ffff:a.b.c.d) as the IPv4 address. */
function ipv6Key(v: string): string {
  const b = ipBytes(v);
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return formatIp(mapped ? b.subarray(12) : b);
}

/**
 * The key two identities share when they are one: case-insensitive after trimming, whatever their
 * type, because gateways compare names case-insensitively in places (DNS, Kong consumers matching
 * a CN or a SAN) and people confuse "Acme-Client" with "acme-client"; then one spelling per
 * address, URI and host name (see above).
 */
export function identityKey(value: string): string {
  const v = value.trim().toLowerCase();
  const colon = v.indexOf(":");
  if (colon >= 0) {
    if (!v.includes("/") && ipVersion(v) === 6) return ipv6Key(v);
    if (v.startsWith("//", colon + 1) && SCHEME.test(v.slice(0, colon))) return uriKey(v, colon + 3);
  }
  // A trailing dot is the DNS root: "api.acme.example." is the host "api.acme.example" (so is an
  // e-mail domain, and a CN read as a host name by an allow-list).
  return v.endsWith(".") ? v.replace(/\.+$/, "") : v;
}
