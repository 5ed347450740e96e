import { createHash } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { conflictError, fsError, MtlsError } from "../errors.js";
import { ensureDir, exists, isDirectory, mkdtemp, readdir, rename, rm, writeFileAtomic } from "../user-files.js";
import type { Manifest } from "./bundle.js";
import { checkContents } from "./contents.js";
import { badBundle, parseManifest } from "./manifest.js";
import { decryptAndVerify, type PgpKeyInfo } from "./pgp.js";
import { nameClash, readZip, unsafeName, type ZipEntry } from "./zip.js";

export interface OpenBundleParams {
  bundle: Uint8Array;
  /** The partner's OpenPGP private key, armored. */
  keyArmored: string;
  keyPassphrase: () => Promise<string>;
  /** The home party's public key, received out of band: the bundle must be signed by it. */
  signerArmored: string;
  outDir: string;
  force?: boolean;
  /** The clock the certificate's validity is judged by. */
  now: Date;
}

export interface OpenBundleResult {
  outDir: string;
  signer: PgpKeyInfo;
  manifest: Manifest;
  files: Array<{ name: string; path: string; sha256: string; mode: string }>;
  /** What the partner should know before using the files (an expired certificate, a bundle made for another key). */
  warnings: string[];
}

/** Every entry safe to create and apart from the others, the manifest's shape, and each file against it: listed, same digest and size, none missing. */
function checkAgainstManifest(entries: ZipEntry[]): { manifest: Manifest; manifestEntry: ZipEntry; files: ZipEntry[] } {
  for (const e of entries) {
    const why = unsafeName(e.name);
    if (why) throw badBundle("ERR_BUNDLE_ENTRY", `the bundle contains an unsafe entry ${JSON.stringify(e.name)} (${why})`);
  }
  const clash = nameClash(entries.map((e) => e.name));
  if (clash) throw badBundle("ERR_BUNDLE_ENTRY", `the bundle's entries would overwrite each other: ${clash}`);
  const manifestEntry = entries.find((e) => e.name === "manifest.json");
  if (!manifestEntry) throw badBundle("ERR_BUNDLE_MANIFEST", "the bundle has no manifest.json");
  const manifest = parseManifest(manifestEntry.data);
  const listed = new Map(manifest.files.map((f) => [f.name, f]));
  const files = entries.filter((e) => e !== manifestEntry);
  for (const e of files) {
    const m = listed.get(e.name);
    if (!m) throw badBundle("ERR_BUNDLE_MANIFEST", `${e.name} is in the bundle but not in its manifest`);
    const digest = createHash("sha256").update(e.data).digest("hex");
    if (digest !== m.sha256 || e.data.length !== m.bytes)
      throw badBundle("ERR_BUNDLE_MANIFEST", `${e.name} does not match its manifest entry (SHA-256 ${digest})`);
  }
  for (const name of listed.keys())
    if (!files.some((e) => e.name === name)) throw badBundle("ERR_BUNDLE_MANIFEST", `${name} is in the manifest but missing from the bundle`);
  return { manifest, manifestEntry, files };
}

/**
 * A failure to write one entry, named by the entry and --out rather than by the scratch
 * directory. The names were checked apart, so a clash here is one the checks could not foresee
 * (a file system's own idea of equal names).
 */
function writeError(err: unknown, name: string, out: string): MtlsError {
  const errno =
    err instanceof MtlsError
      ? err.code === "ERR_EXISTS"
        ? "EEXIST"
        : (err.cause as NodeJS.ErrnoException | undefined)?.code
      : (err as NodeJS.ErrnoException)?.code;
  if (errno === "EEXIST" || errno === "ENOTDIR" || errno === "EISDIR")
    return badBundle("ERR_BUNDLE_ENTRY", `the bundle's entry ${JSON.stringify(name)} would overwrite another one in ${out}`);
  return fsError(Object.assign(new Error(errno ?? "I/O error"), { code: errno }), out, `write ${name} into`);
}

async function writeEntry(e: ZipEntry, tmp: string, out: string): Promise<OpenBundleResult["files"][number]> {
  const secret = /key/i.test(e.name) || (e.mode & 0o077) === 0;
  const mode = secret ? 0o600 : 0o644;
  const target = join(tmp, e.name);
  try {
    await ensureDir(dirname(target), 0o700);
    await writeFileAtomic(target, e.data, { mode, exclusive: true });
  } catch (err) {
    throw writeError(err, e.name, out);
  }
  return { name: e.name, path: join(out, e.name), sha256: createHash("sha256").update(e.data).digest("hex"), mode: mode.toString(8).padStart(4, "0") };
}

/**
 * Writes the checked entries into a new scratch directory beside `out`, then moves it into place
 * (replacing `out` when it existed). mkdtemp creates the directory itself, with a name nobody
 * could predict: a directory or link planted at a guessable name would otherwise be written into.
 */
async function unpack(entries: ZipEntry[], out: string, replace: boolean): Promise<OpenBundleResult["files"]> {
  await ensureDir(dirname(out), 0o700);
  const tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.open-`)).catch((err) => Promise.reject(fsError(err, dirname(out), "create a directory in")));
  const written: OpenBundleResult["files"] = [];
  try {
    for (const e of entries) written.push(await writeEntry(e, tmp, out));
    if (replace) await rm(out, { recursive: true, force: true });
    await rename(tmp, out).catch((err) => Promise.reject(fsError(err, out, "create")));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
  return written;
}

/**
 * The partner's side: decrypt, verify the home party's signature, check every file against the
 * manifest, refuse entries that would escape the output directory or clash, and only then write
 * the files (private keys 0600). Any failure writes nothing. What leaves the files worth keeping
 * (an expired certificate, a bundle made for another key) comes back as warnings, not a refusal.
 */
export async function openBundle(p: OpenBundleParams): Promise<OpenBundleResult> {
  const out = resolve(p.outDir);
  const existing = await readdir(out).catch(() => undefined);
  // Not even --force replaces a file with the bundle's directory: it is most likely a mistyped --out.
  if (!existing && (await exists(out)) && !(await isDirectory(out)))
    throw conflictError("ERR_EXISTS", `${out} exists and is not a directory`, "choose another --out directory");
  if (existing && existing.length > 0 && !p.force)
    throw conflictError("ERR_EXISTS", `${out} exists and is not empty`, "choose another --out directory, or pass --force");

  const { data, signer, recipientFingerprint } = await decryptAndVerify({
    message: p.bundle,
    keyArmored: p.keyArmored,
    keyPassphrase: p.keyPassphrase,
    signerArmored: p.signerArmored,
  });
  const { manifest, manifestEntry, files } = checkAgainstManifest(readZip(Buffer.from(data)));
  const warnings = checkContents(files, manifest, { now: p.now, signerFingerprint: signer.fingerprint, recipientFingerprint });
  const written = await unpack([...files, manifestEntry], out, Boolean(existing));
  return { outDir: out, signer, manifest, files: written, warnings };
}
