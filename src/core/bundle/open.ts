import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { basename, dirname, join, resolve } from "node:path";
import { parseCertificate } from "../cert.js";
import { conflictError, fsError, inputError } from "../errors.js";
import { pemOrDer } from "../pem.js";
import { ensureDir, readdir, rename, rm, writeFileAtomic } from "../user-files.js";
import type { Manifest } from "./bundle.js";
import { decryptAndVerify, type PgpKeyInfo } from "./pgp.js";
import { readZip, unsafeName } from "./zip.js";

export interface OpenBundleParams {
  bundle: Uint8Array;
  /** The partner's OpenPGP private key, armored. */
  keyArmored: string;
  keyPassphrase: () => Promise<string>;
  /** The home party's public key, received out of band: the bundle must be signed by it. */
  signerArmored: string;
  outDir: string;
  force?: boolean;
}

export interface OpenBundleResult {
  outDir: string;
  signer: PgpKeyInfo;
  manifest: Manifest;
  files: Array<{ name: string; path: string; sha256: string; mode: string }>;
}

const bad = (code: `ERR_${string}`, message: string) => inputError(code, message, "do not use this bundle; ask the home party for a new one");

type Entry = ReturnType<typeof readZip>[number];

/** The manifest, and every entry checked against it: names safe, each file listed with its digest and size, none missing. */
function checkAgainstManifest(entries: Entry[]): { manifest: Manifest; manifestEntry: Entry; files: Entry[] } {
  for (const e of entries) {
    const why = unsafeName(e.name);
    if (why) throw bad("ERR_BUNDLE_ENTRY", `the bundle contains an unsafe entry ${JSON.stringify(e.name)} (${why})`);
  }
  const manifestEntry = entries.find((e) => e.name === "manifest.json");
  if (!manifestEntry) throw bad("ERR_BUNDLE_MANIFEST", "the bundle has no manifest.json");
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestEntry.data.toString("utf8")) as Manifest;
  } catch {
    throw bad("ERR_BUNDLE_MANIFEST", "the bundle's manifest.json is not valid JSON");
  }
  if (manifest.formatVersion !== 1 || !Array.isArray(manifest.files)) throw bad("ERR_BUNDLE_MANIFEST", "the bundle's manifest has an unknown format");
  const listed = new Map(manifest.files.map((f) => [f.name, f]));
  const files = entries.filter((e) => e !== manifestEntry);
  for (const e of files) {
    const m = listed.get(e.name);
    if (!m) throw bad("ERR_BUNDLE_MANIFEST", `${e.name} is in the bundle but not in its manifest`);
    const digest = createHash("sha256").update(e.data).digest("hex");
    if (digest !== m.sha256 || e.data.length !== m.bytes) throw bad("ERR_BUNDLE_MANIFEST", `${e.name} does not match its manifest entry (SHA-256 ${digest})`);
  }
  for (const name of listed.keys())
    if (!files.some((e) => e.name === name)) throw bad("ERR_BUNDLE_MANIFEST", `${name} is in the manifest but missing from the bundle`);
  return { manifest, manifestEntry, files };
}

/** certificate.pem is the one the manifest describes, and private-key.pem (if any) is its key. */
function checkCertificateAndKey(files: Entry[], manifest: Manifest): void {
  const certEntry = files.find((e) => e.name === "certificate.pem");
  if (!certEntry) return;
  const cert = parseCertificate(pemOrDer(certEntry.data, ["CERTIFICATE"], "certificate.pem"), "certificate.pem");
  if (cert.fingerprint !== manifest.fingerprint) throw bad("ERR_BUNDLE_MANIFEST", "certificate.pem is not the certificate the manifest describes");
  const keyEntry = files.find((e) => e.name === "private-key.pem");
  if (keyEntry) {
    const spki = createPublicKey(createPrivateKey(keyEntry.data.toString("utf8"))).export({ format: "der", type: "spki" });
    if (!spki.equals(cert.spki)) throw bad("ERR_BUNDLE_MANIFEST", "private-key.pem does not belong to certificate.pem");
  }
}

/** Writes the checked entries into a sibling temp directory, then moves it into place (replacing `out` when it existed). */
async function unpack(entries: Entry[], out: string, replace: boolean): Promise<OpenBundleResult["files"]> {
  const tmp = join(dirname(out), `.${basename(out)}.open-${process.pid}`);
  const written: OpenBundleResult["files"] = [];
  try {
    await rm(tmp, { recursive: true, force: true });
    await ensureDir(tmp, 0o700);
    for (const e of entries) {
      const secret = /key/i.test(e.name) || (e.mode & 0o077) === 0;
      const mode = secret ? 0o600 : 0o644;
      const target = join(tmp, e.name);
      await ensureDir(dirname(target), 0o700);
      await writeFileAtomic(target, e.data, { mode, exclusive: true });
      written.push({
        name: e.name,
        path: join(out, e.name),
        sha256: createHash("sha256").update(e.data).digest("hex"),
        mode: mode.toString(8).padStart(4, "0"),
      });
    }
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
 * manifest, refuse entries that would escape the output directory, and only then write the
 * files (private keys 0600). Any failure writes nothing.
 */
export async function openBundle(p: OpenBundleParams): Promise<OpenBundleResult> {
  const out = resolve(p.outDir);
  const existing = await readdir(out).catch(() => undefined);
  if (existing && existing.length > 0 && !p.force)
    throw conflictError("ERR_EXISTS", `${out} exists and is not empty`, "choose another --out directory, or pass --force");

  const { data, signer } = await decryptAndVerify({
    message: p.bundle,
    keyArmored: p.keyArmored,
    keyPassphrase: p.keyPassphrase,
    signerArmored: p.signerArmored,
  });
  const { manifest, manifestEntry, files } = checkAgainstManifest(readZip(Buffer.from(data)));
  checkCertificateAndKey(files, manifest);
  const written = await unpack([...files, manifestEntry], out, Boolean(existing));
  return { outDir: out, signer, manifest, files: written };
}
