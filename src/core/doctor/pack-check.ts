// Doctor check on certificate packs (store/pack.ts, #21): a batch's certificates are flushed to
// disk once, in their pack, before the index append, and the pack is their only copy: a packed
// certificate without a per-serial file is present (reads fall back to the pack). A per-serial
// file that is a prefix of what the pack holds is what a crash left while an earlier release
// wrote the files from the pack after the commit (written again from the pack); a pack whose
// certificates no index entry names is a batch that never committed (revoked and quarantined,
// as unrecorded certificates are).
import { parseCertificate } from "../cert.js";
import { pemOrDer } from "../pem.js";
import { type PackEntry, packedSerial, packsOf } from "../store/pack.js";
import { iso } from "../time.js";
import { textOf } from "./blobs.js";
import { recordedFingerprints } from "./index-damage-check.js";
import { indexLoss, unrecordedWords } from "./index-loss.js";
import type { DoctorCheckDef, DoctorProblem } from "./types.js";

/**
 * The fingerprint of the certificate a pack entry holds (a chain file's first), when it is one
 * whose serial is the entry's name: a pack is the store's own file, but doctor restores and
 * revokes from it only what it can prove.
 */
function entryFingerprint(e: PackEntry, serial: string): string | undefined {
  if (serial.length > 40) return undefined; // RFC 5280: at most 20 octets
  try {
    const cert = parseCertificate(pemOrDer(Buffer.from(e.data), ["CERTIFICATE"], e.key), e.key);
    return cert.serial === serial ? cert.fingerprint : undefined;
  } catch {
    return undefined;
  }
}

/** Where --fix puts an unrecorded certificate (as orphansCheck does). */
const orphanKey = (name: string) => `certs/orphans/${name}`;

export const packsCheck: DoctorCheckDef = {
  name: "packs",
  async find(ctx) {
    if (!ctx.index) return []; // without a readable index every certificate would look unrecorded
    const packs = await packsOf(ctx.store);
    if (!packs.length) return [];
    const indexed = recordedFingerprints(ctx);
    const revoked = new Set(ctx.journal.entries.map((e) => e.serial));
    // The files themselves: a read of an absent one falls back to its pack.
    const present = new Set([...(await ctx.store.list("certs/")).filter((k) => !k.startsWith("certs/packs/"))]);
    const loss = await indexLoss(ctx);
    const out: DoctorProblem[] = [];
    for (const pack of packs) {
      const recorded = pack.entries.some((e) => indexed.has(packedSerial(e.key) as string));
      for (const e of pack.entries) {
        const serial = packedSerial(e.key) as string;
        if (indexed.has(serial)) {
          // Absent: the pack holds it. A prefix of what the pack holds: a write a crash cut
          // short. Anything else (and an entry that is not the certificate the index names) is
          // left to the certificates and material checks.
          if (!present.has(e.key) || entryFingerprint(e, serial) !== indexed.get(serial)) continue;
          const have = (await textOf(ctx.store, e.key)) ?? "";
          if (have !== e.data && e.data.startsWith(have))
            out.push({
              check: "packs",
              message: `${e.key} is cut short; ${pack.key} holds it`,
              hint: "--fix writes it again from the pack",
              fixable: true,
              path: ctx.store.where(e.key),
              key: e.key,
              data: e.data,
            });
          continue;
        }
        if (e.key.endsWith(".chain.pem")) continue;
        const fingerprint = entryFingerprint(e, serial);
        if (fingerprint === undefined) {
          out.push({
            check: "packs",
            message: `${pack.key} holds ${e.key}, which is not a certificate with that serial`,
            hint: "restore the store from your backup if this pack is not one mtls wrote",
            fixable: false,
            path: ctx.store.where(pack.key),
            key: pack.key,
          });
          continue;
        }
        const quarantined = orphanKey(e.key.slice("certs/".length));
        if (revoked.has(serial) && present.has(quarantined)) continue;
        out.push({
          check: "packs",
          ...unrecordedWords(ctx, serial, pack.key, loss, "--fix revokes it and copies it to certs/orphans/"),
          serial,
          path: ctx.store.where(quarantined),
          key: quarantined,
          data: e.data,
        });
      }
      if (!recorded && (!loss || ctx.revokeUnrecorded))
        out.push({
          check: "packs",
          message: `${pack.key} holds only certificates that were never recorded`,
          hint: "--fix moves it to certs/orphans/",
          fixable: true,
          path: ctx.store.where(pack.key),
          key: pack.key,
        });
    }
    return out;
  },
  fix(ctx, tx) {
    const revoked = new Set([...ctx.journal.entries, ...tx.revoking].map((e) => e.serial));
    for (const p of ctx.problems) {
      if (!p.key || !p.fixable) continue;
      if (p.data === undefined) {
        tx.move(p.key, orphanKey(p.key.slice("certs/packs/".length)));
        continue;
      }
      tx.put(p.key, p.data);
      if (p.serial && !revoked.has(p.serial)) {
        revoked.add(p.serial);
        tx.revoke({ serial: p.serial, issuer: ctx.ca.issuerRole, revokedAt: iso(ctx.now), reason: "cessationOfOperation", partnerId: "(unrecorded)" });
      }
    }
  },
};
