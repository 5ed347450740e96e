// A partner's organisation name and contact, as `partner add`, `partner onboard` and the wizard's
// questions accept them. The name goes into the delivery bundle's README and the reminders, the
// contact into SMTP envelopes: a control character could rewrite the partner's terminal or forge
// a line of its instructions, a bidi control or an invisible character could make one name read
// as another.
import { safeValue } from "../display-text.js";
import { inputError } from "../errors.js";
import { unsafeCharProblem } from "../free-text.js";

/** The value in quotes, its unsafe characters as \u{…}: the message names it without acting on it. */
const quoted = (v: string): string => `"${safeValue(v)}"`;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const MAX_NAME_LENGTH = 200;

/** The name, checked (exit 3 naming the character or the rule it breaks). */
export function checkPartnerName(name: string): string {
  const problem = unsafeCharProblem(name);
  if (problem) throw inputError("ERR_NAME", `invalid --name ${quoted(name)}: ${problem}`, "a plain organisation name, e.g. 'Acme Payments'");
  if (name.trim() === "" || name.length > MAX_NAME_LENGTH) throw inputError("ERR_NAME", `invalid --name: 1 to ${MAX_NAME_LENGTH} characters`);
  return name;
}

/** The contact, checked (exit 3 naming the character, or saying it is no e-mail address). */
export function checkPartnerContact(contact: string): string {
  const problem = unsafeCharProblem(contact);
  if (problem) throw inputError("ERR_CONTACT", `invalid --contact ${quoted(contact)}: ${problem}`, "e.g. pki@partner.example");
  if (!EMAIL.test(contact)) throw inputError("ERR_CONTACT", `invalid --contact ${quoted(contact)}: expected an e-mail address`, "e.g. pki@partner.example");
  return contact;
}
