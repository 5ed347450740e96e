// The --json document written in pieces (#21): `list --json` over 100,000 certificates built one
// 100 MB string with JSON.stringify(doc, null, 2) and held every record while doing it. This
// writes the same bytes, element by element, and takes a non-array iterable (a list read as it
// is iterated, core/inventory/list.ts) as the array it stands for. Such a list may also give its
// elements' text as bytes (rawJson: the index summary's pre-rendered elements), which are
// written as they are, between the brackets and separators written here.

const CHUNK = 64 * 1024;

const isIterableList = (v: unknown): v is Iterable<unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";

interface RawJsonList {
  readonly length: number;
  rawJson(indent: string): Iterable<Uint8Array> | undefined;
}

const hasRawJson = (v: Iterable<unknown>): v is Iterable<unknown> & RawJsonList => typeof (v as Partial<RawJsonList>).rawJson === "function";

/** Whether `v` holds a streamed list anywhere JSON.stringify would not see it whole. */
function hasStreamedList(v: unknown, depth = 0): boolean {
  if (isIterableList(v)) return true;
  if (depth > 3 || typeof v !== "object" || v === null || Array.isArray(v)) return false;
  return Object.values(v).some((x) => hasStreamedList(x, depth + 1));
}

/**
 * Writes `JSON.stringify(value, null, 2)` through `write`, in pieces of about 64 KiB: objects
 * and arrays at the top are opened here, and each element is stringified on its own (its
 * newlines, never inside a JSON string, get the element's indentation). A list that has its
 * elements' text goes through `writeBytes`, when given.
 */
export function writeJsonPretty(value: unknown, write: (text: string) => void, writeBytes?: (bytes: Uint8Array) => void): void {
  if (!hasStreamedList(value)) {
    write(JSON.stringify(value, null, 2));
    return;
  }
  let buf = "";
  const put = (s: string) => {
    buf += s;
    if (buf.length >= CHUNK) {
      write(buf);
      buf = "";
    }
  };
  const walk = (v: unknown, indent: string) => {
    const raw = writeBytes && isIterableList(v) && hasRawJson(v) ? v.rawJson(`${indent}  `) : undefined;
    if (raw && writeBytes) {
      // The elements come joined by ",\n" and their indentation, as below.
      put((v as RawJsonList).length ? `[\n${indent}  ` : "[");
      if (buf) write(buf);
      buf = "";
      for (const b of raw) writeBytes(b);
      put((v as RawJsonList).length ? `\n${indent}]` : "]");
      return;
    }
    if (isIterableList(v)) {
      let first = true;
      for (const el of v) {
        put(`${first ? "[\n" : ",\n"}${indent}  `);
        first = false;
        put(JSON.stringify(el ?? null, null, 2).replaceAll("\n", `\n${indent}  `));
      }
      put(first ? "[]" : `\n${indent}]`);
      return;
    }
    if (!hasStreamedList(v)) {
      put((JSON.stringify(v, null, 2) ?? "null").replaceAll("\n", `\n${indent}`));
      return;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined && typeof x !== "function");
    put("{");
    entries.forEach(([k, x], i) => {
      put(`${i ? "," : ""}\n${indent}  ${JSON.stringify(k)}: `);
      walk(x, `${indent}  `);
    });
    put(entries.length ? `\n${indent}}` : "}");
  };
  walk(value, "");
  if (buf) write(buf);
}
