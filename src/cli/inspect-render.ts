// The human rendering of `mtls inspect`, laid out like `step certificate inspect` / `openssl x509
// -text`. Every value a file carries is hostile: control, bidi, zero-width and other invisible
// characters are shown as \u{…} escapes (terminal-safe.ts), so a subject cannot rewrite the
// terminal, reorder what is printed or hide a character in a name that reads like another.
import type { InspectResult } from "../core/index.js";
import type { Styles } from "./output.js";
import { safeValue } from "./terminal-safe.js";

type Obj = InspectResult["objects"][number];

/** Terminal-safe text: unsafe code points become visible \u{hex} escapes. */
export const safe = (v: unknown): string => safeValue(String(v));

const I = "    ";
const line = (depth: number, label: string, value?: unknown) => `${I.repeat(depth)}${label}${value === undefined ? "" : ` ${safe(value)}`}`;
const list = (xs: readonly unknown[]) => (xs.length ? xs.map(safe).join(", ") : "(none)");

function publicKeyLines(k: { type: string; bits?: number; curve?: string; spkiSha256: string }, depth: number): string[] {
  return [
    line(depth, "Public Key Algorithm:", `${k.type}${k.curve ? ` (${k.curve})` : ""}${k.bits ? ` (${k.bits} bit)` : ""}`),
    line(depth, "SPKI SHA-256:", k.spkiSha256),
  ];
}

type Of<T extends Obj["type"]> = Extract<Obj, { type: T }>;

function certificateLines(o: Of<"certificate">, n: number, s: Styles): string[] {
  return [
    s.bold(`Certificate ${n}:`),
    line(1, "Serial Number:", o.serial),
    line(1, "Signature Algorithm:", o.signatureAlgorithm),
    line(1, "Issuer:", o.issuer),
    line(1, "Validity"),
    line(2, "Not Before:", o.notBefore),
    line(2, "Not After :", o.notAfter),
    line(1, "Subject:", o.subject),
    line(1, "Subject Public Key Info:"),
    ...publicKeyLines(o.publicKey, 2),
    line(1, "X509v3 extensions:"),
    line(2, "Basic Constraints:", `CA:${o.isCa ? "TRUE" : "FALSE"}${o.pathLen !== undefined ? `, pathlen:${o.pathLen}` : ""}`),
    line(2, "Key Usage:", list(o.keyUsage)),
    line(2, "Extended Key Usage:", list(o.extKeyUsage)),
    line(2, "Subject Alternative Name:", list(o.sans)),
    ...(o.subjectKeyId ? [line(2, "Subject Key Identifier:", o.subjectKeyId)] : []),
    ...(o.authorityKeyId ? [line(2, "Authority Key Identifier:", o.authorityKeyId)] : []),
    ...(o.crlUrls.length ? [line(2, "CRL Distribution Points:", list(o.crlUrls))] : []),
    line(1, "Fingerprint:", o.fingerprint),
  ];
}

function csrLines(o: Of<"csr">, n: number, s: Styles): string[] {
  return [
    s.bold(`Certificate Request ${n}:`),
    line(1, "Subject:", o.subject),
    line(1, "Subject Public Key Info:"),
    ...publicKeyLines(o.publicKey, 2),
    line(1, "Subject Alternative Name:", list([...o.sans, ...o.unsupportedSans])),
    line(1, "Other requested extensions:", list(o.requestedExtensions)),
    line(1, "Signature:", o.signatureValid ? "valid (self-signed by its key)" : s.bad("INVALID")),
  ];
}

function crlLines(o: Of<"crl">, n: number, s: Styles): string[] {
  return [
    s.bold(`Certificate Revocation List ${n}:`),
    line(1, "Issuer:", o.issuer),
    line(1, "CRL Number:", o.number ?? "(none)"),
    line(1, "Last Update:", o.thisUpdate),
    line(1, "Next Update:", o.nextUpdate ?? "(none)"),
    line(1, "Signature Algorithm:", o.signatureAlgorithm),
    ...(o.signedBy ? [line(1, "Signed by:", `${o.signedBy} (this PKI)`)] : []),
    line(1, `Revoked Certificates (${o.entries.length}):`),
    ...o.entries.slice(0, 50).map((e) => line(2, `${safe(e.serial)}`, `${e.revokedAt} ${e.reason}`)),
    ...(o.entries.length > 50 ? [line(2, `… and ${o.entries.length - 50} more (--json lists all)`)] : []),
  ];
}

function privateKeyLines(o: Of<"private-key">, n: number, s: Styles): string[] {
  return [
    s.bold(`Private Key ${n}:`),
    line(1, "Format:", o.format),
    line(1, "Encrypted:", o.encrypted ? `yes${o.encryption ? ` (${o.encryption})` : ""}` : "no"),
    ...(o.publicKey
      ? [line(1, "Public Key:"), ...publicKeyLines(o.publicKey, 2)]
      : [line(1, "Public Key:", "(encrypted: not readable without the passphrase)")]),
  ];
}

function pkcs12Lines(o: Of<"pkcs12">, n: number, s: Styles): string[] {
  return [
    s.bold(`PKCS#12 ${n}:`),
    line(1, "Profile:", o.profile ?? "(not one of mtls's profiles)"),
    line(1, "MAC:", o.mac ? `${o.mac.algorithm}, ${o.mac.iterations} iterations${o.mac.verified ? ", verified" : ""}` : "(none)"),
    ...o.encryption.map((e) =>
      line(1, "Encryption:", `${e.name}${e.iterations ? `, ${e.iterations} iterations` : ""}${e.supported ? "" : " (legacy: OpenSSL 3 needs -legacy)"}`),
    ),
    line(1, "Friendly names:", list(o.friendlyNames)),
    line(1, "Certificates:", o.certificates),
    ...o.keys.map((k) => line(1, "Key:", k.publicKey ? `${k.publicKey.type}, SPKI ${k.publicKey.spkiSha256}` : "(encrypted)")),
    ...o.unreadable.map((u) => line(1, "Not read:", u)),
  ];
}

function bundleLines(o: Of<"bundle">, n: number, s: Styles): string[] {
  return [
    s.bold(`Delivery bundle ${n} (${o.container}${o.armored ? ", armored" : ""}, ${o.bytes} bytes):`),
    ...(o.recipients ? [line(1, "Encrypted to key ids:", list(o.recipients))] : []),
    ...(o.files ? o.files.map((f) => line(1, safe(f.name), `${f.bytes} bytes`)) : []),
    ...(o.manifest
      ? Object.entries(o.manifest)
          .filter(([k]) => k !== "files")
          .map(([k, v]) => line(1, `${safe(k)}:`, Array.isArray(v) ? list(v) : v))
      : []),
  ];
}

function renderObject(o: Obj, n: number, s: Styles): string[] {
  switch (o.type) {
    case "certificate":
      return certificateLines(o, n, s);
    case "csr":
      return csrLines(o, n, s);
    case "crl":
      return crlLines(o, n, s);
    case "private-key":
      return privateKeyLines(o, n, s);
    case "pkcs12":
      return pkcs12Lines(o, n, s);
    case "bundle":
      return bundleLines(o, n, s);
  }
}

export function renderInspect(r: InspectResult, s: Styles): string {
  const counters = new Map<string, number>();
  const blocks = r.objects.map((o) => {
    const n = (counters.get(o.type) ?? 0) + 1;
    counters.set(o.type, n);
    return renderObject(o, n, s).join("\n");
  });
  const lints = r.lints.length
    ? [s.bad(`Lints (${r.lints.length}):`), ...r.lints.map((l) => `  ${s.bad("✖")} ${l.id} [object ${l.object + 1}]: ${safe(l.message)}`)]
    : [s.ok(`Lints: none${r.pki ? ` (checked against ${safe(r.pki)})` : ""}`)];
  return [...blocks, lints.join("\n"), ...r.notes.map((n) => s.dim(`note: ${safe(n)}`))].join("\n\n");
}
