// Values a partner controls (subjects, SANs, names, file names) reach the terminal in tables,
// errors and warnings. Control characters (ESC can clear or retitle a terminal, BEL rings, CR
// overwrites a line), bidirectional overrides (U+202E makes text read backwards) and characters a
// terminal draws as nothing (a soft hyphen or a tag character makes `acme\u00ad-client` read as
// `acme-client`) are shown as escapes, never written raw, whatever the store holds — also stores
// written before the subject policy (#12).

/**
 * Controls (C0 but tab and newline, DEL, C1), format characters (Unicode category Cf: bidi
 * controls, zero-width characters, the soft hyphen, tag characters), every default-ignorable code
 * point (Unicode's list of characters a renderer may show as nothing: variation selectors, Hangul
 * fillers, U+180E, U+034F…) and the line and paragraph separators.
 */
const UNSAFE_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u;
/** The same plus tab and newline: a single value never spans lines. */
const UNSAFE_VALUE = /[\u0000-\u001f\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u;
const global = (re: RegExp) => new RegExp(re.source, "gu");
const UNSAFE_TEXT_G = global(UNSAFE_TEXT);
const UNSAFE_VALUE_G = global(UNSAFE_VALUE);
/** Characters JSON.stringify leaves raw that a terminal would still act on, or draw as nothing. */
const JSON_RAW_G = /[\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu;

const escapeChar = (c: string): string => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;
/** A JSON escape: \uXXXX per UTF-16 unit, so a tag character outside the BMP is its surrogate pair. */
const jsonEscape = (c: string): string => {
  let out = "";
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
};

/** The first character of `s` that safeValue escapes (a control, format or invisible character), if any. */
export const firstUnsafeChar = (s: string): string | undefined => UNSAFE_VALUE.exec(s)?.[0];

/** A message for people: keeps newlines and tabs, escapes every other control, format or invisible character. */
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
  return text.replace(JSON_RAW_G, jsonEscape);
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
