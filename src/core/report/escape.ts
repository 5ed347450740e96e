/**
 * Text and attribute values for HTML: every value a partner controls (names, subjects, SANs,
 * contacts) passes through here before it reaches the page.
 */
export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
