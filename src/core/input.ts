// Bounded reading of everything a user or partner hands us. A size check after readFile comes
// too late: `--csr /dev/zero` reports size 0 and readFile then grows without end (#13). So each
// input is read in chunks and refused the moment it passes its limit; memory stays below the
// limit plus one chunk whatever the file (a device, a FIFO, standard input) turns out to be.
import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { fsError, inputError, MtlsError } from "./errors.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** The documented input limits (README "Input limits"). Past one of them: exit 3. */
export const INPUT_LIMITS = {
  /** A CSR, PEM or DER: real ones are 1-4 KiB. */
  csr: 64 * KiB,
  /** A private key file (PEM). */
  key: 256 * KiB,
  /** Certificates (PEM): a chain, or a CA bundle like the system's (about 220 KiB). */
  certificates: 1 * MiB,
  /** An OpenPGP key file: keys with many signatures run to tens of KiB. */
  pgpKey: 1 * MiB,
  /** A passphrase file (only its first line is used). */
  passphraseFile: 4 * KiB,
  /** A batch file: about 200 bytes a line, so room for 300,000 lines. */
  batchFile: 64 * MiB,
  /** A delivery bundle for `bundle open`: a few KiB in practice. */
  bundle: 64 * MiB,
} as const;

const CHUNK = 64 * KiB;

const tooLarge = (what: string, maxBytes: number) =>
  inputError("ERR_INPUT_TOO_LARGE", `${what} is larger than ${maxBytes} bytes, the limit for it`, "check that you passed the right file");

/** Bytes already read (a blob of the store) held to the same limit as a file read here. */
export function checkSize(bytes: Uint8Array, maxBytes: number, what: string): void {
  if (bytes.length > maxBytes) throw tooLarge(`${what} (${bytes.length} bytes)`, maxBytes);
}

export interface ReadBoundedOptions {
  /** Refuse a symbolic link instead of following it (files inside the store). */
  noFollow?: boolean;
}

/**
 * Reads a file of at most `maxBytes`, in chunks; exit 3 past the limit, without reading on.
 * Synchronous underneath (#21): a command reads its inputs one after another, and each
 * fs/promises call is a round trip through the thread pool (~0.1 ms of CPU against a few µs).
 */
export async function readFileBounded(path: string, maxBytes: number, what: string, opts: ReadBoundedOptions = {}): Promise<Buffer> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (opts.noFollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    throw fsError(err, path, "read");
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile() && st.size > maxBytes) throw tooLarge(`${what} (${st.size} bytes)`, maxBytes);
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - size));
      const bytesRead = readSync(fd, buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      size += bytesRead;
      if (size > maxBytes) throw tooLarge(what, maxBytes);
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, size);
  } catch (err) {
    if (err instanceof MtlsError) throw err;
    throw fsError(err, path, "read");
  } finally {
    try {
      closeSync(fd);
    } catch {}
  }
}

/** Reads a stream (standard input) of at most `maxBytes`; stops reading at the limit. */
export async function readStreamBounded(stream: AsyncIterable<unknown> & { destroy?: () => void }, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    const b = Buffer.isBuffer(c) ? c : Buffer.from(String(c));
    size += b.length;
    if (size > maxBytes) {
      stream.destroy?.();
      throw tooLarge(what, maxBytes);
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/**
 * The passphrase in a passphrase file: the bytes of its first line, up to LF, exactly as OpenSSL's
 * `-passin file:` reads them. They must be valid UTF-8: decoding replaces each bad byte by
 * U+FFFD, so two different files would unlock the same key and OpenSSL, which uses the raw
 * bytes, could not open it (#13). Keys are derived from the UTF-8 encoding of the result, which
 * is then the file's own bytes. A CR before the LF is refused rather than dropped: OpenSSL would
 * keep it, and the same file must give the same passphrase to both.
 */
export function passphraseFromFile(bytes: Uint8Array, what: string, opts: { allowEmpty?: boolean } = {}): string {
  let end = bytes.indexOf(0x0a);
  if (end < 0) end = bytes.length;
  const line = bytes.subarray(0, end);
  if (line.length === 0 && opts.allowEmpty) return "";
  if (line.length === 0) throw inputError("ERR_PASSPHRASE_FILE", `passphrase file ${what} is empty`, "write the passphrase on its first line");
  if (line[line.length - 1] === 0x0d)
    throw inputError(
      "ERR_PASSPHRASE_FILE",
      `passphrase file ${what} ends its first line with CR (a Windows line ending), which OpenSSL would read as part of the passphrase`,
      "save the file with LF line endings (the passphrase stays the same)",
    );
  try {
    // Made here, not at load: the TextDecoder global loads Node's encoding module, which few runs need.
    return new TextDecoder("utf-8", { fatal: true }).decode(line);
  } catch {
    throw inputError(
      "ERR_PASSPHRASE_ENCODING",
      `passphrase file ${what} is not valid UTF-8`,
      "write the passphrase as UTF-8 text (mtls would otherwise change the bytes it derives the key from)",
    );
  }
}

/** A passphrase from the environment: Node already replaced invalid UTF-8 there by U+FFFD. */
export function checkPassphraseText(value: string, what: string): string {
  if (value.includes("\uFFFD"))
    throw inputError("ERR_PASSPHRASE_ENCODING", `${what} is not valid UTF-8 (or holds U+FFFD)`, "use a passphrase that is valid UTF-8 text");
  return value;
}
