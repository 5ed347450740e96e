// Doctor's OpenPGP check: every key file holds the key the store pins for it. Bundles refuse a
// mismatch when they are made (#13); this finds it before anyone tries.
import { relative } from "node:path";
import { inspectPinnedKey } from "../bundle/partner-key.js";
import { readKeyFingerprint } from "../bundle/pgp.js";
import { INPUT_LIMITS, readFileBounded } from "../input.js";
import { readPartners } from "../store/partners.js";
import { directoryReader } from "../store/read.js";
import type { Store } from "../store/store.js";
import type { DoctorCheckDef, DoctorProblem } from "./types.js";

type PgpProblem = DoctorProblem & { check: "pgp"; fixable: false };

const problem = (message: string, hint: string): PgpProblem => ({ check: "pgp", message, hint, fixable: false });

/** Reported only: which key is the right one is for a person to establish with the partner. */
export const pgpCheck: DoctorCheckDef = { name: "pgp", find: (ctx) => pgpProblems(ctx) };

/** Partner key files against partners.json, and the home party's public key against config.json. */
export async function pgpProblems(store: Store): Promise<PgpProblem[]> {
  const { layout, config } = store;
  const out: PgpProblem[] = [];
  const reg = await readPartners(layout.partners).catch(() => undefined);
  for (const partner of Object.values(reg?.partners ?? {})) {
    if (!partner.pgp) continue;
    const s = await inspectPinnedKey(directoryReader(layout.root), partner);
    if (s.ok) continue;
    const file = relative(layout.root, s.path);
    out.push(
      s.problem === "mismatch"
        ? problem(
            `${file} holds OpenPGP key ${s.found}, but partners.json pins ${s.pinned} for ${partner.id}: bundles for ${partner.id} are refused`,
            `restore ${file} from your backup, or re-register after comparing fingerprints with the partner: mtls partner add ${partner.id} --pgp-key <file.asc>`,
          )
        : problem(`${file}, the OpenPGP key pinned for ${partner.id} (${s.pinned}), is ${s.problem}`, `restore ${file} from your backup`),
    );
  }
  const pinned = config.delivery?.signingKeyFingerprint;
  if (pinned) {
    const file = relative(layout.root, layout.homePublicKey);
    const found = await readFileBounded(layout.homePublicKey, INPUT_LIMITS.pgpKey, file, { noFollow: true })
      .then(readKeyFingerprint)
      .catch(() => undefined);
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
