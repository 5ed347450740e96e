// Where each CA key lives and whether its token answers: what `ca show`, `doctor` and `status`
// report. Needs no PIN: the token's presence and the key's public half are checked, not a login.
import { type CaCerts, tokenUriOf } from "../ca/material.js";
import type { CaId } from "../ca/registry.js";
import { MtlsError } from "../errors.js";
import { keyTypeOf } from "../keys.js";
import { storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";
import { describeToken, parsePkcs11Uri } from "./pkcs11-uri.js";

export interface CaKeyPlace {
  /** The CA's id ("root", "intermediate-2" …). */
  role: CaId;
  /** Retired by a root rollover: it signs nothing, so an unreachable token is no problem of the store's. */
  retired?: true;
  keyStore: "file" | "pkcs11";
  /** The key file, for a file key. */
  keyPath?: string;
  /** The key's URI and its token, for a token key. */
  keyUri?: string;
  token?: string;
  /** For a token key: present (public half found and matching), or the problem. */
  reachable?: boolean;
  problem?: { code: string; message: string; hint: string };
}

/** Every CA key's place; token keys are checked (one module load per module, no login). */
export async function locateCaKeys(store: Pick<StoreReader, "where">, ca: CaCerts): Promise<CaKeyPlace[]> {
  const places: CaKeyPlace[] = [];
  let sessions: import("./pkcs11.js").TokenSessions | undefined;
  try {
    for (const { id: role, cert, retiredAt } of ca.all) {
      const text = tokenUriOf(ca.keyStore, role);
      const retired = retiredAt ? { retired: true as const } : {};
      if (text === undefined) {
        places.push({ role, ...retired, keyStore: "file", keyPath: store.where(storeKeys.caKey(role)) });
        continue;
      }
      const uri = parsePkcs11Uri(text, `config.json ca.keyStore.${role}`);
      const place: CaKeyPlace = { role, ...retired, keyStore: "pkcs11", keyUri: text, token: describeToken(uri) };
      try {
        sessions ??= await (await import("./pkcs11.js")).TokenSessions.open();
        const state = sessions.checkPublic(uri, keyTypeOf(cert.spki), cert.spki);
        place.reachable = state === "match";
        if (state !== "match")
          place.problem = {
            code: state === "missing" ? "ERR_PKCS11_KEY_MISSING" : "ERR_CA_KEY_MISMATCH",
            message: `the ${role} CA key's public half is ${state === "missing" ? "not in" : "different in"} ${place.token}`,
            hint: "check the key store URI in config.json against `pkcs11-tool --list-objects`; restore the token from its backup",
          };
      } catch (err) {
        if (!(err instanceof MtlsError)) throw err;
        place.reachable = false;
        place.problem = { code: err.code, message: err.message, hint: err.hint ?? "" };
      }
      places.push(place);
    }
  } finally {
    sessions?.close();
  }
  return places;
}
