// The --json document written in pieces (#21): `list --json` over 100,000 certificates built one
// 100 MB string with JSON.stringify(doc, null, 2) and held every record while doing it. This
// writes the same bytes, element by element, and takes a non-array iterable (a list read as it
// is iterated, core/inventory/list.ts) as the array it stands for. Such a list may also give its
// elements' text as bytes (rawJson: the index summary's pre-rendered elements), which are
// written as they are, between the brackets and separators written here. A promise among the
// pieces stands for bytes being fetched (a database store): the writer waits for it.

const CHUNK = 64 * 1024;

const isIterableList = (v: unknown): v is Iterable<unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";

interface RawJsonList {
  readonly length: number;
  ready(): Promise<void>;
  rawJson(indent: string): Iterable<Uint8Array | Promise<void>> | undefined;
}

const hasRawJson = (v: Iterable<unknown>): v is Iterable<unknown> & RawJsonList => typeof (v as Partial<RawJsonList>).rawJson === "function";

/** Whether `v` holds a streamed list anywhere JSON.stringify would not see it whole (also in an array: inspect's objects). */
function hasStreamedList(v: unknown, depth = 0): boolean {
  if (isIterableList(v)) return true;
  if (depth > 3 || typeof v !== "object" || v === null) return false;
  return Object.values(v).some((x) => hasStreamedList(x, depth + 1));
}

/**
 * `JSON.stringify(value, null, 2)` in pieces of about 64 KiB: objects and arrays at the top are
 * opened here, and each element is stringified on its own (its newlines, never inside a JSON
 * string, get the element's indentation). A list that has its elements' text gives it as bytes,
 * which come as they are (Uint8Array pieces, already made safe); strings are yet to be.
 */
export function* jsonPrettyPieces(value: unknown): Generator<string | Uint8Array | Promise<void>> {
  if (!hasStreamedList(value)) {
    yield JSON.stringify(value, null, 2);
    return;
  }
  let buf = "";
  function* put(s: string): Generator<string> {
    buf += s;
    if (buf.length >= CHUNK) {
      yield buf;
      buf = "";
    }
  }
  function* walk(v: unknown, indent: string): Generator<string | Uint8Array | Promise<void>> {
    const raw = isIterableList(v) && hasRawJson(v) ? v.rawJson(`${indent}  `) : undefined;
    if (raw) {
      // The elements come joined by ",\n" and their indentation, as below.
      const some = (v as RawJsonList).length > 0;
      yield* put(some ? `[\n${indent}  ` : "[");
      if (buf) yield buf;
      buf = "";
      yield* raw;
      yield* put(some ? `\n${indent}]` : "]");
      return;
    }
    if (isIterableList(v)) {
      if (hasRawJson(v)) yield v.ready();
      let first = true;
      for (const el of v) {
        yield* put(`${first ? "[\n" : ",\n"}${indent}  `);
        first = false;
        yield* put(JSON.stringify(el ?? null, null, 2).replaceAll("\n", `\n${indent}  `));
      }
      yield* put(first ? "[]" : `\n${indent}]`);
      return;
    }
    if (!hasStreamedList(v)) {
      yield* put((JSON.stringify(v, null, 2) ?? "null").replaceAll("\n", `\n${indent}`));
      return;
    }
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) {
        yield* put(`${i ? "," : "["}\n${indent}  `);
        yield* walk(x === undefined || typeof x === "function" ? null : x, `${indent}  `);
      }
      yield* put(v.length ? `\n${indent}]` : "[]");
      return;
    }
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined && typeof x !== "function");
    yield* put("{");
    for (const [i, [k, x]] of entries.entries()) {
      yield* put(`${i ? "," : ""}\n${indent}  ${JSON.stringify(k)}: `);
      yield* walk(x, `${indent}  `);
    }
    yield* put(entries.length ? `\n${indent}}` : "}");
  }
  yield* walk(value, "");
  if (buf) yield buf;
}
