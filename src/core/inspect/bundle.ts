import { readZip } from "../bundle/zip.js";
import { inputError } from "../errors.js";
import { jsonDepth, MAX_JSON_DEPTH } from "../json-depth.js";

/** A plain (unencrypted) delivery bundle: its manifest and file list, nothing decrypted or written. */
export function readManifestEntries(zip: Buffer, what: string): { manifest?: Record<string, unknown>; files: Array<{ name: string; bytes: number }> } {
  const entries = readZip(zip, 16 * 1024 * 1024);
  const m = entries.find((e) => e.name === "manifest.json");
  const text = m?.data.toString("utf8");
  const depth = text ? jsonDepth(text) : 0;
  if (depth > MAX_JSON_DEPTH)
    throw inputError(
      "ERR_INSPECT_PARSE",
      `the manifest.json in ${what} nests ${depth} levels deep (mtls reads at most ${MAX_JSON_DEPTH})`,
      "this is not a bundle mtls made",
    );
  let manifest: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = text ? JSON.parse(text) : undefined;
    // A manifest is an object: an array or a string would be shown element by element.
    manifest = parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    manifest = undefined;
  }
  return { ...(manifest ? { manifest } : {}), files: entries.map((e) => ({ name: e.name, bytes: e.data.length })) };
}
