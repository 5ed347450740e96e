// Names (RFC 5280 §4.1.2.4) without @peculiar/x509: read into the text form x509 writes (RFC
// 4514-like, in encoding order; subjects are stored and compared in that form) and encoded from
// attribute lists with x509's choice of string types, so nothing changes for stores made before.
import { children, oid, readOid, readTlv, seq, type Tlv, tlv, whole } from "./der.js";

export interface DistinguishedName {
  /** Relative distinguished names in encoding order, e.g. [["O", "Acme"], ["CN", "Acme Root CA"]]. */
  rdns?: Array<[string, string]>;
  /** An already encoded Name, copied byte for byte (a CSR's subject). */
  der?: Uint8Array;
}

/** A Name as encoded DER plus the text and CNs people see. */
export interface NameInfo {
  der: Buffer;
  text: string;
  commonNames: string[];
  empty: boolean;
}

const ATTRIBUTE_NAMES: Record<string, string> = {
  "2.5.4.3": "CN",
  "2.5.4.7": "L",
  "2.5.4.8": "ST",
  "2.5.4.10": "O",
  "2.5.4.11": "OU",
  "2.5.4.6": "C",
  "0.9.2342.19200300.100.1.25": "DC",
  "1.2.840.113549.1.9.1": "E",
  "2.5.4.42": "G",
  "2.5.4.43": "I",
  "2.5.4.4": "SN",
  "2.5.4.12": "T",
};

interface NameValue {
  text: string;
  /** Value of a string type x509 does not decode: it prints "#" and the hex of the whole TLV. */
  raw?: string;
}

const UTF8 = 0x0c;
const BMP = 0x1e;
const UNIVERSAL = 0x1c;
// Teletex, Printable, IA5: asn1js reads one character per byte.
const BYTE_STRINGS = new Set([0x13, 0x14, 0x16]);

function readNameValue(buf: Uint8Array, t: Tlv): NameValue {
  const content = buf.subarray(t.start, t.end);
  if (t.tag === UTF8) return { text: Buffer.from(content).toString("utf8") };
  if (BYTE_STRINGS.has(t.tag)) return { text: Buffer.from(content).toString("latin1") };
  if (t.tag === BMP || t.tag === UNIVERSAL) {
    const width = t.tag === BMP ? 2 : 4;
    let text = "";
    for (let i = 0; i + width <= content.length; i += width) {
      let code = 0;
      for (let j = 0; j < width; j++) code = code * 256 + (content[i + j] as number);
      text += String.fromCharCode(code);
    }
    return { text };
  }
  if (content.length === 0) return { text: "" };
  const hex = whole(buf, t).toString("hex");
  return { text: hex, raw: hex };
}

function escapeValue(v: string): string {
  // Mirrors x509's escaping, including its single (first-match) replacement of CR, LF or TAB.
  return v
    .replace(/([,+"\\<>;])/g, "\\$1")
    .replace(/^([ #])/, "\\$1")
    .replace(/([ ]$)/, "\\$1")
    .replace(/([\r\n\t])/, (c) => `\\${Buffer.from(c, "utf8").toString("hex").toUpperCase()}`);
}

export interface ReadName {
  text: string;
  commonNames: string[];
  /** No attributes at all. */
  empty: boolean;
}

/** A DER Name as text and CNs. Throws on a malformed encoding. */
export function readName(buf: Uint8Array, name: Tlv): ReadName {
  if (name.tag !== 0x30) throw new Error("DER: a Name is a SEQUENCE");
  const rdns: string[] = [];
  const commonNames: string[] = [];
  for (const set of children(buf, name)) {
    if (set.tag !== 0x31) throw new Error("DER: an RDN is a SET");
    const parts: string[] = [];
    for (const atv of children(buf, set)) {
      const [type, value] = children(buf, atv);
      if (atv.tag !== 0x30 || type?.tag !== 0x06 || !value) throw new Error("DER: bad AttributeTypeAndValue");
      const oid = readOid(buf, type);
      const v = readNameValue(buf, value);
      if (oid === "2.5.4.3") commonNames.push(v.text);
      parts.push(`${ATTRIBUTE_NAMES[oid] ?? oid}=${v.raw !== undefined ? `#${v.raw}` : escapeValue(v.text)}`);
    }
    rdns.push(parts.join("+"));
  }
  return { text: rdns.join(", "), commonNames, empty: rdns.length === 0 };
}

/** A DER Name (a CRL's issuer, say) in the text form the rest of mtls prints. */
export function nameText(der: Uint8Array): string {
  return readName(der, readTlv(der, 0)).text;
}

const NAME_OIDS = new Set(Object.values(ATTRIBUTE_NAMES));

/** x509's unescaping of one value of a Name's text form. */
function unescapeValue(value: string): string {
  const quoted = /"(.*?[^\\])?"/.exec(value);
  return (quoted ? (quoted[1] ?? "") : value).replace(/\\0a/gi, "\n").replace(/\\0d/gi, "\r").replace(/\\0g/gi, "\t").replace(/\\(.)/g, "$1");
}

/** The CNs of a subject in its stored text form (the index of stores from before #12 keeps no other). */
export function commonNamesFromText(text: string): string[] {
  // Without a backslash or quote nothing is escaped, so "," and "+" are separators and a split is
  // exact: ~20x faster than parsing the Name, which matters for an index of 100,000 such records.
  if (!/[\\"]/.test(text))
    return text
      .split(/[,+]/)
      .map((p) => p.trim())
      .filter((p) => p.startsWith("CN="))
      .map((p) => p.slice(3));
  // Otherwise x509's own grammar for the text form (the form it wrote), without building the Name.
  const re = /(\d\.[\d.]*\d|[A-Za-z]+)=((?:"")|(?:".*?[^\\]")|(?:[^,+"\\](?=[,+]|$))|(?:[^,+].*?(?:[^\\][,+]))|(?:))([,+])?/g;
  const cns: string[] = [];
  for (let m = re.exec(`${text},`); m; m = re.exec(`${text},`)) {
    const type = m[1] as string;
    let value = m[2] as string;
    if (value.endsWith(",") || value.endsWith("+")) value = value.slice(0, -1);
    if (!/[\d.]+/.test(type) && !NAME_OIDS.has(type)) return [];
    if (type === "CN" || type === "2.5.4.3") cns.push(value.startsWith("#") ? value.slice(1).toLowerCase() : unescapeValue(value));
  }
  return cns;
}

const NAME_TYPE_OIDS: Record<string, string> = Object.fromEntries(Object.entries(ATTRIBUTE_NAMES).map(([k, v]) => [v, k]));
const IA5_TYPES = new Set(["1.2.840.113549.1.9.1", "0.9.2342.19200300.100.1.25"]);

/** x509's string type for a value: IA5 for E and DC, PrintableString when it can be, else UTF-8. */
function encodeValue(type: string, value: string): Buffer {
  if (IA5_TYPES.has(type)) return tlv(0x16, Buffer.from(value, "latin1"));
  if (/^[A-Za-z0-9 '()+,-./:=?]*$/.test(value)) return tlv(0x13, Buffer.from(value, "latin1"));
  return tlv(0x0c, Buffer.from(value, "utf8"));
}

/** The same Name with minimal DER lengths throughout (what re-serialising a parsed Name gives). */
function reencodeName(der: Uint8Array): Buffer {
  const name = readTlv(der, 0);
  if (name.tag !== 0x30) throw new Error("DER: a Name is a SEQUENCE");
  const rdns = children(der, name).map((set) =>
    tlv(
      set.tag,
      Buffer.concat(children(der, set).map((atv) => tlv(atv.tag, Buffer.concat(children(der, atv).map((t) => tlv(t.tag, der.subarray(t.start, t.end))))))),
    ),
  );
  return seq(...rdns);
}

/** Encodes a Name (from attributes, or re-encodes one given as DER) with its text and CNs. */
export function describeName(dn: DistinguishedName): NameInfo {
  const der = dn.der
    ? reencodeName(dn.der)
    : seq(
        ...(dn.rdns ?? []).map(([attr, value]) => {
          const type = /[\d.]+/.test(attr) ? attr : NAME_TYPE_OIDS[attr];
          if (!type) throw new Error(`Cannot get OID for name type '${attr}'`);
          return tlv(0x31, seq(oid(type), encodeValue(type, value)));
        }),
      );
  const read = readName(der, readTlv(der, 0));
  return { der, text: read.text, commonNames: read.commonNames, empty: read.empty };
}
