// Exact identity allow-lists for the gateways that match on the subject DN string (#12).
//
// nginx ($ssl_client_s_dn), HAProxy (ssl_c_s_dn(,0,rfc2253)) and Apache (SSL_CLIENT_S_DN) all
// print the subject with OpenSSL's X509_NAME_print_ex(XN_FLAG_RFC2253): RDNs joined by ",",
// the attributes of a multi-valued RDN by "+", and every "," "+" "\"" "\\" "<" ">" ";" inside a
// value escaped with a backslash (control and non-ASCII bytes as \XX). A value therefore is a run
// of characters other than "\\", "," and "+", or backslash pairs, and an unescaped "," or "+" is
// always a separator. The pattern below walks the whole string RDN by RDN, anchored at both ends:
// it admits a subject only when exactly one RDN is CN, that CN equals the listed value byte for
// byte (case-sensitive), and no RDN is multi-valued — so the identity in O or OU, after an
// escaped comma, as a second CN or inside a multi-valued RDN never matches.
import { MtlsError } from "../errors.js";

/** One attribute type=value whose value may hold escaped pairs but no unescaped separator. */
const ATV_VALUE = "(?:[^\\x5c,+]|\\x5c.)*";
const OTHER_RDN = `(?!CN=)[A-Za-z0-9.-]+=${ATV_VALUE}`;

/** A PCRE literal for `value`: letters and digits as they are, everything else as \x{hh}. */
function pcreLiteral(value: string): string {
  let out = "";
  for (const ch of value) out += /[A-Za-z0-9]/.test(ch) ? ch : `\\x{${(ch.codePointAt(0) ?? 0).toString(16)}}`;
  return out;
}

/**
 * The anchored PCRE that matches an RFC 2253 subject string exactly when its only CN is `cn`.
 * It holds only letters, digits and `\ { } ( ) ? : ! = [ ] ^ , + . * - |`: no quote, space,
 * `#`, `;`, `$` or `%`, so it goes verbatim into an nginx quoted string, an HAProxy single-quoted
 * word and an Apache expression without changing their structure.
 */
export function exactCnDnRegex(cn: string): string {
  const re = `^(?:${OTHER_RDN},)*CN=${pcreLiteral(cn)}(?:,${OTHER_RDN})*\\z`;
  if (!/^[A-Za-z0-9\\{}()?:!=[\]^,+.*|-]+$/.test(re)) throw new MtlsError("ERR_INTERNAL", "allow-list pattern holds a character it must not", 70);
  return re;
}
