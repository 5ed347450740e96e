// Values a partner controls (subjects, SANs, file names) reach the terminal in tables, errors and
// warnings. Control characters (ESC can clear or retitle a terminal, BEL rings, CR overwrites a
// line) and bidirectional overrides (U+202E makes text read backwards) are shown as escapes,
// never written raw, whatever the store holds — also stores written before the subject policy (#12).

/** C0 controls but tab and newline, DEL, C1 controls, zero-width and bidi formatting characters. */
const UNSAFE_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
/** The same plus tab and newline: a single value never spans lines. */
const UNSAFE_VALUE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;
const global = (re: RegExp) => new RegExp(re.source, "g");
const UNSAFE_TEXT_G = global(UNSAFE_TEXT);
const UNSAFE_VALUE_G = global(UNSAFE_VALUE);
/** Characters JSON.stringify leaves raw that a terminal would still act on. */
const JSON_RAW_G = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const escapeChar = (c: string): string => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;

/** A message for people: keeps newlines and tabs, escapes every other control or bidi character. */
export function safeText(s: string): string {
  return UNSAFE_TEXT.test(s) ? s.replace(UNSAFE_TEXT_G, escapeChar) : s;
}

/** One value (a subject, a SAN, an error message): escapes newlines and tabs too. */
export function safeValue(s: string): string {
  return UNSAFE_VALUE.test(s) ? s.replace(UNSAFE_VALUE_G, escapeChar) : s;
}

/** A table cell or field value: one line, whatever the data says (colour codes pass). */
export const cellText = (s: string): string => (/[\t\n\r]/.test(s) ? s.replace(/[\t\n\r]/g, escapeChar) : s);

/** JSON text with the characters JSON.stringify leaves raw written as \uXXXX escapes (still the same JSON). */
export function safeJson(text: string): string {
  return text.replace(JSON_RAW_G, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, "0")}`);
}

/**
 * Every string inside a result, made safe for a terminal. Copies only what changes, so a large
 * clean result (100,000 certificates in `list`) costs one regex test per string.
 */
export function safeDeep<T>(v: T): T {
  // Newlines stay: some results are documents (a rendered config, an armored key); table cells
  // and fields escape them (see cellText).
  if (typeof v === "string") return safeText(v) as T;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const c = safeDeep(v[i]);
      if (c === v[i]) continue;
      out ??= v.slice();
      out[i] = c;
    }
    return (out ?? v) as T;
  }
  if (v && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype) {
    let out: Record<string, unknown> | undefined;
    for (const [k, x] of Object.entries(v)) {
      const c = safeDeep(x);
      if (c === x) continue;
      out ??= { ...(v as Record<string, unknown>) };
      out[k] = c;
    }
    return (out ?? v) as T;
  }
  return v;
}

const ANSI = /\u001b\[[0-9;]*m/g;
const PLAIN = /^[\x20-\x7e]*$/;

/** Columns a cell takes: plain ASCII (nearly every cell) is its length; otherwise strip colour, count code points. */
export const displayWidth = (s: string): number => (PLAIN.test(s) ? s.length : [...s.replace(ANSI, "")].length);

/** Whether `s` is printable ASCII: safe as it is and as wide as it is long. */
export const isPlain = (s: string): boolean => PLAIN.test(s);
