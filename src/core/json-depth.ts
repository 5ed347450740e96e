// JSON from outside (a bundle's manifest) is parsed, then rendered and serialised by recursive
// code: V8's JSON.stringify and our display sanitiser overflow the stack somewhere past a few
// thousand levels. Such input is measured first, without recursion, and refused.

/** No manifest mtls writes nests more than 3 levels; this leaves room for any honest extension. */
export const MAX_JSON_DEPTH = 64;

/** How deeply the arrays and objects of a JSON text nest (0 for a scalar), read in one pass. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) max = Math.max(max, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
