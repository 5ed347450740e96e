// Doctor checks on the files themselves: leftovers of interrupted writes, torn journal lines,
// damaged records, file modes.
import { lstat, readFile } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { parseTempName } from "../store/fs.js";
import { isAlive } from "../store/lock.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem } from "./types.js";

/**
 * A hidden file named like a temporary but not in the exact shape mtls writes: reported, never
 * removed. (Only hidden ones: `pgp/partners/acme.bak-2.asc` is a partner's key.)
 */
const LOOKS_TEMPORARY = /\.(tmp|bak|stale|open|init)-\d+/;
/** The lock's private record file, before it is linked into place (see store/lock.ts). */
const LOCK_TEMP = /^\.lock\.[0-9a-f]{16}$/;

const rel = (ctx: DoctorContext, p: string) => relative(ctx.layout.root, p);

/** A temporary mtls wrote whose writer is gone: the only kind of file doctor ever removes. */
async function isOurTemp(ctx: DoctorContext, path: string): Promise<boolean> {
  const name = basename(path);
  const t = parseTempName(name);
  if (t) return t.pid !== process.pid && !isAlive(t.pid);
  if (dirname(path) !== ctx.layout.root || !LOCK_TEMP.test(name)) return false;
  const pid = (JSON.parse(await readFile(path, "utf8").catch(() => "{}")) as { pid?: unknown }).pid;
  return typeof pid !== "number" || !isAlive(pid);
}

export const leftoversCheck: DoctorCheckDef = {
  name: "leftovers",
  async find(ctx) {
    const out: DoctorProblem[] = [];
    for (const f of ctx.files) {
      const st = await lstat(f).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (await isOurTemp(ctx, f)) {
        out.push({ check: "leftovers", message: `${rel(ctx, f)} is left over from an interrupted write`, hint: "--fix deletes it", fixable: true, path: f });
      } else if (basename(f).startsWith(".") && LOOKS_TEMPORARY.test(basename(f)) && !parseTempName(basename(f))) {
        out.push({
          check: "leftovers",
          message: `${rel(ctx, f)} looks like a temporary file, but not one mtls wrote`,
          hint: "mtls leaves it alone: look at it, and remove it yourself if it is yours",
          fixable: false,
          path: f,
        });
      }
    }
    return out;
  },
  fix(ctx, tx) {
    for (const p of ctx.problems) if (p.path) tx.remove(p.path);
  },
};

async function tornAt(path: string): Promise<number | undefined> {
  const buf = await readFile(path).catch(() => undefined);
  if (!buf || buf.length === 0 || buf[buf.length - 1] === 0x0a) return undefined;
  return buf.lastIndexOf(0x0a) + 1;
}

export const journalCheck: DoctorCheckDef = {
  name: "journal",
  async find(ctx) {
    const out: DoctorProblem[] = [];
    for (const j of [ctx.layout.index, ctx.layout.revocations, ctx.layout.audit]) {
      const at = await tornAt(j);
      if (at !== undefined)
        out.push({
          check: "journal",
          message: `${rel(ctx, j)} ends with a partial line (an append cut short by a crash)`,
          hint: "--fix trims it; the next write would too",
          fixable: true,
          path: j,
          line: at,
        });
    }
    return out;
  },
  fix(ctx, tx) {
    for (const p of ctx.problems) if (p.path && p.line !== undefined) tx.truncate(p.path, p.line);
  },
};

/** Store files whose records are not what mtls writes. */
export const recordsCheck: DoctorCheckDef = {
  name: "records",
  find(ctx) {
    const out: DoctorProblem[] = [];
    const restore = "restore it from your backup; mtls does not guess at damaged records";
    if (ctx.indexError) out.push({ check: "records", message: ctx.indexError.message, hint: restore, fixable: false, path: ctx.layout.index });
    if (ctx.partnersError) out.push({ check: "records", message: ctx.partnersError.message, hint: restore, fixable: false, path: ctx.layout.partners });
    for (const b of ctx.journal.bad)
      out.push({
        check: "records",
        message: `${ctx.layout.revocations} line ${b.line} is damaged: ${b.why}`,
        hint: "--fix moves the line to a quarantine file and puts back every revocation a CRL or the audit log shows",
        fixable: true,
        path: ctx.layout.revocations,
        line: b.line,
      });
    if (ctx.crlState.damaged)
      out.push({
        check: "records",
        message: `${ctx.layout.crlState} is damaged: ${ctx.crlState.damaged}`,
        hint: "--fix republishes the CRLs, numbered after the highest one published",
        fixable: true,
        path: ctx.layout.crlState,
      });
    else
      for (const [role, n] of Object.entries(ctx.history.numbers)) {
        const published = n ?? 0;
        if ((ctx.crlState.state[role]?.number ?? 0) < published)
          out.push({
            check: "records",
            message: `${ctx.layout.crlState} says the last ${role} CRL is #${ctx.crlState.state[role]?.number ?? "none"}, but #${published} was published (a crash before it was updated)`,
            hint: "--fix republishes the CRLs, numbered after the highest one published",
            fixable: true,
            path: ctx.layout.crlState,
          });
      }
    return out;
  },
  fix(ctx, tx) {
    if (ctx.problems.some((p) => p.path === ctx.layout.revocations))
      tx.quarantineJournal(ctx.journal.bad.map((b) => `${b.text}\n`).join(""), ctx.journal.entries);
    tx.republish();
  },
};

/** Which bits a store file must not have: private/ is the owner's alone; nothing is writable by others. */
function forbiddenBits(ctx: DoctorContext, path: string, isDir: boolean): { bits: number; want: string } {
  const inPrivate = path === ctx.layout.privateDir || path.startsWith(`${ctx.layout.privateDir}/`);
  if (inPrivate) return { bits: 0o077, want: isDir ? "0700" : "0600" };
  return { bits: 0o022, want: "no write access for group or others" };
}

export const modesCheck: DoctorCheckDef = {
  name: "modes",
  async find(ctx) {
    const out: DoctorProblem[] = [];
    const dirs = new Set<string>([ctx.layout.root]);
    for (const f of ctx.files) for (let d = dirname(f); d.startsWith(ctx.layout.root) && d !== ctx.layout.root; d = dirname(d)) dirs.add(d);
    for (const path of [...dirs, ...ctx.files]) {
      const st = await lstat(path).catch(() => undefined);
      if (!st || st.isSymbolicLink()) continue;
      const mode = st.mode & 0o777;
      const { bits, want } = forbiddenBits(ctx, path, st.isDirectory());
      if ((mode & bits) === 0) continue;
      const who = bits === 0o077 ? "other users can read it" : "other users can change it";
      out.push({
        check: "modes",
        message: `${rel(ctx, path) || "the PKI directory"} is mode ${mode.toString(8)}: ${who}`,
        hint: `--fix sets ${want}`,
        fixable: true,
        path,
        mode,
        wantMode: mode & ~bits,
      });
    }
    return out;
  },
  fix(ctx, tx) {
    for (const p of ctx.problems) if (p.path && p.wantMode !== undefined) tx.chmod(p.path, p.wantMode);
  },
};

export const orphanDir = (ctx: DoctorContext) => join(ctx.layout.certsDir, "orphans");
