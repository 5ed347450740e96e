// The partner's reading of manifest.json. The manifest is signed by the home party, but it is
// still data: its whole shape is checked before anything is looked up in it, so a malformed one
// (from a bug, an older or newer writer, or a leaked signing key) is a refusal naming the field,
// never a crash halfway through unpacking.
import { inputError, type MtlsError } from "../errors.js";
import { jsonDepth, MAX_JSON_DEPTH } from "../json-depth.js";
import type { Manifest } from "./bundle.js";
import { nameClash, unsafeName } from "./zip.js";

/** A refusal of the bundle's content: exit 3, with the same advice whatever the detail. */
export const badBundle = (code: `ERR_${string}`, message: string): MtlsError =>
  inputError(code, message, "do not use this bundle; ask the home party for a new one");

const manifestError = (message: string) => badBundle("ERR_BUNDLE_MANIFEST", message);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === "string";
const isTime = (v: unknown): v is string => isString(v) && /^\d{4}-\d\d-\d\dT/.test(v) && !Number.isNaN(Date.parse(v));

/** What a JSON value is, for a message: never the value itself, which may be long or hostile. */
const kindOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `a ${typeof v}`);

/** Each field the partner's side reads, and what it must be. */
const FIELDS: Array<[keyof Manifest, (v: unknown) => boolean, string]> = [
  ["partnerId", (v) => isString(v) && v !== "", "a partner id"],
  ["serial", (v) => isString(v) && /^[0-9a-f]{1,40}$/i.test(v), "a hex serial"],
  ["fingerprint", (v) => isString(v) && /^sha256:[0-9a-f]{64}$/.test(v), "sha256:<64 hex digits>"],
  ["subject", isString, "a string"],
  ["sans", (v) => Array.isArray(v) && v.every(isString), "an array of strings"],
  ["notBefore", isTime, "an ISO-8601 time"],
  ["notAfter", isTime, "an ISO-8601 time"],
  ["renewBy", isTime, "an ISO-8601 time"],
  ["issuer", isString, "a string"],
  ["signerFingerprint", isString, "a string"],
];

/** One entry of `files`: an object with a safe name, a SHA-256 in lowercase hex and a size. */
function checkListedFile(f: unknown, i: number): Manifest["files"][number] {
  if (!isRecord(f)) throw manifestError(`the bundle's manifest lists file #${i + 1} as ${kindOf(f)}, not an object`);
  const { name, sha256, bytes } = f;
  if (!isString(name)) throw manifestError(`the bundle's manifest lists file #${i + 1} without a name (it is ${kindOf(name)})`);
  const unsafe = unsafeName(name);
  if (unsafe) throw badBundle("ERR_BUNDLE_ENTRY", `the bundle's manifest lists an unsafe name ${JSON.stringify(name)} (${unsafe})`);
  if (name === "manifest.json") throw manifestError("the bundle's manifest lists manifest.json among its own files");
  if (!isString(sha256) || !/^[0-9a-f]{64}$/.test(sha256))
    throw manifestError(`the bundle's manifest has no valid SHA-256 for ${JSON.stringify(name)} (64 lowercase hex digits)`);
  if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0)
    throw manifestError(`the bundle's manifest has no valid size for ${JSON.stringify(name)} (a whole number of bytes)`);
  return { name, sha256, bytes };
}

/**
 * manifest.json, parsed and checked field by field. The result holds the known fields only, so
 * what `bundle open` reports has the declared types whatever else the file held.
 */
export function parseManifest(data: Buffer): Manifest {
  const text = data.toString("utf8");
  if (jsonDepth(text) > MAX_JSON_DEPTH) throw manifestError(`the bundle's manifest.json nests more than ${MAX_JSON_DEPTH} levels deep`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw manifestError("the bundle's manifest.json is not valid JSON");
  }
  if (!isRecord(raw)) throw manifestError(`the bundle's manifest.json holds ${kindOf(raw)}, not an object`);
  if (raw.formatVersion !== 1) throw manifestError("the bundle's manifest has an unknown format (formatVersion is not 1)");
  for (const [key, ok, what] of FIELDS) if (!ok(raw[key])) throw manifestError(`the bundle's manifest has no valid ${key} (${what})`);
  if (raw.recipientFingerprint !== undefined && !isString(raw.recipientFingerprint))
    throw manifestError("the bundle's manifest has no valid recipientFingerprint (a string)");
  if (!Array.isArray(raw.files)) throw manifestError(`the bundle's manifest has no valid files (an array; it is ${kindOf(raw.files)})`);
  const files = raw.files.map(checkListedFile);
  const clash = nameClash([...files.map((f) => f.name), "manifest.json"]);
  if (clash) throw badBundle("ERR_BUNDLE_ENTRY", `the bundle's manifest lists names that would overwrite each other: ${clash}`);
  const pick = Object.fromEntries(FIELDS.map(([key]) => [key, raw[key]])) as Omit<Manifest, "formatVersion" | "files">;
  return {
    formatVersion: 1,
    ...pick,
    ...(isString(raw.recipientFingerprint) ? { recipientFingerprint: raw.recipientFingerprint } : {}),
    files,
  };
}
