import { safeValue } from "../display-text.js";

/**
 * Text and attribute values for HTML: every value a partner controls (names, subjects, SANs,
 * contacts) passes through here before it reaches the page. Controls, bidi overrides and invisible
 * characters are shown as \u{…}, as on the terminal: a page renders U+202E as an instruction to
 * read backwards, and a soft hyphen or a tag character not at all.
 */
export function escapeHtml(value: unknown): string {
  return safeValue(String(value ?? "")).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
