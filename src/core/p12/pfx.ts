// The adapter for @peculiar/asn1-pfx (and the CMS/PKCS#8 schema types PKCS#12 is made of): the only
// module that builds or parses a PFX. node-forge cannot put EC keys into PKCS#12 and only MACs with
// SHA-1; pkijs has no 3DES. The schema package plus node:crypto (pbe.ts) covers both profiles.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { ContentInfo, EncryptedContent, EncryptedContentInfo, id_data, id_encryptedData } from "@peculiar/asn1-cms";
import {
  AuthenticatedSafe,
  CertBag,
  id_certBag,
  id_keyBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
  MacData,
  PFX,
  PKCS8ShroudedKeyBag,
  PKCS12Attribute,
  SafeBag,
  SafeContents,
} from "@peculiar/asn1-pfx";
import { DigestInfo } from "@peculiar/asn1-rsa";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { children, NULL, octets, readTlv, seq, tlv, uint, whole } from "../der.js";
import { ALGORITHM_NAMES, type EncryptionScheme, hashByOid, hashOid, MAX_ITERATIONS, parseScheme, pbeEncrypt, pkcs12Mac, type SchemeInfo } from "./pbe.js";

const OID_FRIENDLY_NAME = "1.2.840.113549.1.9.20";
const OID_LOCAL_KEY_ID = "1.2.840.113549.1.9.21";

/** What one profile writes. Both are readable by OpenSSL 3 without `-legacy`, Java and Node. */
export interface PfxProfile {
  bags: EncryptionScheme;
  macHash: "sha1" | "sha256";
  macIterations: number;
}

export interface BuildPfxParams {
  profile: PfxProfile;
  /** Never logged, never stored: the caller hands it to the person out of band. */
  password: string;
  /** The private key, PKCS#8 DER. */
  pkcs8: Uint8Array;
  /** Leaf first, then its issuers (DER). */
  certs: Uint8Array[];
  /** The key's and leaf's friendlyName (Windows and keytool show it as the alias). */
  friendlyName: string;
}

const ab = (b: Uint8Array): ArrayBuffer => new Uint8Array(b).buffer;
const der = (v: unknown): Buffer => Buffer.from(AsnConvert.serialize(v));

function bmpString(s: string): Buffer {
  const b = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(0x1e, b);
}

function attribute(id: string, value: Buffer): PKCS12Attribute {
  // PKCS12Attribute's constructor drops its parameters (asn1-pfx 2.x), so set the fields.
  const a = new PKCS12Attribute();
  a.attrId = id;
  a.attrValues = [ab(value)];
  return a;
}

function bag(bagId: string, value: Buffer, attrs?: PKCS12Attribute[]): SafeBag {
  return new SafeBag({ bagId, bagValue: ab(value), ...(attrs ? { bagAttributes: attrs } : {}) });
}

/** ContentInfo of type data: [0] EXPLICIT OCTET STRING around the DER. */
const dataInfo = (content: Buffer) => new ContentInfo({ contentType: id_data, content: ab(octets(content)) });

async function encryptedDataInfo(scheme: EncryptionScheme, password: string, content: Buffer): Promise<ContentInfo> {
  const { algorithm, encrypted } = await pbeEncrypt(scheme, password, content);
  const eci = new EncryptedContentInfo({
    contentType: id_data,
    contentEncryptionAlgorithm: AsnConvert.parse(algorithm, AlgorithmIdentifier),
    encryptedContent: new EncryptedContent({ value: new OctetString(ab(encrypted)) }),
  });
  // EncryptedData ::= SEQUENCE { version 0, encryptedContentInfo } (RFC 5652 §8); the CMS schema has no class for it.
  return new ContentInfo({ contentType: id_encryptedData, content: ab(seq(uint(0), der(eci))) });
}

/** A PKCS#12 file (DER): the certificates in an encrypted SafeContents, the key shrouded, a MAC over both. */
export async function buildPfx(p: BuildPfxParams): Promise<Buffer> {
  const leaf = p.certs[0];
  if (!leaf) throw new Error("buildPfx: no certificate");
  // localKeyId ties the key to its certificate; OpenSSL uses the SHA-1 of the certificate, so do we.
  const localKeyId = octets(createHash("sha1").update(leaf).digest());
  const named = () => [attribute(OID_FRIENDLY_NAME, bmpString(p.friendlyName)), attribute(OID_LOCAL_KEY_ID, localKeyId)];
  const certBags = p.certs.map((c, i) =>
    bag(id_certBag, der(new CertBag({ certId: id_x509Certificate, certValue: ab(octets(c)) })), i === 0 ? named() : undefined),
  );
  const shrouded = await pbeEncrypt(p.profile.bags, p.password, p.pkcs8);
  const keyBag = bag(id_pkcs8ShroudedKeyBag, seq(shrouded.algorithm, octets(shrouded.encrypted)), named());
  const authSafe = der(
    new AuthenticatedSafe([await encryptedDataInfo(p.profile.bags, p.password, der(new SafeContents(certBags))), dataInfo(der(new SafeContents([keyBag])))]),
  );
  const salt = randomBytes(p.profile.macHash === "sha1" ? 8 : 16);
  const mac = pkcs12Mac(p.profile.macHash, p.password, salt, p.profile.macIterations, authSafe);
  const pfx = new PFX({
    version: 3,
    authSafe: dataInfo(authSafe),
    macData: new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: hashOid(p.profile.macHash), parameters: ab(NULL) }),
        digest: new OctetString(ab(mac)),
      }),
      macSalt: new OctetString(ab(salt)),
      iterations: p.profile.macIterations,
    }),
  });
  return der(pfx);
}

// --- Reading (for `inspect` and the tests) ----------------------------------------------------

export interface PfxKey {
  encrypted: boolean;
  scheme?: SchemeInfo;
  friendlyName?: string;
  /** PKCS#8 DER, when the key could be read. Callers must never print or store it. */
  pkcs8?: Buffer;
}

export interface PfxContents {
  mac?: { algorithm: string; iterations: number; valid?: boolean };
  /** How each encrypted part is protected, in file order. */
  schemes: SchemeInfo[];
  /** Certificates that could be read (DER, file order) and their friendly names. */
  certs: Array<{ der: Buffer; friendlyName?: string }>;
  keys: PfxKey[];
  /** Parts that stayed closed: no password, wrong password, or an algorithm mtls does not decrypt. */
  unreadable: string[];
}

export class PfxPasswordError extends Error {}

function readAttrs(b: SafeBag): { friendlyName?: string } {
  const fn = b.bagAttributes?.find((a) => a.attrId === OID_FRIENDLY_NAME)?.attrValues[0];
  if (!fn) return {};
  const raw = Buffer.from(fn);
  const t = readTlv(raw, 0);
  const body = raw.subarray(t.start, t.end);
  let s = "";
  for (let i = 0; i + 1 < body.length; i += 2) s += String.fromCharCode(body.readUInt16BE(i));
  return { friendlyName: s };
}

async function readBags(bags: SafeContents, password: string | undefined, out: PfxContents): Promise<void> {
  for (const b of bags) {
    const value = Buffer.from(b.bagValue);
    if (b.bagId === id_certBag) {
      const cb = AsnConvert.parse(value, CertBag);
      if (cb.certId !== id_x509Certificate) continue;
      const os = Buffer.from(cb.certValue);
      const t = readTlv(os, 0);
      out.certs.push({ der: Buffer.from(os.subarray(t.start, t.end)), ...readAttrs(b) });
    } else if (b.bagId === id_keyBag) {
      out.keys.push({ encrypted: false, pkcs8: value, ...readAttrs(b) });
    } else if (b.bagId === id_pkcs8ShroudedKeyBag) {
      const sk = AsnConvert.parse(value, PKCS8ShroudedKeyBag);
      const scheme = parseScheme(der(sk.encryptionAlgorithm));
      out.schemes.push(publicScheme(scheme));
      const key: PfxKey = { encrypted: true, scheme: publicScheme(scheme), ...readAttrs(b) };
      if (password !== undefined && scheme.decrypt) key.pkcs8 = await scheme.decrypt(password, Buffer.from(sk.encryptedData.buffer));
      else out.unreadable.push(scheme.decrypt ? "the private key (no password given)" : `the private key (${scheme.name})`);
      out.keys.push(key);
    }
  }
}

const publicScheme = (s: SchemeInfo): SchemeInfo => ({ name: s.name, supported: s.supported, ...(s.iterations ? { iterations: s.iterations } : {}) });

/**
 * Opens a PKCS#12 file. Without a password only its structure (algorithms, MAC) is reported; with
 * one, the MAC is checked first and a mismatch throws PfxPasswordError.
 */
export async function readPfx(bytes: Uint8Array, password?: string): Promise<PfxContents> {
  const pfx = AsnConvert.parse(Buffer.from(bytes), PFX);
  if (pfx.authSafe.contentType !== id_data) throw new Error("public-key protected PKCS#12 is not supported");
  const wrapped = Buffer.from(pfx.authSafe.content);
  const authSafeDer = Buffer.from(AsnConvert.parse(wrapped, OctetString).buffer);
  const out: PfxContents = { schemes: [], certs: [], keys: [], unreadable: [] };
  if (pfx.macData) {
    const algOid = pfx.macData.mac.digestAlgorithm.algorithm;
    const hash = hashByOid(algOid);
    out.mac = { algorithm: `HMAC-${ALGORITHM_NAMES[algOid] ?? algOid}`, iterations: pfx.macData.iterations };
    if (pfx.macData.iterations > MAX_ITERATIONS) throw new Error(`MAC iteration count ${pfx.macData.iterations} is more than mtls runs (${MAX_ITERATIONS})`);
    if (password !== undefined && hash) {
      const expected = Buffer.from(pfx.macData.mac.digest.buffer);
      const actual = pkcs12Mac(hash, password, Buffer.from(pfx.macData.macSalt.buffer), pfx.macData.iterations, authSafeDer);
      out.mac.valid = expected.length === actual.length && timingSafeEqual(expected, actual);
      if (!out.mac.valid) throw new PfxPasswordError("MAC verification failed");
    }
  }
  for (const ci of AsnConvert.parse(authSafeDer, AuthenticatedSafe)) {
    const content = Buffer.from(ci.content);
    if (ci.contentType === id_data) {
      await readBags(AsnConvert.parse(Buffer.from(AsnConvert.parse(content, OctetString).buffer), SafeContents), password, out);
    } else if (ci.contentType === id_encryptedData) {
      const [, eciT] = children(content, readTlv(content, 0));
      const eci = AsnConvert.parse(whole(content, eciT as ReturnType<typeof readTlv>), EncryptedContentInfo);
      const scheme = parseScheme(der(eci.contentEncryptionAlgorithm));
      out.schemes.push(publicScheme(scheme));
      const ec = eci.encryptedContent;
      const data = ec?.value ? Buffer.from(ec.value.buffer) : Buffer.concat((ec?.constructedValue ?? []).map((o) => Buffer.from(o.buffer)));
      if (password === undefined || !scheme.decrypt || data.length === 0) {
        out.unreadable.push(scheme.decrypt ? "the certificates (no password given)" : `the certificates (${scheme.name})`);
        continue;
      }
      await readBags(AsnConvert.parse(await scheme.decrypt(password, data), SafeContents), password, out);
    } else {
      out.unreadable.push(`a part of type ${ci.contentType}`);
    }
  }
  return out;
}
