// One line of a batch file, checked field by field before anything uses it: a line is data from a
// file, and a value of the wrong JSON type ("sans": "dns:x", "cn": 123) is the line's mistake, said
// with its line number and the field, never a failure deep inside issuing.
import { inputError } from "../errors.js";

/** One line of a batch file. */
export interface BatchLine {
  partner: string;
  /** A CSR path (relative to the batch file), or "generate". */
  csr?: string;
  generate?: boolean;
  keyType?: string;
  cn?: string;
  sans?: string[];
  days?: number;
  /** Where a generated key goes (0600). Without it, --key-dir is used. */
  outKey?: string;
}

type FieldType = "string" | "path" | "boolean" | "number" | "string[]";

/** The type each field must have (README, `partner issue --batch`); a field not listed is refused. */
const FIELDS: Record<keyof BatchLine, FieldType> = {
  partner: "string",
  csr: "path",
  generate: "boolean",
  keyType: "string",
  cn: "string",
  sans: "string[]",
  days: "number",
  outKey: "path",
};

const WANTED: Record<FieldType, string> = {
  string: "a string",
  path: "a file name (a non-empty string)",
  boolean: "true or false",
  number: "a number",
  "string[]": "an array of strings",
};

/** What a JSON value is, for a message: "a string", "an array", "null"… */
function jsonTypeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return v === "" ? "an empty string" : "a string";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** Why `v` is not of type `t`, if it is not: what it is instead. */
function typeProblem(v: unknown, t: FieldType): string | undefined {
  if (t === "string[]") {
    if (!Array.isArray(v)) return jsonTypeOf(v);
    const i = v.findIndex((x) => typeof x !== "string");
    return i < 0 ? undefined : `an array whose item ${i + 1} is ${jsonTypeOf(v[i])}`;
  }
  if (t === "path") return typeof v === "string" && v !== "" ? undefined : jsonTypeOf(v);
  return typeof v === t ? undefined : jsonTypeOf(v);
}

/** Line `n` of a batch file, parsed and each field checked by type (exit 3, ERR_BATCH_LINE, naming the field). */
export function parseBatchLine(n: number, raw: string): BatchLine {
  let l: unknown;
  try {
    l = JSON.parse(raw);
  } catch {
    throw inputError("ERR_BATCH_LINE", `line ${n} is not a JSON object`);
  }
  if (!l || typeof l !== "object" || Array.isArray(l)) throw inputError("ERR_BATCH_LINE", `line ${n} is not a JSON object`);
  const line = l as Record<string, unknown>;
  if (line.partner === undefined) throw inputError("ERR_BATCH_LINE", `line ${n} has no "partner"`);
  // A misspelt field ("san") would otherwise issue a certificate without what it was meant to ask.
  const unknown = Object.keys(line).find((k) => !Object.hasOwn(FIELDS, k));
  if (unknown !== undefined)
    throw inputError(
      "ERR_BATCH_LINE",
      `line ${n}: ${JSON.stringify(unknown)} is not a field of a batch line`,
      `the fields are ${Object.keys(FIELDS).join(", ")}`,
    );
  for (const [field, type] of Object.entries(FIELDS) as Array<[string, FieldType]>) {
    const problem = line[field] === undefined ? undefined : typeProblem(line[field], type);
    if (problem) throw inputError("ERR_BATCH_LINE", `line ${n}: "${field}" must be ${WANTED[type]}, not ${problem}`);
  }
  return line as unknown as BatchLine;
}
