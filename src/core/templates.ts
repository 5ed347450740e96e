import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { MtlsError } from "./errors.js";

/** templates/ at the package root (this file is dist/src/core/templates.js once built). */
export const TEMPLATES_DIR = fileURLToPath(new URL("../../../templates/", import.meta.url));

export type TemplateValue = string | number | boolean | undefined;

/**
 * Renders `{{name}}`, `{{#name}}…{{/name}}` (kept when the value is truthy) and
 * `{{^name}}…{{/name}}` (kept when it is falsy). A placeholder without a value is a bug in the
 * caller, so it throws instead of rendering an empty string into a partner's instructions.
 */
export function renderTemplate(text: string, values: Record<string, TemplateValue>): string {
  const sections = /\{\{([#^])(\w+)\}\}([\s\S]*?)\{\{\/\2\}\}/g;
  let out = text;
  for (let i = 0; i < 5 && sections.test(out); i++) {
    out = out.replace(sections, (_m, kind: string, name: string, inner: string) => ((kind === "#") === Boolean(values[name]) ? inner : ""));
  }
  return out.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined || v === false) throw new MtlsError("ERR_TEMPLATE", `template value "${name}" is missing`, 70);
    return String(v);
  });
}

export async function loadTemplate(relativePath: string): Promise<string> {
  return readFile(new URL(relativePath, `file://${TEMPLATES_DIR}`), "utf8");
}
