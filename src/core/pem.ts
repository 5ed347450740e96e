import { readTlv } from "./der.js";
import { inputError } from "./errors.js";

/** PEM with a trailing newline, so concatenated bundles stay readable by OpenSSL. */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  label: string;
  der: Buffer;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;

/** Every PEM block in a text, in order. Text outside blocks (openssl's -text output) is ignored. */
export function decodePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = (m[2] ?? "").replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) continue;
    blocks.push({ label: m[1] ?? "", der: Buffer.from(body, "base64") });
  }
  return blocks;
}

/**
 * The outer SEQUENCE of bytes that begin as DER does. A DER structure may carry PEM text inside
 * (a CSR attribute) or after it: such bytes are DER, read as openssl reads them, never as the
 * PEM they hide, which would sign a request other than the one a reviewer looked at.
 */
function derStart(bytes: Uint8Array): { end: number } | undefined {
  if (bytes[0] !== 0x30) return undefined;
  try {
    return readTlv(bytes, 0);
  } catch {
    return undefined;
  }
}

/** PEM unless the bytes begin as DER: a "-----BEGIN " anywhere (text before it is allowed: openssl's -text output of an RSA-4096 certificate runs past 5 KiB). */
export const looksLikePem = (bytes: Uint8Array): boolean =>
  derStart(bytes) === undefined && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes("-----BEGIN ");

/**
 * DER from bytes that are either one DER structure or PEM with exactly one block of the accepted
 * labels. `what` names the input in error messages ("CSR bad.csr").
 */
export function pemOrDer(bytes: Uint8Array, labels: string[], what: string): Buffer {
  const der = derStart(bytes);
  if (der && der.end !== bytes.length)
    throw inputError(
      "ERR_DER_TRAILING",
      `${what} has ${bytes.length - der.end} bytes after its DER structure`,
      "give the DER structure alone, or one PEM block",
    );
  if (!looksLikePem(bytes)) return Buffer.from(bytes);
  const blocks = decodePemBlocks(Buffer.from(bytes).toString("latin1"));
  const wanted = blocks.filter((b) => labels.includes(b.label));
  if (wanted.length === 0) {
    const found = blocks.map((b) => b.label).join(", ") || "no complete PEM block";
    throw inputError("ERR_PEM_LABEL", `${what} is not a ${labels[0]} (found: ${found})`);
  }
  if (wanted.length > 1) throw inputError("ERR_PEM_LABEL", `${what} holds ${wanted.length} ${labels[0]} blocks where one is read`, "give a file with one");
  return (wanted[0] as PemBlock).der;
}
