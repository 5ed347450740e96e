import { createPrivateKey, createPublicKey, randomInt } from "node:crypto";
import { type CertInfo, parseCertificate } from "../cert.js";
import { safeValue } from "../display-text.js";
import { inputError } from "../errors.js";
import { decryptKeyPem } from "../keys.js";
import { decodePemBlocks, looksLikePem } from "../pem.js";
import { removeFile, writeFileAtomic } from "../user-files.js";
import type { PfxProfile } from "./pfx.js";

/**
 * Who reads which (shared/notes/next-features.md "PKCS#12 — who reads what"):
 * - `modern`: OpenSSL 3, Java 8u301+/11.0.12+/12+, Windows 10 1709+ / Server 2019+, Node, curl.
 * - `legacy-des`: also macOS Keychain (SecPKCS12Import), Windows Server 2016 and older, old Java.
 * RC2 is never written: OpenSSL 3 and Node 20 refuse it without `-legacy`.
 */
export const P12_PROFILES = ["modern", "legacy-des"] as const;
export type P12Profile = (typeof P12_PROFILES)[number];

/**
 * The passwords are generated with 125 bits of entropy, so the work factors guard against nothing
 * a guess could reach; they are the readers' customary values (PBKDF2 as for our keys at rest;
 * 3DES and the SHA-1 MAC at OpenSSL's `-legacy` 2,048, which every old reader accepts).
 */
const PROFILES: Record<P12Profile, PfxProfile> = {
  modern: { bags: { kind: "pbes2-aes256", iterations: 600_000 }, macHash: "sha256", macIterations: 10_000 },
  "legacy-des": { bags: { kind: "pkcs12-3des", iterations: 2_048 }, macHash: "sha1", macIterations: 2_048 },
};

export function parseP12Profile(value: string): P12Profile {
  if ((P12_PROFILES as readonly string[]).includes(value)) return value as P12Profile;
  throw inputError(
    "ERR_P12_PROFILE",
    `unknown PKCS#12 profile "${value}"`,
    "use modern (OpenSSL 3, Java, Windows 10+) or legacy-des (macOS Keychain, Windows Server 2016 and older)",
  );
}

// No 0/o/1/l: the password is read out over the phone or typed from a note.
const ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789";

/** 25 characters from 32 (125 bits) in groups of five: `k7dmq-…`. */
export function generateP12Password(): string {
  const groups: string[] = [];
  for (let g = 0; g < 5; g++) {
    let s = "";
    for (let i = 0; i < 5; i++) s += ALPHABET[randomInt(ALPHABET.length)];
    groups.push(s);
  }
  return groups.join("-");
}

export interface P12Built {
  der: Buffer;
  profile: P12Profile;
  /** Generated here; goes only to the person who asked (terminal, a file they name). */
  password: string;
}

/** A PKCS#12 with a fresh password: key, leaf and chain, friendly name as given. */
export async function makeP12(p: { profile: P12Profile; pkcs8: Uint8Array; certs: Uint8Array[]; friendlyName: string }): Promise<P12Built> {
  const password = generateP12Password();
  // The PFX builder loads the PKCS#12/CMS schemas (~15 ms): only when a file is made (#21).
  const { buildPfx } = await import("./pfx.js");
  const der = await buildPfx({ profile: PROFILES[p.profile], password, pkcs8: p.pkcs8, certs: p.certs, friendlyName: p.friendlyName });
  return { der, profile: p.profile, password };
}

/** The `.p12` that sits next to the PEM files in a delivery bundle: key, leaf, intermediate, root. */
export async function p12ForBundle(
  profile: P12Profile,
  pkcs8: Uint8Array,
  cert: CertInfo,
  ca: { intermediate?: CertInfo; root: CertInfo },
  partnerId: string,
): Promise<P12Built & { name: string }> {
  const certs = [cert, ...(ca.intermediate ? [ca.intermediate] : []), ca.root].map((c) => c.der);
  return { ...(await makeP12({ profile, pkcs8, certs, friendlyName: partnerId })), name: `${partnerId}.p12` };
}

/** Writes the password file (0600, never over an existing file unless `force`). */
export async function writePasswordFile(path: string, password: string, force: boolean): Promise<void> {
  await writeFileAtomic(path, `${password}\n`, { mode: 0o600, exclusive: !force });
}

/** Every certificate of a PEM (or one DER) file, in file order. */
export function readCertificates(bytes: Uint8Array, what: string): CertInfo[] {
  if (!looksLikePem(bytes)) return [parseCertificate(bytes, what)];
  const blocks = decodePemBlocks(Buffer.from(bytes).toString("latin1")).filter((b) => b.label === "CERTIFICATE");
  if (!blocks.length) throw inputError("ERR_CERT_PARSE", `${what} holds no certificate`, "pass a PEM or DER X.509 certificate");
  return blocks.map((b, i) => parseCertificate(b.der, blocks.length > 1 ? `${what} (certificate ${i + 1})` : what));
}

/** PKCS#8 DER of a user-supplied key (PEM, clear or encrypted with `passphrase`, or DER), checked against the certificate. */
export function readKeyFor(cert: CertInfo, bytes: Uint8Array, what: string, passphrase?: string): Buffer {
  let pkcs8: Buffer;
  if (looksLikePem(bytes)) {
    pkcs8 = decryptKeyPem(Buffer.from(bytes).toString("latin1"), passphrase, what);
  } else {
    try {
      pkcs8 = createPrivateKey({ key: Buffer.from(bytes), format: "der", type: "pkcs8" }).export({ format: "der", type: "pkcs8" });
    } catch (err) {
      throw inputError("ERR_KEY_PARSE", `${what} is not a readable private key`, "pass a PEM or PKCS#8 DER key", err);
    }
  }
  const pub = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "der", type: "spki" });
  if (!pub.equals(cert.spki))
    throw inputError(
      "ERR_KEY_MISMATCH",
      `${what} does not belong to the certificate ${cert.serial} (${cert.subject})`,
      "pass the key the certificate was issued for",
    );
  return pkcs8;
}

/** Orders a chain leaf → root by issuer links; `unrelated` are the certificates off that path, as given. */
export function orderChain(leaf: CertInfo, others: CertInfo[]): { path: CertInfo[]; unrelated: CertInfo[] } {
  const path = [leaf];
  const rest = others.filter((c) => c.fingerprint !== leaf.fingerprint);
  for (let cur = leaf; ; ) {
    const next = rest.findIndex((c) => c.subject === cur.issuer && c.fingerprint !== cur.fingerprint);
    if (next < 0) break;
    cur = rest.splice(next, 1)[0] as CertInfo;
    path.push(cur);
  }
  return { path, unrelated: rest };
}

/**
 * The friendly name written into the file. keytool, openssl and Windows print it raw, so a
 * control or bidi character in --name is refused, and one in the certificate's CN is escaped.
 */
function friendlyNameFor(name: string | undefined, leaf: CertInfo): string {
  if (name === undefined) {
    const cn = leaf.commonNames[0];
    return cn !== undefined ? safeValue(cn) : leaf.serial;
  }
  if (safeValue(name) !== name)
    throw inputError(
      "ERR_P12_NAME",
      `--name "${safeValue(name)}" holds control or bidirectional characters`,
      "keytool, openssl and Windows print the alias as it is: choose one without them",
    );
  return name;
}

export interface CreateP12Params {
  cert: Uint8Array;
  certSource: string;
  key: Uint8Array;
  keySource: string;
  keyPassphrase?: string;
  chain?: Uint8Array;
  chainSource?: string;
  profile: P12Profile;
  /** The friendly name (alias); default the certificate's first CN. */
  name?: string;
  out: string;
  passwordFile?: string;
  force: boolean;
}

export interface P12FileResult {
  path: string;
  profile: P12Profile;
  bytes: number;
  friendlyName: string;
  serial: string;
  subject: string;
  certificates: number;
  passwordFile?: string;
  /** The caller decides where it goes: never into a log, the PKI or the bundle. */
  password: string;
  /** Chain certificates that are not on the leaf's issuer path. */
  warnings?: string[];
}

/** `mtls p12 create`: a PKCS#12 from a certificate, its key and chain the user supplies (no PKI needed). */
export async function createP12File(p: CreateP12Params): Promise<P12FileResult> {
  const [leaf, ...inCert] = readCertificates(p.cert, p.certSource);
  if (!leaf) throw inputError("ERR_CERT_PARSE", `${p.certSource} holds no certificate`);
  const friendlyName = friendlyNameFor(p.name, leaf);
  const { path, unrelated } = orderChain(leaf, [...inCert, ...(p.chain ? readCertificates(p.chain, p.chainSource ?? "the chain") : [])]);
  const chain = [...path, ...unrelated];
  const pkcs8 = readKeyFor(leaf, p.key, p.keySource, p.keyPassphrase);
  const built = await makeP12({ profile: p.profile, pkcs8, certs: chain.map((c) => c.der), friendlyName });
  const result = await writeP12(built, { ...p, friendlyName, leaf, count: chain.length });
  // Included as given (a reader may want them), but named: usually the wrong file was passed.
  const warnings = unrelated.map((c) => `${c.subject} (serial ${c.serial}) does not issue ${leaf.subject} or its issuers; it is in the file anyway`);
  return { ...result, ...(warnings.length ? { warnings } : {}) };
}

export async function writeP12(
  built: P12Built,
  p: { out: string; passwordFile?: string; force: boolean; friendlyName: string; leaf: CertInfo; count: number },
): Promise<P12FileResult> {
  await writeFileAtomic(p.out, built.der, { mode: 0o600, exclusive: !p.force });
  if (p.passwordFile) {
    try {
      await writePasswordFile(p.passwordFile, built.password, p.force);
    } catch (err) {
      await removeFile(p.out);
      throw err;
    }
  }
  return {
    path: p.out,
    profile: built.profile,
    bytes: built.der.length,
    friendlyName: p.friendlyName,
    serial: p.leaf.serial,
    subject: p.leaf.subject,
    certificates: p.count,
    ...(p.passwordFile ? { passwordFile: p.passwordFile } : {}),
    password: built.password,
  };
}
