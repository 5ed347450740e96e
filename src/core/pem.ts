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

export const looksLikePem = (bytes: Uint8Array): boolean => Buffer.from(bytes.subarray(0, 4096)).toString("latin1").includes("-----BEGIN ");

/**
 * DER from bytes that are either DER or PEM with one of the accepted labels.
 * `what` names the input in error messages ("CSR bad.csr").
 */
export function pemOrDer(bytes: Uint8Array, labels: string[], what: string): Buffer {
  if (!looksLikePem(bytes)) return Buffer.from(bytes);
  const blocks = decodePemBlocks(Buffer.from(bytes).toString("latin1"));
  const block = blocks.find((b) => labels.includes(b.label));
  if (!block) {
    const found = blocks.map((b) => b.label).join(", ") || "no complete PEM block";
    throw inputError("ERR_PEM_LABEL", `${what} is not a ${labels[0]} (found: ${found})`);
  }
  return block.der;
}
