import { readZip } from "../bundle/zip.js";

/** A plain (unencrypted) delivery bundle: its manifest and file list, nothing decrypted or written. */
export function readManifestEntries(zip: Buffer): { manifest?: Record<string, unknown>; files: Array<{ name: string; bytes: number }> } {
  const entries = readZip(zip, 16 * 1024 * 1024);
  const m = entries.find((e) => e.name === "manifest.json");
  let manifest: Record<string, unknown> | undefined;
  try {
    manifest = m ? (JSON.parse(m.data.toString("utf8")) as Record<string, unknown>) : undefined;
  } catch {
    manifest = undefined;
  }
  return { ...(manifest ? { manifest } : {}), files: entries.map((e) => ({ name: e.name, bytes: e.data.length })) };
}
