// How long a CRL may be valid: checked where a validity is chosen (`ca init`, `ca policy set`,
// `crl publish --validity`), in a module of its own so that those need not load the signing code.

/** The longest a CRL may be valid (`--validity`, `--crl-days`): an old CRL can be replayed to a gateway until its nextUpdate. */
export const CRL_MAX_VALIDITY_DAYS = 366;
/** The shortest: a CRL must outlast the time a gateway takes to fetch and load it. */
export const CRL_MIN_VALIDITY_HOURS = 1;

/** Why a CRL validity (in days) is out of bounds, if it is. */
export function crlValidityProblem(days: number, flag: string): string | undefined {
  if (days * 24 < CRL_MIN_VALIDITY_HOURS)
    return `${flag} must be at least ${CRL_MIN_VALIDITY_HOURS} hour: a shorter CRL is stale before a gateway has loaded it`;
  if (days > CRL_MAX_VALIDITY_DAYS)
    return `${flag} must be at most ${CRL_MAX_VALIDITY_DAYS} days: an old CRL could be replayed to a gateway until its nextUpdate`;
  return undefined;
}
