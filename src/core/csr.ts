// PKCS#10 requests (RFC 2986) read with our DER reader and checked with node:crypto, so that
// `partner issue --csr` does not load @peculiar/x509 (#21: ~45 ms of a ~60 ms Node start-up).
// Everything here is hostile input: any malformation is an input error, never an exception of
// another kind (the fuzz test in test/unit/hostile-csr.test.ts feeds thousands of mutations).
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { EKU_NAMES, EXTENSION_NAMES, readGeneralNames } from "./cert.js";
import { children, readInner, readOid, readTlv, type Tlv, whole } from "./der.js";
import { inputError } from "./errors.js";
import { readName } from "./name.js";
import type { San } from "./sans.js";

export interface CsrInfo {
  subject: string;
  subjectDer: Buffer;
  /** True when the subject has no attributes at all. */
  subjectEmpty: boolean;
  spki: Buffer;
  sans: San[];
  /** SAN entries of types we do not issue (otherName, directoryName, registeredID ...). */
  unsupportedSans: string[];
  /** Every extension the CSR asks for, by name, e.g. "basicConstraints (CA:true)". */
  requestedExtensions: string[];
  signatureValid: boolean;
}

const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";

interface Requested {
  sans: San[];
  unsupported: string[];
  names: string[];
}

function readRequestedExtensions(der: Uint8Array, attributes: Tlv | undefined): Requested {
  const out: Requested = { sans: [], unsupported: [], names: [] };
  for (const attr of attributes ? children(der, attributes) : []) {
    const [type, values] = children(der, attr);
    if (type?.tag !== 0x06 || values?.tag !== 0x31) throw new Error("DER: bad Attribute");
    if (readOid(der, type) !== EXTENSION_REQUEST) continue;
    const list = children(der, values)[0];
    for (const ext of list ? children(der, list) : []) {
      const parts = children(der, ext);
      const id = parts[0];
      const octets = parts[parts.length - 1];
      if (id?.tag !== 0x06 || octets?.tag !== 0x04) throw new Error("DER: bad Extension");
      const oid = readOid(der, id);
      const value = readInner(der, octets);
      const name = EXTENSION_NAMES[oid] ?? oid;
      if (oid === "2.5.29.17") {
        const r = readGeneralNames(der, value);
        out.sans = r.sans;
        out.unsupported = r.unsupported;
      } else if (oid === "2.5.29.19") {
        const ca = children(der, value).find((t) => t.tag === 0x01);
        out.names.push(`${name} (CA:${ca ? der[ca.start] !== 0 : false})`);
      } else if (oid === "2.5.29.37") {
        const usages = children(der, value).map((t) => {
          const o = readOid(der, t);
          return EKU_NAMES[o] ?? o;
        });
        out.names.push(`${name} (${usages.join(", ")})`);
      } else out.names.push(name);
    }
  }
  return out;
}

const HASHES: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
/** Signature algorithm OIDs (ECDSA, RSA PKCS#1 v1.5) and the digest each uses. */
export const SIGNATURE_HASHES: Record<string, string> = {
  "1.2.840.10045.4.1": "sha1",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
};

/** RSASSA-PSS parameters (RFC 4055 §3.1): the hash and salt length, SHA-1 and 20 by default. */
function pssParams(der: Uint8Array, params: Tlv | undefined): { hash: string; saltLength: number } {
  let hash = "sha1";
  let saltLength = 20;
  for (const p of params ? children(der, params) : []) {
    const inner = children(der, p)[0];
    if (p.tag === 0xa0 && inner) hash = HASHES[readOid(der, children(der, inner)[0] as Tlv)] ?? "unknown";
    if (p.tag === 0xa2 && inner) saltLength = Number.parseInt(Buffer.from(der.subarray(inner.start, inner.end)).toString("hex"), 16);
  }
  return { hash, saltLength };
}

/** The request's self-signature, checked by OpenSSL; an algorithm we do not know is "not valid". */
function checkSignature(der: Uint8Array, info: Tlv, alg: Tlv, sig: Tlv, key: KeyObject): boolean {
  const [algId, params] = children(der, alg);
  if (algId?.tag !== 0x06 || sig.tag !== 0x03) return false;
  const oid = readOid(der, algId);
  const data = der.subarray(info.offset, info.end);
  const signature = der.subarray(sig.start + 1, sig.end);
  try {
    if (oid === "1.3.101.112") return verify(null, data, key, signature);
    if (oid === "1.2.840.113549.1.1.10") {
      const { hash, saltLength } = pssParams(der, params);
      return verify(hash, data, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength }, signature);
    }
    const hash = SIGNATURE_HASHES[oid];
    return hash ? verify(hash, data, key, signature) : false;
  } catch {
    return false;
  }
}

/** Parses a PKCS#10 request (DER) and checks its self-signature. Throws an input error when unparsable. */
export async function parseCsr(der: Uint8Array, what: string): Promise<CsrInfo> {
  try {
    const [info, alg, sig] = children(der, readTlv(der, 0));
    if (info?.tag !== 0x30 || alg?.tag !== 0x30 || !sig) throw new Error("DER: not a CertificationRequest");
    const [version, subject, spki, attributes] = children(der, info);
    if (version?.tag !== 0x02 || !subject || spki?.tag !== 0x30) throw new Error("DER: bad CertificationRequestInfo");
    if (attributes && attributes.tag !== 0xa0) throw new Error("DER: bad attributes");
    const name = readName(der, subject);
    const spkiDer = whole(der, spki);
    // OpenSSL decides whether the public key is one (a CSR whose key does not parse is no CSR).
    const key = createPublicKey({ key: spkiDer, format: "der", type: "spki" });
    const requested = readRequestedExtensions(der, attributes);
    return {
      subject: name.text,
      // The subject exactly as the partner encoded it: re-serialising the parsed Name would
      // silently "repair" (and so hide) strings that are not what their ASN.1 type says.
      subjectDer: whole(der, subject),
      subjectEmpty: name.empty,
      spki: spkiDer,
      sans: requested.sans,
      unsupportedSans: requested.unsupported,
      requestedExtensions: requested.names,
      signatureValid: checkSignature(der, info, alg, sig, key),
    };
  } catch (err) {
    throw inputError("ERR_CSR_PARSE", `${what} is not a valid PKCS#10 certificate request`, "send a PEM or DER CSR, e.g. made with `openssl req -new`", err);
  }
}
