// A minimal DER encoder. Only used where the ASN.1 library is too slow (CRL entries by the
// hundred thousand) or where we need parameters it does not expose (PBES2 iteration count).

/** How many bytes the DER length of `n` content bytes takes. */
function lengthSize(n: number): number {
  let size = 1;
  if (n >= 0x80) for (let v = n; v > 0; v = Math.floor(v / 256)) size++;
  return size;
}

/** Writes tag and length at the start of `out`; returns where the content begins. */
function writeHeader(out: Buffer, tag: number, n: number, size: number): number {
  out[0] = tag;
  if (size === 1) out[1] = n;
  else {
    out[1] = 0x80 | (size - 1);
    for (let i = size, v = n; i > 1; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  }
  return 1 + size;
}

// One allocation per element: a batch encodes some 40 elements per certificate, and building each
// from three concatenated pieces made the encoder and its garbage a tenth of the batch's CPU (#21).
/** An element whose content is `parts`, in order. */
export function tlvOf(tag: number, parts: readonly Uint8Array[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const size = lengthSize(n);
  const out = Buffer.allocUnsafe(1 + size + n);
  let at = writeHeader(out, tag, n, size);
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const tlv = (tag: number, body: Uint8Array): Buffer => tlvOf(tag, [body]);
export const seq = (...parts: Uint8Array[]): Buffer => tlvOf(0x30, parts);
export const octets = (b: Uint8Array): Buffer => tlv(0x04, b);
export const NULL = Buffer.from([0x05, 0x00]);

// The same few OIDs are encoded for every certificate of a batch: BigInt arithmetic made that
// ~0.1 ms each, 12% of a 1,000-certificate batch's CPU (#21). Callers only copy the result.
const oidCache = new Map<string, Buffer>();

export function oid(dotted: string): Buffer {
  let out = oidCache.get(dotted);
  if (!out) {
    out = encodeOid(dotted);
    if (oidCache.size < 1000) oidCache.set(dotted, out);
  }
  return out;
}

function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split(".").map((a) => BigInt(a));
  const [a0 = 0n, a1 = 0n, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [a0 * 40n + a1, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) chunk.unshift(Number((v & 0x7fn) | 0x80n));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

const ZERO = Buffer.from([0]);

/** A non-negative INTEGER from a hex string or a number (minimal encoding, sign byte when needed). */
export function uint(value: string | number | bigint): Buffer {
  let hex = typeof value === "string" ? value : BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, "hex");
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b.length === 0) b = Buffer.from([0]);
  return (b[0] as number) & 0x80 ? tlvOf(0x02, [ZERO, b]) : tlv(0x02, b);
}

const pad2 = (n: number) => String(n).padStart(2, "0");

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always whole seconds, Z. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad2(d.getUTCMonth() + 1)}${pad2(d.getUTCDate())}${pad2(d.getUTCHours())}${pad2(d.getUTCMinutes())}${pad2(d.getUTCSeconds())}Z`;
  return y < 2050 ? tlv(0x17, Buffer.from(pad2(y % 100) + rest)) : tlv(0x18, Buffer.from(String(y) + rest));
}

/** GeneralizedTime, whole seconds (RFC 6960 uses it for every OCSP time). */
export function generalizedTime(d: Date): Buffer {
  const s = d.toISOString();
  return tlv(0x18, Buffer.from(`${s.slice(0, 4)}${s.slice(5, 7)}${s.slice(8, 10)}${s.slice(11, 13)}${s.slice(14, 16)}${s.slice(17, 19)}Z`));
}

// --- Reading ----------------------------------------------------------------------------------

export interface Tlv {
  tag: number;
  /** Offset of the tag byte (the whole TLV is offset..end). */
  offset: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the content. */
  end: number;
}

/** Reads one definite-length TLV at `offset`; throws on truncated or indefinite encodings. */
export function readTlv(buf: Uint8Array, offset: number): Tlv {
  if (offset + 2 > buf.length) throw new Error("DER: truncated");
  const tag = buf[offset] as number;
  let len = buf[offset + 1] as number;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) throw new Error("DER: bad length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] as number);
    start += n;
  }
  if (start + len > buf.length) throw new Error("DER: truncated");
  return { tag, offset, start, end: start + len };
}

/** The TLVs directly inside a constructed TLV. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let o = parent.start; o < parent.end; ) {
    const t = readTlv(buf, o);
    if (t.end > parent.end) throw new Error("DER: an element overruns its parent");
    out.push(t);
    o = t.end;
  }
  return out;
}

/** The one TLV that fills `parent`'s content exactly (an extension's value in its OCTET STRING). */
export function readInner(buf: Uint8Array, parent: Tlv): Tlv {
  const t = readTlv(buf, parent.start);
  if (t.end !== parent.end) throw new Error("DER: the content is not exactly one element");
  return t;
}

export const body = (buf: Uint8Array, t: Tlv): Buffer => Buffer.from(buf.subarray(t.start, t.end));
export const whole = (buf: Uint8Array, t: Tlv): Buffer => Buffer.from(buf.subarray(t.offset, t.end));

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

/**
 * UTCTime or GeneralizedTime content to a Date: YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ (RFC 5280
 * §4.1.2.5), read digit by digit (a CRL has a million of them). Out-of-range fields are refused
 * as OpenSSL refuses them ("Bad time value"), not rolled over into the next month or year.
 */
export function readTime(buf: Uint8Array, t: Tlv): Date {
  const utc = t.tag === 0x17;
  const digits = utc ? 12 : 14;
  const bad = () => new Error(`DER: unsupported time ${Buffer.from(buf.subarray(t.start, t.end)).toString("latin1")}`);
  if (t.end - t.start !== digits + 1 || buf[t.end - 1] !== 0x5a) throw bad();
  const two = (i: number): number => {
    const a = (buf[t.start + i] as number) - 0x30;
    const b = (buf[t.start + i + 1] as number) - 0x30;
    if (a < 0 || a > 9 || b < 0 || b > 9) throw bad();
    return a * 10 + b;
  };
  let year = utc ? two(0) : two(0) * 100 + two(2);
  if (utc) year += year < 50 ? 2000 : 1900;
  const f = utc ? 2 : 4;
  const [month, day, hour, minute, second] = [two(f), two(f + 2), two(f + 4), two(f + 6), two(f + 8)];
  const monthDays = month === 2 && isLeap(year) ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  if (month < 1 || day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) throw bad();
  const d = new Date(Date.UTC(2000, 0, 1, hour, minute, second));
  // Date.UTC reads years 0-99 as 1900-1999; GeneralizedTime 0050 is the year 50.
  d.setUTCFullYear(year, month - 1, day);
  return d;
}

export function readOid(buf: Uint8Array, t: Tlv): string {
  // Arcs are read as numbers while they stay exact, as BigInt beyond (a UUID arc, 2.25.x, has 128
  // bits): BigInt arithmetic for every byte took 2.5 times as long.
  const arcs: Array<number | bigint> = [];
  let v = 0;
  let big: bigint | undefined;
  for (let i = t.start; i < t.end; i++) {
    const byte = buf[i] as number;
    if (big === undefined && v < 2 ** 45) v = v * 128 + (byte & 0x7f);
    else big = ((big ?? BigInt(v)) << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(big ?? v);
      v = 0;
      big = undefined;
    }
  }
  const first = arcs.shift() ?? 0;
  if (typeof first === "bigint") return ["2", first - 80n, ...arcs].join(".");
  const a0 = first < 80 ? Math.floor(first / 40) : 2;
  return [a0, first - a0 * 40, ...arcs].join(".");
}

// --- ECDSA signature formats (WebCrypto uses r||s, X.509 uses a DER SEQUENCE) ------------------

export function ecdsaRawToDer(raw: Uint8Array): Buffer {
  const half = raw.length / 2;
  return seq(uint(Buffer.from(raw.subarray(0, half)).toString("hex")), uint(Buffer.from(raw.subarray(half)).toString("hex")));
}

export function ecdsaDerToRaw(der: Uint8Array, size: number): Buffer {
  const outer = readTlv(der, 0);
  const [r, s] = children(der, outer);
  if (!r || !s) throw new Error("DER: bad ECDSA signature");
  const fix = (t: Tlv) => {
    let b = Buffer.from(der.subarray(t.start, t.end));
    while (b.length > size && b[0] === 0) b = b.subarray(1);
    return Buffer.concat([Buffer.alloc(size - b.length), b]);
  };
  return Buffer.concat([fix(r), fix(s)]);
}
