// Finds what a file holds: PEM blocks by label, DER by trying each structure, zip and OpenPGP by
// their magic. Every parser here has a bounded input (the caller caps the file size).
import { messageRecipients } from "../bundle/pgp.js";
import { type CertInfo, parseCertificate } from "../cert.js";
import { type ParsedCrl, parseCrlIndexed } from "../crl/decode.js";
import { children, readTlv, whole } from "../der.js";
import { inputError, MtlsError } from "../errors.js";
import { nameText } from "../name.js";
import { KdfBudget, parseScheme } from "../p12/pbe.js";
import { decodePemBlocks, looksLikePem } from "../pem.js";
import { iso } from "../time.js";
import { readManifestEntries } from "./bundle.js";
import { CrlEntryList } from "./crl-entries.js";
import {
  type CrlFacts,
  certificateFacts,
  clearKeyFacts,
  csrFacts,
  type InspectedObject,
  outerSignatureAlgorithm,
  type Pkcs12Facts,
  type PrivateKeyFacts,
} from "./objects.js";

export interface Detected {
  format: "pem" | "der" | "zip" | "openpgp";
  objects: InspectedObject[];
  /** The parsed certificates and CRLs behind the facts, in the same order, for the lints. */
  certs: CertInfo[];
  crls: ParsedCrl[];
  /** The CSRs' public keys (SPKI DER), in the same order. */
  csrKeys: Uint8Array[];
  /** What could not be shown, and why. */
  notes: string[];
}

function certFacts(der: Uint8Array, what: string, raw: Raw) {
  const info = parseCertificate(der, what);
  raw.certs.push(info);
  return certificateFacts(info);
}

async function csrFactsOf(der: Uint8Array, what: string, raw: Raw) {
  const csr = await (await import("../pki.js")).parseCsr(der, what);
  raw.csrKeys.push(csr.spki);
  return csrFacts(csr);
}

function crlFacts(der: Buffer, raw: Raw): CrlFacts {
  const crl = parseCrlIndexed(der);
  raw.crls.push(crl);
  return {
    type: "crl",
    issuer: nameText(crl.issuerDer),
    ...(crl.number !== undefined ? { number: crl.number } : {}),
    thisUpdate: iso(crl.thisUpdate),
    ...(crl.nextUpdate ? { nextUpdate: iso(crl.nextUpdate) } : {}),
    signatureAlgorithm: outerSignatureAlgorithm(der),
    ...(crl.authorityKeyId ? { authorityKeyId: crl.authorityKeyId } : {}),
    entries: new CrlEntryList(der, crl.entryOffsets),
  };
}

function encryptedKeyFacts(der: Buffer, format: string): PrivateKeyFacts {
  const alg = children(der, readTlv(der, 0))[0];
  const scheme = alg ? parseScheme(whole(der, alg)) : undefined;
  return {
    type: "private-key",
    encrypted: true,
    format,
    ...(scheme ? { encryption: scheme.name + (scheme.iterations ? `, ${scheme.iterations} iterations` : "") } : {}),
  };
}

/** What one input may still spend on PKCS#12 key derivations, shared by every PKCS#12 in it. */
interface Raw {
  certs: CertInfo[];
  crls: ParsedCrl[];
  csrKeys: Uint8Array[];
  kdf: KdfBudget;
}

async function openPfx(der: Buffer, password: string | undefined, raw: Raw) {
  // The PKCS#12 and CSR readers load ASN.1 libraries that inspecting a certificate does not need (#21).
  const { PfxPasswordError, readPfx } = await import("../p12/pfx.js");
  try {
    return await readPfx(der, password, raw.kdf);
  } catch (err) {
    if (err instanceof MtlsError) throw err;
    if (err instanceof PfxPasswordError)
      throw inputError("ERR_P12_PASSWORD", "wrong password for the PKCS#12 file (its MAC does not verify)", "check the --password-file", err);
    throw inputError("ERR_P12_PARSE", `not a readable PKCS#12 file: ${(err as Error).message}`, undefined, err);
  }
}

async function pkcs12Facts(der: Buffer, password: string | undefined, what: string, out: InspectedObject[], raw: Raw): Promise<void> {
  const pfx = await openPfx(der, password, raw);
  const names = pfx.schemes.map((s) => s.name);
  const all = (n: string) => names.length > 0 && names.every((x) => x === n);
  const profile =
    all("PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC)") && pfx.mac?.algorithm === "HMAC-SHA-256"
      ? "modern"
      : all("pbeWithSHA1And3-KeyTripleDES-CBC") && pfx.mac?.algorithm === "HMAC-SHA-1"
        ? "legacy-des"
        : undefined;
  const keyFacts = (pkcs8: Buffer) =>
    tryParse(() => clearKeyFacts({ key: pkcs8, format: "der", type: "pkcs8" }, "PKCS#8"), `${what} holds a PKCS#12 key bag that is not a private key`);
  const facts: Pkcs12Facts = {
    type: "pkcs12",
    ...(pfx.mac
      ? { mac: { algorithm: pfx.mac.algorithm, iterations: pfx.mac.iterations, ...(pfx.mac.valid !== undefined ? { verified: pfx.mac.valid } : {}) } }
      : {}),
    encryption: pfx.schemes,
    ...(profile ? { profile } : {}),
    friendlyNames: [...new Set([...pfx.certs, ...pfx.keys].flatMap((x) => (x.friendlyName ? [x.friendlyName] : [])))],
    certificates: pfx.certs.length,
    keys: pfx.keys.map((k) => (k.pkcs8 ? { publicKey: keyFacts(k.pkcs8).publicKey as PrivateKeyFacts["publicKey"] } : {})),
    unreadable: pfx.unreadable,
  };
  out.push(facts);
  for (const c of pfx.certs) out.push(certFacts(c.der, "a certificate in the PKCS#12 file", raw));
}

const TRADITIONAL_ENCRYPTED = /-----BEGIN (RSA|EC|DSA) PRIVATE KEY-----\r?\nProc-Type: 4,ENCRYPTED\r?\nDEK-Info: ([A-Za-z0-9-]+)/g;

async function fromPem(text: string, password: string | undefined, what: string, raw: Raw): Promise<InspectedObject[]> {
  const out: InspectedObject[] = [];
  for (const m of text.matchAll(TRADITIONAL_ENCRYPTED))
    out.push({ type: "private-key", encrypted: true, format: `${m[1]} PRIVATE KEY (traditional)`, encryption: m[2] as string });
  for (const b of decodePemBlocks(text)) {
    switch (b.label) {
      case "CERTIFICATE":
      case "TRUSTED CERTIFICATE":
        out.push(certFacts(b.der, what, raw));
        break;
      case "CERTIFICATE REQUEST":
      case "NEW CERTIFICATE REQUEST":
        out.push(await csrFactsOf(b.der, what, raw));
        break;
      case "X509 CRL":
        out.push(tryParse(() => crlFacts(b.der, raw), `${what} holds a damaged CRL`));
        break;
      case "PRIVATE KEY":
        out.push(tryParse(() => clearKeyFacts({ key: b.der, format: "der", type: "pkcs8" }, "PKCS#8"), `${what} holds a damaged private key`));
        break;
      case "RSA PRIVATE KEY":
      case "EC PRIVATE KEY":
        out.push(
          tryParse(
            () => clearKeyFacts({ key: b.der, format: "der", type: b.label === "RSA PRIVATE KEY" ? "pkcs1" : "sec1" }, b.label),
            `${what} holds a damaged private key`,
          ),
        );
        break;
      case "ENCRYPTED PRIVATE KEY":
        out.push(tryParse(() => encryptedKeyFacts(b.der, "PKCS#8"), `${what} holds a damaged encrypted private key`));
        break;
      case "PKCS12":
        await pkcs12Facts(b.der, password, what, out, raw);
        break;
    }
  }
  return out;
}

function tryParse<T>(fn: () => T, message: string): T {
  try {
    return fn();
  } catch (err) {
    throw inputError("ERR_INSPECT_PARSE", message, undefined, err);
  }
}

/** DER: the top-level shape says which structure to try. */
async function fromDer(der: Buffer, password: string | undefined, what: string, raw: Raw): Promise<InspectedObject[]> {
  let top: ReturnType<typeof children>;
  try {
    top = children(der, readTlv(der, 0));
  } catch {
    return [];
  }
  const [a, b, c] = top;
  const out: InspectedObject[] = [];
  if (a?.tag === 0x02 && b?.tag === 0x30 && c?.tag === 0x30) {
    await pkcs12Facts(der, password, what, out, raw); // PFX: version, authSafe, macData
    return out;
  }
  if (a?.tag === 0x02 && b?.tag === 0x30 && c?.tag === 0x04)
    return [tryParse(() => clearKeyFacts({ key: der, format: "der", type: "pkcs8" }, "PKCS#8 (DER)"), `${what}: damaged key`)];
  if (a?.tag === 0x30 && b?.tag === 0x04 && top.length === 2)
    return [tryParse(() => encryptedKeyFacts(der, "PKCS#8 (DER)"), `${what} holds a damaged encrypted private key`)];
  if (a?.tag === 0x30 && b?.tag === 0x30 && c?.tag === 0x03) {
    let certError: unknown;
    try {
      return [certFacts(der, what, raw)];
    } catch (err) {
      certError = err;
    }
    // Only a certificate's TBS opens with [0] (its version): say why that certificate failed,
    // not that it is a bad CSR.
    const tbs = children(der, a);
    if (tbs[0]?.tag === 0xa0) throw certError;
    // A TBSCertList has its signature AlgorithmIdentifier (opening with an OID) where a CSR has a Name.
    const alg = tbs[tbs[0]?.tag === 0x02 ? 1 : 0];
    if (alg?.tag === 0x30 && children(der, alg)[0]?.tag === 0x06) return [tryParse(() => crlFacts(der, raw), `${what} holds a damaged CRL`)];
    return [await csrFactsOf(der, what, raw)];
  }
  return [];
}

/** Everything inspect recognises in `bytes`; an input error when it recognises nothing. */
export async function detectObjects(bytes: Buffer, what: string, password?: string): Promise<Detected> {
  const head = bytes.subarray(0, 64).toString("latin1");
  // Shorter than a zip's magic is still worth a look: a truncated file gets "nothing recognised".
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === 0x04034b50) {
    const { manifest, files } = readManifestEntries(bytes, what);
    return {
      format: "zip",
      objects: [{ type: "bundle", container: "zip", bytes: bytes.length, ...(manifest ? { manifest } : {}), files }],
      certs: [],
      crls: [],
      csrKeys: [],
      notes: [],
    };
  }
  // OpenPGP packets have the high bit of their first byte set; DER starts with 0x30.
  if (head.includes("-----BEGIN PGP MESSAGE") || ((bytes[0] ?? 0) & 0x80) !== 0) {
    // Bytes that merely look like OpenPGP fall through to the other formats; a message too large
    // once decompressed is refused as such.
    const m = await messageRecipients(bytes, what).catch((err) => (err instanceof MtlsError ? Promise.reject(err) : undefined));
    if (m)
      return {
        format: "openpgp",
        objects: [{ type: "bundle", container: "openpgp", armored: m.armored, bytes: bytes.length, recipients: m.recipients }],
        certs: [],
        crls: [],
        csrKeys: [],
        notes: ["the bundle is encrypted: its manifest can only be read after decryption (`mtls bundle open` or gpg)"],
      };
  }
  const pem = looksLikePem(bytes);
  const raw: Raw = { certs: [], crls: [], csrKeys: [], kdf: new KdfBudget(what) };
  const objects = pem ? await fromPem(bytes.toString("latin1"), password, what, raw) : await fromDer(bytes, password, what, raw);
  if (objects.length === 0)
    throw inputError(
      "ERR_INSPECT_UNKNOWN",
      `${what} holds nothing mtls recognises`,
      "inspect reads certificates, chains, CSRs, CRLs, private keys, PKCS#12 and delivery bundles, PEM or DER",
    );
  return { format: pem ? "pem" : "der", objects, ...raw, notes: [] };
}
