// Doctor's OpenPGP check: every key file holds the key the store pins for it. Bundles refuse a
// mismatch when they are made (#13); this finds it before anyone tries.
import { readKeyFingerprint } from "../bundle/pgp.js";
import { INPUT_LIMITS } from "../input.js";
import { storeKeys } from "../store/keys.js";
import type { PartnerRecord } from "../store/partners.js";
import { bytesOf } from "./blobs.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem } from "./types.js";

type PgpProblem = DoctorProblem & { check: "pgp"; fixable: false };

const problem = (message: string, hint: string): PgpProblem => ({ check: "pgp", message, hint, fixable: false });

const normalize = (fp: string) => fp.replace(/\s+/g, "").toUpperCase();

/** Reported only: which key is the right one is for a person to establish with the partner. */
export const pgpCheck: DoctorCheckDef = { name: "pgp", find: (ctx) => pgpProblems(ctx) };

/** The fingerprint of the OpenPGP key under `key`: undefined when missing, "unreadable" when it holds no key. */
async function fingerprintAt(ctx: DoctorContext, key: string): Promise<string | undefined> {
  const bytes = await bytesOf(ctx.store, key).catch(() => Buffer.alloc(0));
  if (!bytes) return undefined;
  if (bytes.length === 0 || bytes.length > INPUT_LIMITS.pgpKey) return "unreadable";
  return readKeyFingerprint(bytes).catch(() => "unreadable");
}

function partnerProblem(partner: PartnerRecord, found: string | undefined): PgpProblem | undefined {
  const pinned = normalize(partner.pgp?.fingerprint ?? "");
  if (found === pinned) return undefined;
  const file = storeKeys.partnerKey(partner.id);
  if (found === undefined || found === "unreadable")
    return problem(`${file}, the OpenPGP key pinned for ${partner.id} (${pinned}), is ${found ? "unreadable" : "missing"}`, `restore ${file} from your backup`);
  return problem(
    `${file} holds OpenPGP key ${found}, but partners.json pins ${pinned} for ${partner.id}: bundles for ${partner.id} are refused`,
    `restore ${file} from your backup, or re-register after comparing fingerprints with the partner: mtls partner add ${partner.id} --pgp-key <file.asc>`,
  );
}

/** Partner key files against partners.json, and the home party's public key against config.json. */
export async function pgpProblems(ctx: DoctorContext): Promise<PgpProblem[]> {
  const out: PgpProblem[] = [];
  for (const partner of Object.values(ctx.partners?.partners ?? {})) {
    if (!partner.pgp) continue;
    const p = partnerProblem(partner, await fingerprintAt(ctx, storeKeys.partnerKey(partner.id)));
    if (p) out.push(p);
  }
  const pinned = ctx.config.delivery?.signingKeyFingerprint;
  if (pinned) {
    const file = storeKeys.homePublicKey;
    const at = await fingerprintAt(ctx, file);
    const found = at === "unreadable" ? undefined : at;
    if (found !== pinned.toUpperCase())
      out.push(
        problem(
          `${file} ${found ? `holds OpenPGP key ${found}` : "is missing or unreadable"}, but config.json names ${pinned} as the home party's signing key`,
          `restore ${file} from your backup: partners verify bundles against the key they were given`,
        ),
      );
  }
  return out;
}
