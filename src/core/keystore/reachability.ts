// Where each CA key lives and whether its token answers: what `ca show`, `doctor` and `status`
// report. Needs no PIN: the token's presence and the key's public half are checked, not a login.
import type { CaCerts } from "../ca/material.js";
import { MtlsError } from "../errors.js";
import { keyTypeOf } from "../keys.js";
import { storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";
import type { CaRole } from "./key-store.js";
import { describeToken, parsePkcs11Uri } from "./pkcs11-uri.js";

export interface CaKeyPlace {
  role: CaRole;
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
  // The first two CAs by id: after a rollover (#18) "root" and "intermediate" are still those,
  // whichever CA issues now; CAs a rollover adds keep file keys.
  const roles = (["root", "intermediate"] as const).flatMap((id): Array<[CaRole, CaCerts["root"]]> => {
    const e = ca.all.find((c) => c.id === id);
    return e ? [[id, e.cert]] : [];
  });
  const places: CaKeyPlace[] = [];
  let sessions: import("./pkcs11.js").TokenSessions | undefined;
  try {
    for (const [role, cert] of roles) {
      const text = ca.keyStore?.[role];
      if (text === undefined) {
        places.push({ role, keyStore: "file", keyPath: store.where(storeKeys.caKey(role)) });
        continue;
      }
      const uri = parsePkcs11Uri(text, `config.json ca.keyStore.${role}`);
      const place: CaKeyPlace = { role, keyStore: "pkcs11", keyUri: text, token: describeToken(uri) };
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
