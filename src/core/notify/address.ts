// E-mail addresses reach SMTP commands (MAIL FROM, RCPT TO) and message headers. A partner's
// contact is partner-controlled text: anything but a plain dot-atom address (RFC 5322 §3.4.1
// without quoted local parts, comments or display names) is refused, so CR, LF, commas, angle
// brackets and spaces can never split a command or add a header or a recipient.
import { inputError } from "../errors.js";

const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const ADDRESS = new RegExp(`^${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})+$`);

/** Why `value` is not an address mtls sends to, or undefined when it is one. */
export function addressProblem(value: string): string | undefined {
  if (value.length > 254) return "longer than 254 characters";
  if (!ADDRESS.test(value)) return "not a plain address like name@example.com (no display name, spaces, quotes or control characters)";
  return undefined;
}

/** A validated address (exit 3 naming `what` otherwise). Control characters are shown as "?". */
export function checkAddress(value: string, what: string): string {
  const problem = addressProblem(value);
  if (problem) throw inputError("ERR_ADDRESS", `invalid ${what} "${value.replace(/[\x00-\x1f\x7f]/g, "?")}": ${problem}`, "e.g. pki-ops@example.com");
  return value;
}

/** A comma-separated list of addresses, each validated. */
export const parseAddressList = (text: string, what: string): string[] =>
  text
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean)
    .map((a) => checkAddress(a, what));
