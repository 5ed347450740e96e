// Hand-encoded RSA CSRs whose keys no standard tool would make (#13 reproduction 6): the DER is
// written field by field, so the modulus and exponent are exactly what the test says.
import { createHash, randomBytes } from "node:crypto";
import { NULL, oid, seq, tlv, uint } from "../../src/core/der.js";

const OID_RSA = "1.2.840.113549.1.1.1";
const OID_SHA256_RSA = "1.2.840.113549.1.1.11";
const OID_CN = "2.5.4.3";
const DIGEST_INFO_SHA256 = Buffer.from("3031300d060960864801650304020105000420", "hex");

/** A modulus of `bits` bits (top bit set), odd unless `even`; random, so no key exists for it. */
export function modulus(bits: number, o: { even?: boolean } = {}): Buffer {
  const n = randomBytes(Math.ceil(bits / 8));
  const topBits = bits % 8 || 8;
  n[0] = ((n[0] as number) & ((1 << topBits) - 1)) | (1 << (topBits - 1));
  const last = n.length - 1;
  n[last] = o.even ? (n[last] as number) & 0xfe : (n[last] as number) | 1;
  return n;
}

const hex = (b: Buffer) => b.toString("hex");

export function rsaSpki(n: Buffer, e: number | bigint): Buffer {
  const key = seq(uint(hex(n)), uint(e));
  return seq(seq(oid(OID_RSA), NULL), tlv(0x03, Buffer.concat([Buffer.from([0]), key])));
}

/**
 * A PKCS#10 request for CN=`cn` with the given RSA key. Its "signature" is the PKCS#1 v1.5
 * encoded digest itself: what verifies under e = 1 (s^1 mod n = EM), made with no private key.
 */
export function forgedRsaCsr(n: Buffer, e: number | bigint, cn: string): Buffer {
  const name = seq(tlv(0x31, seq(oid(OID_CN), tlv(0x0c, Buffer.from(cn)))));
  const info = seq(uint(0), name, rsaSpki(n, e), Buffer.from([0xa0, 0x00]));
  const digest = createHash("sha256").update(info).digest();
  const t = Buffer.concat([DIGEST_INFO_SHA256, digest]);
  const em = Buffer.concat([Buffer.from([0x00, 0x01]), Buffer.alloc(n.length - t.length - 3, 0xff), Buffer.from([0x00]), t]);
  return seq(info, seq(oid(OID_SHA256_RSA), NULL), tlv(0x03, Buffer.concat([Buffer.from([0]), em])));
}
