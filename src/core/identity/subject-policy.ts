// The subject policy: what a partner certificate's subject may hold. Identity strings travel into
// gateway configs (nginx, HAProxy, Apache, YAML), HTTP headers, terminals and report file names,
// so they keep to an alphabet that needs no escaping in any of them (#12).
import { children, readOid, readTlv } from "../der.js";
import { inputError, type MtlsError } from "../errors.js";
import { subjectEncodingProblem } from "../issue/policy.js";

/** Attributes a subject may hold, with their RFC 5280 Appendix A upper bounds (characters). */
const ATTRIBUTES: Record<string, { name: string; max: number }> = {
  "2.5.4.3": { name: "CN", max: 64 },
  "2.5.4.10": { name: "O", max: 64 },
  "2.5.4.11": { name: "OU", max: 64 },
  "2.5.4.7": { name: "L", max: 128 },
  "2.5.4.8": { name: "ST", max: 128 },
  "2.5.4.6": { name: "C", max: 2 },
};
const KNOWN_NAMES: Record<string, string> = { "1.2.840.113549.1.9.1": "emailAddress", "2.5.4.5": "serialNumber", "0.9.2342.19200300.100.1.25": "DC" };

/** More RDNs than this is not a client's name but an attempt to bloat configs and logs. */
export const MAX_RDNS = 16;

/**
 * Characters an identity value may not hold: the RFC 4514/2253 specials (`"` `\` `,` `+` `=` `<`
 * `>` `#` `;`), which gateways print escaped or treat as separators, and anything outside
 * printable ASCII (controls, DEL, non-ASCII lookalikes and bidi overrides).
 */
const FORBIDDEN = new Set(['"', "\\", ",", "+", "=", "<", ">", "#", ";"]);

/** "U+001B" for a code point; with the character itself when it is printable ASCII. */
export function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const u = `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
  return cp >= 0x21 && cp <= 0x7e ? `"${ch}" (${u})` : cp === 0x20 ? `space (${u})` : u;
}

/** Why `value` cannot be the value of subject attribute `attr`, if it cannot. */
export function attributeValueProblem(attr: string, value: string, max = 64): string | undefined {
  if (value.length === 0) return `subject attribute ${attr} is empty`;
  for (const ch of value) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x20 || cp > 0x7e || FORBIDDEN.has(ch)) return `subject attribute ${attr} contains the forbidden character ${describeChar(ch)}`;
  }
  if (value.trim() !== value) return `subject attribute ${attr} starts or ends with a space`;
  if ([...value].length > max) return `subject attribute ${attr} is longer than ${max} characters (RFC 5280 upper bound)`;
  if (attr === "C" && !/^[A-Za-z]{2}$/.test(value)) return "subject attribute C must be a two-letter country code (ISO 3166)";
  return undefined;
}

/** One attribute of a Name, decoded to text (undefined when its string type is not supported). */
export interface NameAttribute {
  oid: string;
  /** "CN", "O" … or the dotted OID for attributes outside the policy. */
  name: string;
  value: string | undefined;
}

function decodeString(tag: number, bytes: Uint8Array): string | undefined {
  const b = Buffer.from(bytes);
  if (tag === 0x0c) return b.toString("utf8");
  if (tag === 0x13 || tag === 0x16) return b.toString("latin1");
  if (tag === 0x1e && b.length % 2 === 0) return Buffer.from(b).swap16().toString("utf16le");
  return undefined;
}

/** A DER Name as its RDNs, each a list of attributes (more than one: a multi-valued RDN). */
export function readNameAttributes(nameDer: Uint8Array): NameAttribute[][] {
  return children(nameDer, readTlv(nameDer, 0)).map((set) =>
    children(nameDer, set).map((atv) => {
      const [type, value] = children(nameDer, atv);
      const oid = type ? readOid(nameDer, type) : "";
      const name = ATTRIBUTES[oid]?.name ?? KNOWN_NAMES[oid] ?? oid;
      return { oid, name, value: value ? decodeString(value.tag, nameDer.subarray(value.start, value.end)) : undefined };
    }),
  );
}

/** The subject's commonName values, in encoding order. */
export function commonNamesOf(nameDer: Uint8Array): string[] {
  return readNameAttributes(nameDer)
    .flat()
    .filter((a) => a.name === "CN" && a.value !== undefined)
    .map((a) => a.value as string);
}

/** Why a subject breaks the policy, if it does: one line naming the attribute and the character. */
export function subjectPolicyProblem(nameDer: Uint8Array): string | undefined {
  const encoding = subjectEncodingProblem(nameDer);
  if (encoding) return `the subject has ${encoding}`;
  let rdns: NameAttribute[][];
  try {
    rdns = readNameAttributes(nameDer);
  } catch {
    return "the subject is a malformed Name";
  }
  if (rdns.length > MAX_RDNS) return `the subject has ${rdns.length} attributes; at most ${MAX_RDNS} are issued`;
  let cns = 0;
  for (const rdn of rdns) {
    if (rdn.length !== 1) return `the subject has a multi-valued RDN (${rdn.map((a) => a.name).join("+")}); each attribute must stand alone`;
    const a = rdn[0] as NameAttribute;
    const spec = ATTRIBUTES[a.oid];
    if (!spec) return `the subject has attribute ${a.name}, which is not issued (only CN, O, OU, L, ST and C)`;
    if (a.value === undefined) return `subject attribute ${a.name} has an unsupported string type`;
    if (spec.name === "CN" && ++cns > 1) return "the subject has more than one CN";
    const problem = attributeValueProblem(spec.name, a.value, spec.max);
    if (problem) return problem;
  }
  return undefined;
}

/** Throws the policy refusal (exit 3) for a subject that breaks the policy. */
export function checkSubjectPolicy(nameDer: Uint8Array, what: string, hint = "ask the partner for a CSR within the policy, or pass --cn"): void {
  const problem = subjectPolicyProblem(nameDer);
  if (problem) throw policyError(`${what}: ${problem}`, hint);
}

export const policyError = (message: string, hint?: string): MtlsError => inputError("ERR_SUBJECT_POLICY", message, hint);
