// PKCS#11 URIs (RFC 7512): where a key lives. Only what mtls needs to find a token and a key is
// kept; a PIN never is (pin-value would show in `ps` and be written to config.json).
import { usageError } from "../errors.js";

/** The path attributes mtls understands (RFC 7512 §2.3), plus the module-path query attribute. */
export interface Pkcs11Uri {
  /** Absolute path of the PKCS#11 module (the shared library), e.g. /usr/lib/softhsm/libsofthsm2.so. */
  modulePath: string;
  token?: string;
  manufacturer?: string;
  serial?: string;
  model?: string;
  /** CKA_LABEL of the key. */
  object?: string;
  /** CKA_ID of the key, raw bytes. */
  id?: Buffer;
  /** CKO class named by "type"; only private keys are looked up. */
  type?: string;
}

const PATH_ATTRS = new Set([
  "token",
  "manufacturer",
  "serial",
  "model",
  "object",
  "id",
  "type",
  "library-manufacturer",
  "library-description",
  "library-version",
  "slot-manufacturer",
  "slot-description",
  "slot-id",
]);
const QUERY_ATTRS = new Set(["module-path", "module-name", "pin-source", "pin-value"]);

const EXAMPLE = "pkcs11:token=mtls-ca?module-path=/usr/lib/softhsm/libsofthsm2.so";

function decode(value: string, attr: string, flag: string): Buffer {
  // RFC 7512 §2.3: pk11-pchar is unreserved / pk11-res-avail / pct-encoded; anything else is refused.
  if (!/^(?:[A-Za-z0-9\-._~:[\]@!$'()*+,=&/|]|%[0-9A-Fa-f]{2})*$/.test(value))
    throw usageError("ERR_PKCS11_URI", `${flag}: the value of "${attr}" holds characters a PKCS#11 URI must percent-encode`, `e.g. ${EXAMPLE}`);
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === "%") {
      bytes.push(Number.parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(value.charCodeAt(i));
  }
  return Buffer.from(bytes);
}

function text(value: Buffer, attr: string, flag: string): string {
  const s = value.toString("utf8");
  if (!Buffer.from(s, "utf8").equals(value) || /[\u0000-\u001f\u007f-\u009f]/.test(s))
    throw usageError("ERR_PKCS11_URI", `${flag}: "${attr}" is not printable UTF-8`, `e.g. ${EXAMPLE}`);
  return s;
}

/**
 * Parses an RFC 7512 URI. `flag` names the option in errors. A PIN in the URI is refused: PINs
 * come from MTLS_PKCS11_PIN, --pin-file or a prompt.
 */
export function parsePkcs11Uri(uri: string, flag: string): Pkcs11Uri {
  if (!uri.toLowerCase().startsWith("pkcs11:")) throw usageError("ERR_PKCS11_URI", `${flag} must be a pkcs11: URI`, `e.g. ${EXAMPLE}`);
  const rest = uri.slice("pkcs11:".length);
  const q = rest.indexOf("?");
  const path = q < 0 ? rest : rest.slice(0, q);
  const query = q < 0 ? "" : rest.slice(q + 1);
  const out: Partial<Pkcs11Uri> = {};
  const seen = new Set<string>();
  const parts = [...(path ? path.split(";").map((p) => [p, "path"] as const) : []), ...(query ? query.split("&").map((p) => [p, "query"] as const) : [])];
  for (const [part, where] of parts) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw usageError("ERR_PKCS11_URI", `${flag}: "${part.slice(0, 40)}" is not attribute=value`, `e.g. ${EXAMPLE}`);
    const attr = part.slice(0, eq).toLowerCase();
    const raw = decode(part.slice(eq + 1), attr, flag);
    if (!(where === "path" ? PATH_ATTRS : QUERY_ATTRS).has(attr))
      throw usageError("ERR_PKCS11_URI", `${flag}: unknown ${where} attribute "${attr.slice(0, 40)}"`, `e.g. ${EXAMPLE}`);
    if (seen.has(attr)) throw usageError("ERR_PKCS11_URI", `${flag}: "${attr}" is given twice`);
    seen.add(attr);
    if (attr === "pin-value" || attr === "pin-source")
      throw usageError(
        "ERR_PKCS11_PIN_IN_URI",
        `${flag}: a PIN may not be part of the key URI (it would be stored and shown in \`ps\`)`,
        "set MTLS_PKCS11_PIN, or pass --pin-file <file>, or type it at the prompt",
      );
    if (attr === "module-name")
      throw usageError("ERR_PKCS11_URI", `${flag}: name the module by module-path (its absolute path), not module-name`, `e.g. ${EXAMPLE}`);
    if (attr === "id") out.id = raw;
    else if (attr === "module-path") out.modulePath = text(raw, attr, flag);
    else if (attr === "token" || attr === "manufacturer" || attr === "serial" || attr === "model" || attr === "object" || attr === "type")
      out[attr] = text(raw, attr, flag);
    // library-* and slot-* narrow nothing mtls needs; accepted so URIs from p11tool work.
  }
  if (!out.modulePath || !out.modulePath.startsWith("/"))
    throw usageError("ERR_PKCS11_URI", `${flag} needs ?module-path=<absolute path of the PKCS#11 module>`, `e.g. ${EXAMPLE}`);
  if (out.type !== undefined && out.type !== "private")
    throw usageError("ERR_PKCS11_URI", `${flag}: type=${out.type} does not name a private key`, "use type=private or leave it out");
  if (out.token === undefined && out.serial === undefined)
    throw usageError("ERR_PKCS11_URI", `${flag} must name the token (token=<label> or serial=<serial>)`, `e.g. ${EXAMPLE}`);
  return out as Pkcs11Uri;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
function encode(value: string | Buffer, allowed: RegExp): string {
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : value;
  let s = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    s += b < 0x80 && (UNRESERVED.test(c) || allowed.test(c)) ? c : `%${b.toString(16).padStart(2, "0")}`;
  }
  return s;
}

/** The canonical text of a URI, as stored in config.json: never a PIN. */
export function formatPkcs11Uri(u: Pkcs11Uri): string {
  const path: string[] = [];
  for (const attr of ["token", "manufacturer", "serial", "model", "object"] as const) {
    const v = u[attr];
    if (v !== undefined) path.push(`${attr}=${encode(v, /[:@!$'()*+,&]/)}`);
  }
  // The id is binary: every byte percent-encoded, as p11tool and OpenSC write it.
  if (u.id) path.push(`id=${[...u.id].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}`);
  if (u.type) path.push(`type=${u.type}`);
  return `pkcs11:${path.join(";")}?module-path=${encode(u.modulePath, /[/:@!$'()*+,]/)}`;
}

/** Where a token is, without the key: for messages and `ca show`. */
export function describeToken(u: Pkcs11Uri): string {
  return `${u.token !== undefined ? `token "${u.token}"` : `token serial ${u.serial}`} (module ${u.modulePath})`;
}
