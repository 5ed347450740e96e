// Doctor check on certificate packs (store/pack.ts, #21): a batch's certificates are flushed to
// disk once, in their pack, before the index append; their per-serial files are written after
// it without a flush of their own. So after a crash a recorded certificate's file may be missing
// or cut short (written again from the pack), and a pack whose certificates no index entry names
// is a batch that never committed (revoked and quarantined, as unrecorded certificates are).
import { basename, join, relative } from "node:path";
import { PACK_DIR, packedSerial, packFiles } from "../store/pack.js";
import { iso } from "../time.js";
import { orphanDir } from "./file-checks.js";
import type { DoctorCheckDef, DoctorProblem } from "./types.js";

export const packsCheck: DoctorCheckDef = {
  name: "packs",
  async find(ctx) {
    if (!ctx.index) return []; // without a readable index every certificate would look unrecorded
    const packDir = join(ctx.layout.root, PACK_DIR);
    if (!ctx.files.some((f) => f.startsWith(`${packDir}/`))) return [];
    const indexed = new Set(ctx.index.records.map((r) => r.serial));
    const revoked = new Set(ctx.journal.entries.map((e) => e.serial));
    const out: DoctorProblem[] = [];
    for (const pack of await packFiles(ctx.layout.root)) {
      const packName = relative(ctx.layout.root, pack.file);
      const recorded = pack.entries.some((e) => indexed.has(packedSerial(e.key) as string));
      for (const e of pack.entries) {
        const serial = packedSerial(e.key) as string;
        if (indexed.has(serial)) {
          // Missing, or a prefix of what the pack holds: a write a crash cut short. Anything
          // else is left to the certificates and material checks.
          const { path, have } = e;
          if (have === undefined || (have !== e.data && e.data.startsWith(have)))
            out.push({
              check: "packs",
              message: `${e.key} is ${have === undefined ? "missing" : "cut short"}; ${packName} holds it`,
              hint: "--fix writes it again from the pack",
              fixable: true,
              path,
              data: e.data,
            });
          continue;
        }
        if (e.key.endsWith(".chain.pem")) continue;
        const quarantined = join(orphanDir(ctx), basename(e.key));
        if (revoked.has(serial) && e.quarantined) continue;
        out.push({
          check: "packs",
          message: `certificate ${serial} (${packName}) was signed but never recorded (a crash before the index append)`,
          hint: "--fix revokes it and copies it to certs/orphans/",
          fixable: true,
          serial,
          path: quarantined,
          data: e.data,
        });
      }
      if (!recorded)
        out.push({
          check: "packs",
          message: `${packName} holds only certificates that were never recorded`,
          hint: "--fix moves it to certs/orphans/",
          fixable: true,
          path: pack.file,
        });
    }
    return out;
  },
  fix(ctx, tx) {
    const revoked = new Set([...ctx.journal.entries, ...tx.revoking].map((e) => e.serial));
    for (const p of ctx.problems) {
      if (!p.path) continue;
      if (p.data === undefined) {
        tx.move(p.path, join(orphanDir(ctx), basename(p.path)));
        continue;
      }
      tx.put(p.path, p.data);
      if (p.serial && !revoked.has(p.serial)) {
        revoked.add(p.serial);
        tx.revoke({ serial: p.serial, issuer: ctx.ca.issuerRole, revokedAt: iso(ctx.now), reason: "cessationOfOperation", partnerId: "(unrecorded)" });
      }
    }
  },
};
