// Free text an operator types about a partner (its organisation name, its contact, the gateway
// URL its bundle names) is shown to people later: in the bundle's README on the partner's
// terminal, in e-mails, tables and reports. It is refused at input when it holds a character a
// terminal acts on or draws as nothing, so that what is stored is what everyone reads; the
// output paths escape such characters anyway (display-text.ts) for stores written before.
import { firstUnsafeChar } from "./display-text.js";
import { describeChar } from "./identity/subject-policy.js";

const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** What a character safeValue escapes is, for a message. */
function kindOf(c: string): string {
  if (/\p{Cc}/u.test(c)) return "control character";
  if (BIDI.test(c)) return "bidi control";
  if (c === "\u2028" || c === "\u2029") return "line separator";
  return "invisible character";
}

/** Why `value` cannot be kept as text shown to people, if it cannot: "it contains the control character U+001B". */
export function unsafeCharProblem(value: string): string | undefined {
  const c = firstUnsafeChar(value);
  return c === undefined ? undefined : `it contains the ${kindOf(c)} ${describeChar(c)}`;
}
