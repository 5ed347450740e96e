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
import {
  ALGORITHM_NAMES,
  type EncryptionScheme,
  hashByOid,
  hashOid,
  KdfBudget,
  MAX_ITERATIONS,
  macWork,
  parseScheme,
  pbeEncrypt,
  pkcs12Mac,
  type SchemeInfo,
} from "./pbe.js";

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

/** A shrouded key bag's scheme, read without decrypting anything. */
const shroudedScheme = (value: Buffer) => {
  const sk = AsnConvert.parse(value, PKCS8ShroudedKeyBag);
  return { sk, scheme: parseScheme(der(sk.encryptionAlgorithm)) };
};

interface ReadCtx {
  password: string | undefined;
  budget: KdfBudget;
  out: PfxContents;
}

/** `prepaid`: the bags' key derivations were charged to the budget with the file's visible parts. */
async function readBags(bags: SafeContents, c: ReadCtx, prepaid: boolean): Promise<void> {
  for (const b of bags) {
    const value = Buffer.from(b.bagValue);
    if (b.bagId === id_certBag) {
      const cb = AsnConvert.parse(value, CertBag);
      if (cb.certId !== id_x509Certificate) continue;
      const os = Buffer.from(cb.certValue);
      const t = readTlv(os, 0);
      c.out.certs.push({ der: Buffer.from(os.subarray(t.start, t.end)), ...readAttrs(b) });
    } else if (b.bagId === id_keyBag) {
      c.out.keys.push({ encrypted: false, pkcs8: value, ...readAttrs(b) });
    } else if (b.bagId === id_pkcs8ShroudedKeyBag) {
      const { sk, scheme } = shroudedScheme(value);
      c.out.schemes.push(publicScheme(scheme));
      const key: PfxKey = { encrypted: true, scheme: publicScheme(scheme), ...readAttrs(b) };
      if (c.password !== undefined && scheme.decrypt) {
        if (!prepaid) c.budget.spend(scheme.work);
        key.pkcs8 = await scheme.decrypt(c.password, Buffer.from(sk.encryptedData.buffer));
      } else c.out.unreadable.push(scheme.decrypt ? "the private key (no password given)" : `the private key (${scheme.name})`);
      c.out.keys.push(key);
    }
  }
}

const publicScheme = (s: SchemeInfo): SchemeInfo => ({ name: s.name, supported: s.supported, ...(s.iterations ? { iterations: s.iterations } : {}) });

type Part =
  | { kind: "data"; bags: SafeContents }
  | { kind: "encrypted"; scheme: ReturnType<typeof parseScheme>; data: Buffer }
  | { kind: "other"; type: string };

function readPart(ci: ContentInfo): Part {
  const content = Buffer.from(ci.content);
  if (ci.contentType === id_data) return { kind: "data", bags: AsnConvert.parse(Buffer.from(AsnConvert.parse(content, OctetString).buffer), SafeContents) };
  if (ci.contentType !== id_encryptedData) return { kind: "other", type: ci.contentType };
  const [, eciT] = children(content, readTlv(content, 0));
  if (!eciT) throw new Error("an EncryptedData without content");
  const eci = AsnConvert.parse(whole(content, eciT), EncryptedContentInfo);
  const ec = eci.encryptedContent;
  const data = ec?.value ? Buffer.from(ec.value.buffer) : Buffer.concat((ec?.constructedValue ?? []).map((o) => Buffer.from(o.buffer)));
  return { kind: "encrypted", scheme: parseScheme(der(eci.contentEncryptionAlgorithm)), data };
}

/** The key derivations visible without decrypting: encrypted parts and shrouded keys in the clear. */
function visibleWork(parts: Part[]): number {
  let work = 0;
  for (const p of parts) {
    if (p.kind === "encrypted" && p.data.length > 0) work += p.scheme.work;
    if (p.kind === "data") for (const b of p.bags) if (b.bagId === id_pkcs8ShroudedKeyBag) work += shroudedScheme(Buffer.from(b.bagValue)).scheme.work;
  }
  return work;
}

async function checkMac(pfx: PFX, authSafeDer: Buffer, c: ReadCtx): Promise<void> {
  if (!pfx.macData) return;
  const { iterations, mac, macSalt } = pfx.macData;
  const algOid = mac.digestAlgorithm.algorithm;
  const hash = hashByOid(algOid);
  c.out.mac = { algorithm: `HMAC-${ALGORITHM_NAMES[algOid] ?? algOid}`, iterations };
  if (iterations > MAX_ITERATIONS) throw new Error(`MAC iteration count ${iterations} is more than mtls runs (${MAX_ITERATIONS})`);
  if (c.password === undefined || !hash) return;
  const expected = Buffer.from(mac.digest.buffer);
  const actual = pkcs12Mac(hash, c.password, Buffer.from(macSalt.buffer), iterations, authSafeDer);
  c.out.mac.valid = expected.length === actual.length && timingSafeEqual(expected, actual);
  if (!c.out.mac.valid) throw new PfxPasswordError("MAC verification failed");
}

/**
 * Opens a PKCS#12 file. Without a password only its structure (algorithms, MAC) is reported; with
 * one, the MAC is checked first and a mismatch throws PfxPasswordError. Every key derivation is
 * charged to `budget` (one input may hold several files) before it runs; the parts visible
 * without a password are charged at once, so a file over budget costs nothing.
 */
export async function readPfx(bytes: Uint8Array, password?: string, budget: KdfBudget = new KdfBudget("the PKCS#12 file")): Promise<PfxContents> {
  const pfx = AsnConvert.parse(Buffer.from(bytes), PFX);
  if (pfx.authSafe.contentType !== id_data) throw new Error("public-key protected PKCS#12 is not supported");
  const wrapped = Buffer.from(pfx.authSafe.content);
  const authSafeDer = Buffer.from(AsnConvert.parse(wrapped, OctetString).buffer);
  const c: ReadCtx = { password, budget, out: { schemes: [], certs: [], keys: [], unreadable: [] } };
  const parts = AsnConvert.parse(authSafeDer, AuthenticatedSafe).map(readPart);
  const macIterations = pfx.macData && hashByOid(pfx.macData.mac.digestAlgorithm.algorithm) ? pfx.macData.iterations : 0;
  if (password !== undefined && macIterations <= MAX_ITERATIONS) budget.spend(macWork(macIterations) + visibleWork(parts));
  await checkMac(pfx, authSafeDer, c);
  for (const p of parts) {
    if (p.kind === "data") await readBags(p.bags, c, true);
    else if (p.kind === "other") c.out.unreadable.push(`a part of type ${p.type}`);
    else {
      c.out.schemes.push(publicScheme(p.scheme));
      if (password === undefined || !p.scheme.decrypt || p.data.length === 0) {
        c.out.unreadable.push(p.scheme.decrypt ? "the certificates (no password given)" : `the certificates (${p.scheme.name})`);
        continue;
      }
      await readBags(AsnConvert.parse(await p.scheme.decrypt(password, p.data), SafeContents), c, false);
    }
  }
  return c.out;
}
