// The directory storage's check of itself (see health.ts): leftovers of interrupted writes, torn
// journal lines, file modes, a stale lock, and the index summary cache. Every path here is the
// storage's own; doctor sees only the structured problems and hands the fixable ones back.
import { chmod, lstat, readdir, readFile, truncate, unlink } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import { intentFiles, type PendingCommit } from "./commit-intent.js";
import type { DirectoryStorage } from "./directory.js";
import { parseTempName, writeFileAtomic } from "./fs.js";
import type { StorageHealth, StorageProblem } from "./health.js";
import type { CertRecord } from "./index-file.js";
import { checkSummary, NOT_A_FILE, rebuildSummary, summaryPath } from "./index-summary.js";
import type { Layout } from "./layout.js";
import { describeHolder, isAlive, lockState } from "./lock.js";
import { quarantineName } from "./records.js";
import { indexDamageAt } from "./summary-damage.js";

/**
 * A hidden file named like a temporary but not in the exact shape mtls writes: reported, never
 * removed. (Only hidden ones: `pgp/partners/acme.bak-2.asc` is a partner's key.)
 */
const LOOKS_TEMPORARY = /\.(tmp|bak|stale|open|init)-\d+/;
/** A lock's private record file, before it is linked into place (see lock.ts). */
const LOCK_TEMP = /^\.(notify\.)?lock\.[0-9a-f]{16}$/;

/** Every file of the store; a git repository kept in it (README suggests one) is not the store's. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name === ".git") continue;
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

async function tornAt(path: string): Promise<number | undefined> {
  const buf = await readFile(path).catch(() => undefined);
  if (!buf || buf.length === 0 || buf[buf.length - 1] === 0x0a) return undefined;
  return buf.lastIndexOf(0x0a) + 1;
}

export class DirectoryHealth implements StorageHealth {
  private readonly layout: Layout;

  constructor(private readonly storage: DirectoryStorage) {
    this.layout = storage.layout;
  }

  private rel(path: string): string {
    return relative(this.layout.root, path);
  }

  private inside(path: string): boolean {
    return path.startsWith(`${this.layout.root}/`);
  }

  /** A lock left by a process that no longer runs, or an unreadable one; a live holder is no problem. */
  async lockProblems(): Promise<StorageProblem[]> {
    const lock = await lockState(this.layout.lock);
    if (!lock.held || !lock.stale) return [];
    const path = this.layout.lock;
    if (!lock.info)
      return [
        { check: "lock", message: "an unreadable lock file (left by a crash)", hint: "any command takes it over; --fix removes it", fixable: true, path },
      ];
    return [
      {
        check: "lock",
        message: `a stale lock from ${describeHolder(lock.info)}, a process that no longer runs`,
        hint: "any command takes it over safely; --fix removes it",
        fixable: true,
        path,
      },
    ];
  }

  async health(p: { records?: readonly CertRecord[] }): Promise<StorageProblem[]> {
    const files = await walk(this.layout.root);
    const pending = await this.storage.pendingCommit();
    // A pending commit's temporaries and backups are its own: its recovery keeps or removes them.
    const own = pending ? intentFiles(pending) : new Set<string>();
    return [
      ...(pending ? [this.pendingProblem(pending)] : []),
      ...(await this.leftovers(files.filter((f) => !own.has(f) && f !== pending?.path))),
      ...(await this.tornJournals()),
      ...(await this.modes(files)),
      ...(p.records ? await this.summary() : []),
    ];
  }

  async recoverCommit(): Promise<StorageProblem[]> {
    const pending = await this.storage.pendingCommit();
    if (!pending) return [];
    const problem = this.pendingProblem(pending);
    await this.storage.recoverCommit();
    return [problem];
  }

  /** What an interrupted commit changes, and which way its recovery goes. */
  private pendingProblem(p: PendingCommit): StorageProblem {
    const i = p.intent;
    const names = (xs: Array<{ path: string }>) => [...new Set(xs.map((x) => this.rel(x.path)))].join(", ");
    const what = i
      ? [i.puts.length + i.links.length ? `writes ${names([...i.links, ...i.puts])}` : "", i.appends.length ? `appends to ${names(i.appends)}` : ""]
          .filter(Boolean)
          .join(" and ")
      : "was cut short while it was being prepared";
    const done = p.state === "C";
    return {
      check: "commit",
      message: `a commit a crash interrupted is pending (${this.rel(p.path)}): it ${what}; ${done ? "it reached its commit point" : "it did not commit"}`,
      hint: `--fix ${done ? "completes" : "undoes"} it, as the next command that writes would; until then the other problems reported may be its half-made writes`,
      fixable: true,
      path: p.path,
    };
  }

  /** A temporary mtls wrote whose writer is gone: the only kind of file a repair removes. */
  private async isOurTemp(path: string): Promise<boolean> {
    const name = basename(path);
    const t = parseTempName(name);
    if (t) return t.pid !== process.pid && !isAlive(t.pid);
    if (dirname(path) !== this.layout.root || !LOCK_TEMP.test(name)) return false;
    let pid: unknown;
    try {
      pid = (JSON.parse(await readFile(path, "utf8")) as { pid?: unknown }).pid;
    } catch {
      // Unreadable or cut short (a crash between writing it and linking it into place): its
      // writer is gone unless it is still writing, which takes far less than a minute.
      const st = await lstat(path).catch(() => undefined);
      return st !== undefined && Date.now() - st.mtimeMs > 60_000;
    }
    return typeof pid !== "number" || !isAlive(pid);
  }

  /**
   * A temporary a repair may remove: a new version never renamed into place, or a backup that is
   * the very file it backs up (taken, then the write stopped). Any other backup may be the only
   * copy of what an older release's interrupted commit replaced: never removed.
   */
  private async isRemovable(path: string): Promise<boolean> {
    if (!(await this.isOurTemp(path))) return false;
    const t = parseTempName(basename(path));
    if (t?.tag !== "bak") return true;
    const [a, b] = await Promise.all([readFile(path).catch(() => undefined), readFile(join(dirname(path), t.target)).catch(() => undefined)]);
    return a !== undefined && b !== undefined && a.equals(b);
  }

  private async leftovers(files: readonly string[]): Promise<StorageProblem[]> {
    const out: StorageProblem[] = [];
    for (const f of files) {
      const st = await lstat(f).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (await this.isRemovable(f)) {
        out.push({ check: "leftovers", message: `${this.rel(f)} is left over from an interrupted write`, hint: "--fix deletes it", fixable: true, path: f });
      } else if (await this.isOurTemp(f)) {
        const target = this.rel(join(dirname(f), parseTempName(basename(f))?.target ?? ""));
        out.push({
          check: "leftovers",
          message: `${this.rel(f)} is a backup of ${target} that a write left unfinished, and not what ${target} holds now`,
          hint: `mtls keeps it: compare the two, then put the backup back (mv) or remove it yourself`,
          fixable: false,
          path: f,
        });
      } else if (basename(f).startsWith(".") && LOOKS_TEMPORARY.test(basename(f)) && !parseTempName(basename(f))) {
        out.push({
          check: "leftovers",
          message: `${this.rel(f)} looks like a temporary file, but not one mtls wrote`,
          hint: "mtls leaves it alone: look at it, and remove it yourself if it is yours",
          fixable: false,
          path: f,
        });
      }
    }
    return out;
  }

  private async tornJournals(): Promise<StorageProblem[]> {
    const out: StorageProblem[] = [];
    for (const j of [this.layout.index, this.layout.revocations, this.layout.audit]) {
      const at = await tornAt(j);
      if (at !== undefined)
        out.push({
          check: "journal",
          message: `${this.rel(j)} ends with a partial line (an append cut short by a crash)`,
          hint: j === this.layout.audit ? "--fix moves it to audit.log.quarantine-*; the next write would drop it" : "--fix trims it; the next write would too",
          fixable: true,
          path: j,
          line: at,
        });
    }
    return out;
  }

  /** Which bits a store file must not have: private/ is the owner's alone; nothing is writable by others. */
  private forbiddenBits(path: string, isDir: boolean): { bits: number; want: string } {
    const priv = this.layout.privateDir;
    if (path === priv || path.startsWith(`${priv}/`)) return { bits: 0o077, want: isDir ? "0700" : "0600" };
    return { bits: 0o022, want: "no write access for group or others" };
  }

  private async modes(files: readonly string[]): Promise<StorageProblem[]> {
    const out: StorageProblem[] = [];
    const root = this.layout.root;
    const dirs = new Set<string>([root]);
    for (const f of files) for (let d = dirname(f); d.startsWith(root) && d !== root; d = dirname(d)) dirs.add(d);
    for (const path of [...dirs, ...files]) {
      const st = await lstat(path).catch(() => undefined);
      if (!st || st.isSymbolicLink()) continue;
      const mode = st.mode & 0o777;
      const { bits, want } = this.forbiddenBits(path, st.isDirectory());
      if ((mode & bits) === 0) continue;
      const who = bits === 0o077 ? "other users can read it" : "other users can change it";
      out.push({
        check: "modes",
        message: `${this.rel(path) || "the PKI directory"} is mode ${mode.toString(8)}: ${who}`,
        hint: `--fix sets ${want}`,
        fixable: true,
        path,
        mode,
        wantMode: mode & ~bits,
      });
    }
    return out;
  }

  /** index.jsonl.summary is this storage's cache of the index (for list and status): it must not disagree with it. */
  private async summary(): Promise<StorageProblem[]> {
    const why = await checkSummary(this.layout.index);
    if (!why) return [];
    const path = summaryPath(this.layout.index);
    // doctor --fix removes files only: a directory there is the operator's to move.
    const fixable = why !== NOT_A_FILE;
    return [
      {
        check: "index-summary",
        message: `${this.rel(path)} ${why}`,
        hint: fixable ? "--fix rebuilds it from index.jsonl" : "then run mtls doctor again",
        fixable,
        path,
      },
    ];
  }

  indexDamage() {
    return indexDamageAt(this.layout.index);
  }

  async repair(problems: readonly StorageProblem[]): Promise<void> {
    const summary = summaryPath(this.layout.index);
    const fixable = problems.filter((p) => p.fixable && p.path !== undefined && (p.path === this.layout.root || this.inside(p.path)));
    // Re-judged here rather than trusted: only a temporary of a writer that is gone is removed.
    for (const p of fixable) if (p.check === "leftovers" && p.path && (await this.isRemovable(p.path))) await unlink(p.path).catch(() => {});
    for (const p of fixable) if (p.check === "journal" && p.path && p.line !== undefined) await this.trim(p.path, p.line);
    for (const p of fixable) if (p.check === "modes" && p.path && p.wantMode !== undefined) await chmod(p.path, p.wantMode);
    if (fixable.some((p) => p.check === "index-summary" && p.path === summary)) {
      await unlink(summary).catch(() => {});
      // After the trims: the summary of the journal as the repair leaves it.
      await rebuildSummary(this.layout.index);
    }
    // "lock": taking the lock for this repair already replaced a stale one. "commit": doctor --fix
    // finishes an interrupted commit (recoverCommit) before its checks run, so none is handed here.
  }

  /**
   * Cuts a torn last line off a journal. The audit log's is kept in a quarantine file first, as
   * its damaged lines are (audit-file.ts): mtls does not drop history, even half a record of it.
   */
  private async trim(path: string, at: number): Promise<void> {
    if (path === this.layout.audit) {
      const torn = (await readFile(path)).subarray(at);
      if (torn.length > 0) await writeFileAtomic(quarantineName(path, new Date()), torn, { mode: 0o640, exclusive: true, step: this.storage.durableStep });
    }
    await truncate(path, at);
  }

  async discardMoved(from: string, to: string): Promise<void> {
    const [a, b] = await Promise.all([this.storage.get(from), this.storage.get(to)]);
    if (a && b && Buffer.from(a).equals(Buffer.from(b))) await unlink(this.storage.pathOf(from));
  }
}
