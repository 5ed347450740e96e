import { randomBytes } from "node:crypto";
import { inputError } from "./errors.js";

/**
 * Partner ids name files and directories, so they are restricted to a safe alphabet:
 * lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64.
 */
const PARTNER_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function validatePartnerId(id: string, what: "partner id" | "server name" = "partner id"): string {
  if (PARTNER_ID.test(id) && !id.includes("..")) return id;
  const shown = JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id);
  throw inputError(
    "ERR_PARTNER_ID",
    `invalid ${what} ${shown}`,
    `use 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. ${what === "server name" ? "gw" : "acme-payments"})`,
  );
}

/**
 * A certificate serial: 16 random bytes (~127 bits of entropy, far beyond RFC 5280's and CA/B
 * BR 7.1's 64), positive, and with a first byte in 0x10-0x7f so the hex form never starts with
 * a zero: the string we report is exactly the one read back from the certificate.
 */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = 0x10 + ((b[0] as number) % 0x70);
  return b.toString("hex");
}

/** Normalises user input for a serial: hex, optional colons/0x, any case. */
export function parseSerial(text: string): string {
  const s = text.trim().toLowerCase().replace(/^0x/, "").replace(/:/g, "");
  if (!/^[0-9a-f]{1,40}$/.test(s)) throw inputError("ERR_SERIAL", `invalid serial "${text}": expected hexadecimal`, "copy it from `mtls list`");
  return s.replace(/^0+(?=.)/, "");
}
