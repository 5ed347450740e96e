// The identity-spoof scenario (#12): certificates from the real CA whose subject carries the
// allowed identity where an exact allow-list must not read it. A gateway that matches the
// identity as a substring of the whole subject DN, or reads the wrong one of two CNs, lets one of
// them through.
import type { DistinguishedName } from "../pki.js";

export interface SpoofVariant {
  /** Short name reported next to the scenario, e.g. "second-cn". */
  variant: string;
  subject: DistinguishedName;
}

/** Subjects (RDNs in encoding order) that carry `identity` outside the one CN an allow-list reads. */
export function spoofSubjects(identity: string): SpoofVariant[] {
  const own = "mtls-probe-spoof";
  return [
    // The identity as organisation and unit, with another CN.
    {
      variant: "in-o-ou",
      subject: {
        rdns: [
          ["O", identity],
          ["OU", identity],
          ["CN", own],
        ],
      },
    },
    // "O=evil\,CN=<identity>, CN=spoof" prints as "CN=spoof,O=evil\,CN=<identity>": a pattern like
    // (^|,)CN=<identity>(,|$) over the DN string finds the identity after the escaped comma.
    {
      variant: "escaped-comma",
      subject: {
        rdns: [
          ["O", `spoof,CN=${identity}`],
          ["CN", own],
        ],
      },
    },
    // Two CNs, either order: HAProxy's ssl_c_s_dn(CN) reads the last, Apache's SSL_CLIENT_S_DN_CN the first.
    {
      variant: "second-cn",
      subject: {
        rdns: [
          ["CN", own],
          ["CN", identity],
        ],
      },
    },
    {
      variant: "first-cn",
      subject: {
        rdns: [
          ["CN", identity],
          ["CN", own],
        ],
      },
    },
  ];
}
