// The partner's OpenPGP key as pinned at registration. `partners.json` records the fingerprint
// the operator compared with the partner out of band; the key file next to it is only a copy.
// Encrypting to whatever file is on disk let a swapped `pgp/partners/acme.asc` receive acme's
// private key (#13), so the file must hold exactly the pinned key, or nothing is encrypted.
import { inputError } from "../errors.js";
import { checkSize, INPUT_LIMITS } from "../input.js";
import { mustGet } from "../store/blobs.js";
import { storeKeys } from "../store/keys.js";
import type { PartnerRecord } from "../store/partners.js";
import type { StoreReader } from "../store/storage.js";
import { checkRecipientKey, readKeyFingerprint } from "./pgp.js";

export type PinnedKeyState =
  | { ok: true; fingerprint: string }
  | { ok: false; problem: "missing" | "unreadable" | "mismatch"; path: string; pinned: string; found?: string };

const normalize = (fp: string) => fp.replace(/\s+/g, "").toUpperCase();

/** The key file as stored (a directory store follows no link planted in its place). */
async function readKeyFile(store: StoreReader, id: string): Promise<Buffer> {
  const bytes = Buffer.from(await mustGet(store, storeKeys.partnerKey(id)));
  checkSize(bytes, INPUT_LIMITS.pgpKey, `the OpenPGP key file of ${id}`);
  return bytes;
}

/** What the key file of a registered partner holds, compared with its pinned fingerprint (for doctor). */
export async function inspectPinnedKey(store: StoreReader, partner: PartnerRecord): Promise<PinnedKeyState> {
  const pinned = normalize(partner.pgp?.fingerprint ?? "");
  const path = store.where(storeKeys.partnerKey(partner.id));
  let bytes: Buffer;
  try {
    bytes = await readKeyFile(store, partner.id);
  } catch (err) {
    return { ok: false, problem: (err as { code?: string }).code === "ERR_NOT_FOUND" ? "missing" : "unreadable", path, pinned };
  }
  const found = await readKeyFingerprint(bytes).catch(() => undefined);
  if (found === undefined) return { ok: false, problem: "unreadable", path, pinned };
  return found === pinned ? { ok: true, fingerprint: found } : { ok: false, problem: "mismatch", path, pinned, found };
}

/** The armored key to encrypt to: the pinned one, still usable, or exit 3 naming both fingerprints. */
export async function readPinnedPartnerKey(store: StoreReader, partner: PartnerRecord, now: Date): Promise<string> {
  const file = storeKeys.partnerKey(partner.id);
  const pinned = normalize(partner.pgp?.fingerprint ?? "");
  const hint = `restore ${file} from your backup, or re-register the partner's key (mtls partner add ${partner.id} --pgp-key <file.asc>) after comparing its fingerprint with the partner`;
  const bytes = await readKeyFile(store, partner.id);
  const found = await readKeyFingerprint(bytes).catch((err) =>
    Promise.reject(inputError("ERR_PGP_KEY", `${file}, the OpenPGP key of ${partner.id}, is not readable`, hint, err)),
  );
  if (found !== pinned)
    throw inputError(
      "ERR_PGP_KEY_MISMATCH",
      `${file} holds OpenPGP key ${found}, but partners.json pins ${pinned} for ${partner.id}: nothing was encrypted`,
      hint,
    );
  return (await checkRecipientKey(bytes, `the OpenPGP key of ${partner.id} (${file})`, now)).armored;
}

/** A key registered in the same commit (onboarding): it must be the one the new record pins. */
export async function checkStagedPartnerKey(armored: string, partner: PartnerRecord): Promise<string> {
  const pinned = normalize(partner.pgp?.fingerprint ?? "");
  const found = await readKeyFingerprint(armored);
  if (found !== pinned)
    throw inputError("ERR_PGP_KEY_MISMATCH", `the OpenPGP key being registered is ${found}, but the record pins ${pinned} for ${partner.id}`);
  return armored;
}
