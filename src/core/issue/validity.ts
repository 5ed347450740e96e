// The validity and subject rules a request must meet, in one place: the issuing path enforces
// them and the onboarding wizard checks each typed answer with them, so a value the command
// would refuse (`--days 500` over the policy maximum) is refused at the prompt, not after the
// summary was confirmed.
import { inputError } from "../errors.js";
import { attributeValueProblem } from "../identity/subject-policy.js";
import { DAY, iso } from "../time.js";

export interface ValidityLimits {
  maxDays: number;
  /** The issuing CA's notAfter: no partner certificate outlives it. */
  issuerNotAfter: Date;
  now: Date;
}

/** Throws the command's own error when `days` breaks the CA's policy. */
export function checkValidityDays(days: number, l: ValidityLimits): void {
  if (!Number.isInteger(days) || days < 1) throw inputError("ERR_DAYS", `invalid validity ${days}: a whole number of days, at least 1`);
  if (days > l.maxDays)
    throw inputError("ERR_POLICY_VALIDITY", `${days} days exceeds this CA's maximum of ${l.maxDays} days`, `use --days ${l.maxDays} or less`);
  if (l.now.getTime() + days * DAY > l.issuerNotAfter.getTime()) {
    throw inputError(
      "ERR_POLICY_VALIDITY",
      `a ${days}-day certificate would outlive the issuing CA (valid until ${iso(l.issuerNotAfter)})`,
      "issue a shorter certificate, or renew the CA",
    );
  }
}

/** Throws when a subject CN given in place of the CSR's breaks the subject policy. */
export function checkCn(cn: string): void {
  const problem = attributeValueProblem("CN", cn);
  if (problem) throw inputError("ERR_CN", `invalid --cn: ${problem}`, 'use 1 to 64 printable ASCII characters without " \\ , + = < > # ;');
}
