import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MtlsError } from "./errors.js";
import { shellWord } from "./shell.js";

/** The package root: the nearest directory above this module that holds templates/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, "templates", "gateways"))) return dir;
    dir = dirname(dir);
  }
  throw new MtlsError("ERR_INSTALL", "cannot find mtls's templates/ directory", 70);
}

/** templates/ at the package root (the code runs from dist/src/… or dist/bundle/). */
export const TEMPLATES_DIR = `${join(packageRoot(), "templates")}/`;

export type TemplateValue = string | number | boolean | undefined | TemplateValue[] | { [key: string]: TemplateValue };
export type TemplateScope = Record<string, TemplateValue>;

type Node = { text: string } | { name: string; filters: string[] } | { section: string; inverted: boolean; children: Node[] };

function parse(src: string): Node[] {
  const root: Node[] = [];
  const stack: Array<{ name: string; nodes: Node[] }> = [{ name: "", nodes: root }];
  const tag = /\{\{([#^/]?)\s*([\w.]+)((?:\|[\w]+(?::[^|}]*)?)*)\s*\}\}/g;
  let last = 0;
  for (const m of src.matchAll(tag)) {
    const top = stack.at(-1) as { name: string; nodes: Node[] };
    if (m.index > last) top.nodes.push({ text: src.slice(last, m.index) });
    last = m.index + m[0].length;
    const [, kind, name = "", filters = ""] = m;
    if (kind === "#" || kind === "^") {
      const children: Node[] = [];
      top.nodes.push({ section: name, inverted: kind === "^", children });
      stack.push({ name, nodes: children });
    } else if (kind === "/") {
      if (top.name !== name) throw new MtlsError("ERR_TEMPLATE", `template: {{/${name}}} closes {{#${top.name}}}`, 70);
      stack.pop();
    } else {
      top.nodes.push({ name, filters: filters.split("|").filter(Boolean) });
    }
  }
  if (stack.length !== 1) throw new MtlsError("ERR_TEMPLATE", `template: {{#${stack.at(-1)?.name}}} is never closed`, 70);
  if (last < src.length) root.push({ text: src.slice(last) });
  return root;
}

function lookup(scopes: TemplateScope[], name: string): TemplateValue {
  if (name === ".") return scopes[0]?.["."];
  const [head = "", ...rest] = name.split(".");
  for (const s of scopes) {
    // Own keys only: `in` and plain indexing would find Object.prototype's "constructor" (#13).
    if (Object.hasOwn(s, head))
      return rest.reduce<TemplateValue>((v, k) => (v && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, k) ? v[k] : undefined), s[head]);
  }
  return undefined;
}

/** Filters a template may apply to a value, e.g. `{{caPem|indent:6}}`. */
const FILTERS: Record<string, (v: string, arg?: string) => string> = {
  /** Indents every line after the first (multi-line values inside YAML block scalars). */
  indent: (v, n) => v.replace(/\n(?=.)/g, `\n${" ".repeat(Number(n ?? 2))}`),
  base64: (v) => Buffer.from(v).toString("base64"),
  json: (v) => JSON.stringify(v),
  /** PCRE-quoted (nginx map regexes). */
  regex: (v) => v.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"),
  /** For double-quoted strings (HAProxy arguments). */
  dquote: (v) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"'),
  /** For single-quoted strings (Apache expressions). */
  squote: (v) => v.replace(/\\/g, "\\\\").replace(/'/g, "\\'"),
  trim: (v) => v.trim(),
  /** One POSIX shell word (a command a reader pastes): single-quoted, so no character ends it. */
  shell: shellWord,
};

function renderNodes(nodes: Node[], scopes: TemplateScope[]): string {
  let out = "";
  for (const n of nodes) {
    if ("text" in n) out += n.text;
    else if ("section" in n) {
      const v = lookup(scopes, n.section);
      const empty = v === undefined || v === false || v === "" || (Array.isArray(v) && v.length === 0);
      if (n.inverted) {
        if (empty) out += renderNodes(n.children, scopes);
      } else if (Array.isArray(v)) {
        for (const item of v) {
          const scope: TemplateScope = item && typeof item === "object" && !Array.isArray(item) ? { ...item, ".": item } : { ".": item };
          out += renderNodes(n.children, [scope, ...scopes]);
        }
      } else if (!empty) {
        out += renderNodes(n.children, v && typeof v === "object" ? [v as TemplateScope, ...scopes] : scopes);
      }
    } else {
      const v = lookup(scopes, n.name);
      const structured = typeof v === "object" && n.filters[0] === "json";
      if (v === undefined || v === false || (typeof v === "object" && !structured)) {
        throw new MtlsError("ERR_TEMPLATE", `template value "${n.name}" is missing`, 70);
      }
      let s = structured ? JSON.stringify(v) : String(v);
      for (const f of structured ? n.filters.slice(1) : n.filters) {
        const [fname = "", arg] = f.split(":");
        const fn = Object.hasOwn(FILTERS, fname) ? FILTERS[fname] : undefined;
        if (!fn) throw new MtlsError("ERR_TEMPLATE", `template filter "${fname}" is unknown`, 70);
        s = fn(s, arg);
      }
      out += s;
    }
  }
  return out;
}

/**
 * A small Mustache-like renderer: `{{name}}` with filters (`{{pem|indent:4}}`), `{{#list}}…{{/list}}`
 * repeated per item (or kept once when the value is truthy), `{{^name}}…{{/name}}` when it is
 * falsy or empty. A placeholder without a value is a bug in the caller, so it throws instead of
 * rendering an empty string into a partner's instructions or a gateway's configuration.
 */
export function renderTemplate(text: string, values: TemplateScope): string {
  // As in Mustache, a section tag alone on its line takes the whole line with it.
  const standalone = text.replace(/^[ \t]*(\{\{[#^/][^}]*\}\})[ \t]*\r?\n/gm, "$1");
  return renderNodes(parse(standalone), [values]);
}

export async function loadTemplate(relativePath: string): Promise<string> {
  return readFile(new URL(relativePath, `file://${TEMPLATES_DIR}`), "utf8");
}

/** The entries of a directory under templates/ (e.g. "gateways": one per gateway kind), sorted. */
export async function templateEntries(relativeDir: string): Promise<string[]> {
  return (await readdir(join(TEMPLATES_DIR, relativeDir))).sort();
}
