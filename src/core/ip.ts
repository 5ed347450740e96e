// net.isIP for the commands' hot paths (#21). On its first call net.isIP compiles Node's IPv6
// pattern, ~3.5 ms of CPU (and loading node:net ~2 ms more): `mtls inspect` paid it to learn
// that a CN like "partner-7" is not an address. Only a string made of hex digits, dots and
// colons (then perhaps a %zone) can be one, so anything else is answered without node:net.

/** Every string net.isIP accepts matches this: IPv4 is digits and dots, IPv6 hex digits, colons and dots, then an optional zone. */
const MAY_BE_IP = /^[0-9a-f.:]+(?:%|$)/i;

/** net.isIP: 4, 6, or 0 for anything that is not an IP address. */
export function ipVersion(s: string): 0 | 4 | 6 {
  if (!MAY_BE_IP.test(s)) return 0;
  return process.getBuiltinModule("node:net").isIP(s) as 0 | 4 | 6;
}
