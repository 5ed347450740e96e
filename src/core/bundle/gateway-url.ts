// The gateway URL a bundle's README gives the partner to test with (`--gateway-url`). The partner
// pastes that curl line into a shell: the URL is quoted there (shell.ts), and refused here unless
// it is an absolute http(s) URL with nothing a terminal acts on, so the README shows it as typed.
import { safeValue } from "../display-text.js";
import { usageError } from "../errors.js";
import { unsafeCharProblem } from "../free-text.js";
import { describeChar } from "../identity/subject-policy.js";

const HINT = "an absolute URL such as https://api.example.com/";

/** `url`, checked (exit 2 naming the character or the rule it breaks). */
export function checkGatewayUrl(url: string): string {
  const bad = (problem: string) => usageError("ERR_GATEWAY_URL", `invalid --gateway-url "${safeValue(url)}": ${problem}`, HINT);
  const unsafe = unsafeCharProblem(url);
  if (unsafe) throw bad(unsafe);
  const space = /\s/u.exec(url)?.[0];
  if (space !== undefined) throw bad(`it contains the whitespace character ${describeChar(space)}`);
  if (!/^https?:\/\//i.test(url)) throw bad("expected an http:// or https:// URL");
  try {
    new URL(url);
  } catch {
    throw bad("not a valid URL");
  }
  return url;
}
