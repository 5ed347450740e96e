// Values a partner controls (subjects, SANs, names, file names) reach the terminal in tables,
// errors and warnings. Control characters (ESC can clear or retitle a terminal, BEL rings, CR
// overwrites a line), bidirectional overrides (U+202E makes text read backwards) and characters a
// terminal draws as nothing (a soft hyphen or a tag character makes `acme\u00ad-client` read as
// `acme-client`) are shown as escapes, never written raw, whatever the store holds — also stores
// written before the subject policy (#12).

// The expressions below name Unicode properties, which V8 resolves through ICU each time one is
// built: they are written where they are used, so a run that shows only printable ASCII (most
// runs) never builds them. Controls (C0 but tab and newline, DEL, C1), format characters (Unicode
// category Cf: bidi controls, zero-width characters, the soft hyphen, tag characters), every
// default-ignorable code point (Unicode's list of characters a renderer may show as nothing:
// variation selectors, Hangul fillers, U+180E, U+034F…) and the line and paragraph separators.

/** Printable ASCII: none of those. */
const PLAIN = /^[\x20-\x7e]*$/;
/** The same with tabs and newlines. */
const PLAIN_TEXT = /^[\x20-\x7e\t\n]*$/;

const escapeChar = (c: string): string => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;
/** A JSON escape: \uXXXX per UTF-16 unit, so a tag character outside the BMP is its surrogate pair. */
const jsonEscape = (c: string): string => {
  let out = "";
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
  return out;
};

/** The first character of `s` that safeValue escapes (a control, format or invisible character), if any. */
export const firstUnsafeChar = (s: string): string | undefined =>
  PLAIN.test(s) ? undefined : /[\u0000-\u001f\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u.exec(s)?.[0];

/** A message for people: keeps newlines and tabs, escapes every other control, format or invisible character. */
export function safeText(s: string): string {
  if (PLAIN_TEXT.test(s)) return s;
  return s.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu, escapeChar);
}

/** One value (a subject, a SAN, an error message): escapes newlines and tabs too. */
export function safeValue(s: string): string {
  if (PLAIN.test(s)) return s;
  return s.replace(/[\u0000-\u001f\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu, escapeChar);
}

/** A table cell or field value: one line, whatever the data says (colour codes pass). */
export const cellText = (s: string): string => (/[\t\n\r]/.test(s) ? s.replace(/[\t\n\r]/g, escapeChar) : s);

/** JSON text with the characters JSON.stringify leaves raw written as \uXXXX escapes (still the same JSON). */
export function safeJson(text: string): string {
  return text.replace(/[\u007f-\u009f\p{Cf}\p{Default_Ignorable_Code_Point}\u2028\u2029]/gu, jsonEscape);
}

type Container = unknown[] | Record<string, unknown>;
const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
const isContainer = (v: unknown): v is Container => Array.isArray(v) || isPlainObject(v);

/** One container being walked: its keys (an object's), the next one to visit, and its copy once a child changed. */
interface Frame {
  src: Container;
  keys?: string[];
  size: number;
  next: number;
  copy?: Container;
}

const keyAt = (f: Frame, i: number): string | number => (f.keys ? (f.keys[i] as string) : i);

/**
 * Every string inside a result, made safe for a terminal. Copies only what changes, so a large
 * clean result (100,000 certificates in `list`) costs one regex test per string. Walked with a
 * stack of its own rather than by recursion: a result may carry JSON from outside nested
 * thousands deep.
 */
export function safeDeep<T>(v: T): T {
  // Newlines stay: some results are documents (a rendered config, an armored key); table cells
  // and fields escape them (see cellText).
  if (typeof v === "string") return safeText(v) as T;
  if (!isContainer(v)) return v;
  const open = (src: Container): Frame => {
    const keys = Array.isArray(src) ? undefined : Object.keys(src);
    return { src, ...(keys ? { keys } : {}), size: keys ? keys.length : (src as unknown[]).length, next: 0 };
  };
  const stack: Frame[] = [open(v)];
  let done: unknown = v;
  while (stack.length > 0) {
    const f = stack.at(-1) as Frame;
    if (f.next === f.size) {
      stack.pop();
      done = f.copy ?? f.src;
      const parent = stack.at(-1);
      if (parent && done !== f.src) setChild(parent, keyAt(parent, parent.next - 1), done);
      continue;
    }
    const key = keyAt(f, f.next++);
    const x = (f.src as Record<string | number, unknown>)[key];
    if (typeof x === "string") {
      const safe = safeText(x);
      if (safe !== x) setChild(f, key, safe);
    } else if (isContainer(x)) stack.push(open(x));
  }
  return done as T;
}

function setChild(f: Frame, key: string | number, value: unknown): void {
  f.copy ??= Array.isArray(f.src) ? f.src.slice() : { ...f.src };
  (f.copy as Record<string | number, unknown>)[key] = value;
}

const ANSI = /\u001b\[[0-9;]*m/g;

/** Columns a cell takes: plain ASCII (nearly every cell) is its length; otherwise strip colour, count code points. */
export const displayWidth = (s: string): number => (PLAIN.test(s) ? s.length : [...s.replace(ANSI, "")].length);

/** Whether `s` is printable ASCII: safe as it is and as wide as it is long. */
export const isPlain = (s: string): boolean => PLAIN.test(s);
