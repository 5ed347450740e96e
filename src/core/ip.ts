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

/** An address as a certificate carries it: 4 or 16 bytes (the text is a valid address, see ipVersion). */
export function ipBytes(s: string): Buffer {
  if (ipVersion(s) === 4) return Buffer.from(s.split(".").map(Number));
  // A dotted IPv4 tail (::ffff:192.0.2.1) is the last two groups.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (dotted) {
    const [a, b, c, d] = (dotted[2] as string).split(".").map(Number) as [number, number, number, number];
    s = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  // Expand "::" and write the 8 groups.
  const [head = "", tail = ""] = s.split("::");
  const h = head ? head.split(":") : [];
  const t = s.includes("::") ? (tail ? tail.split(":") : []) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return Buffer.from(groups.flatMap((g) => [Number.parseInt(g, 16) >> 8, Number.parseInt(g, 16) & 0xff]));
}

/** An address as mtls prints one read from a certificate: dotted IPv4, or IPv6 in RFC 5952's short form. */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return Array.from(b).join(".");
  if (b.length !== 16) return Buffer.from(b).toString("hex");
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push((((b[i] as number) << 8) | (b[i + 1] as number)).toString(16));
  // The longest run of two or more zero groups becomes "::" (the first, on a tie).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && parts[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  return best < 0 ? parts.join(":") : `${parts.slice(0, best).join(":")}::${parts.slice(best + bestLen).join(":")}`;
}

/** The form a certificate's reader prints for address `s` ("2001:DB8:0:0::1" is "2001:db8::1"). */
export const canonicalIp = (s: string): string => formatIp(ipBytes(s));
