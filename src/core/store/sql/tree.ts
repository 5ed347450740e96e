// The store's tree (directories, files, journals) to and from the database rows, byte for byte.
// `loadTree` writes the rows into a directory and remembers what it wrote; `saveTree` writes back
// what changed since, in the caller's transaction: appended journal lines become new rows, a
// rewritten file replaces its row. The typed tables (certificates, revocations, CRL numbers,
// audit) are kept in step here, so their constraints judge every change.
import { createHash } from "node:crypto";
import { chmod, lstat, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { conflictError, envError, fsError } from "../../errors.js";
import { parallel } from "../fs.js";
import type { SqlClient } from "./pg.js";

export const JOURNALS = ["index.jsonl", "revocations.jsonl", "probe-certs.jsonl", "audit.log"] as const;
export type Journal = (typeof JOURNALS)[number];
const isJournal = (p: string): p is Journal => (JOURNALS as readonly string[]).includes(p);

interface FileStamp {
  ino: number;
  size: number;
  mtimeMs: number;
  mode: number;
}

/** What loadTree wrote: how to tell later what a command changed. */
export interface TreeSnapshot {
  files: Map<string, FileStamp>;
  dirs: Map<string, number>;
  journals: Map<Journal, { text: string; lines: number; stamp: FileStamp }>;
}

export const emptySnapshot = (): TreeSnapshot => ({ files: new Map(), dirs: new Map(), journals: new Map() });

const stampOf = (st: { ino: number; size: number; mtimeMs: number; mode: number }): FileStamp => ({
  ino: st.ino,
  size: st.size,
  mtimeMs: st.mtimeMs,
  mode: st.mode & 0o777,
});

const SAFE_PATH = /^[A-Za-z0-9._+@-]+(\/[A-Za-z0-9._+@-]+)*$/;

/**
 * A row's path as a place under `dir`, or exit 5. The schema's CHECK says the same, but the
 * database is shared: whoever can drop a constraint must still not make mtls write outside its
 * copy (`../../home/ops/.bashrc`) or create a set-uid file.
 */
function placeOf(dir: string, path: string, mode: number): { path: string; mode: number } {
  if (!SAFE_PATH.test(path) || path.split("/").some((seg) => seg === "." || seg === ".."))
    throw envError(
      "ERR_STORE_CORRUPT",
      `the database store holds a file named ${JSON.stringify(path)}, which is not a store path`,
      "remove that row: mtls never writes one",
    );
  return { path: join(dir, path), mode: mode & 0o777 };
}

/** Writes the rows of the store into `dir` (which exists and is empty). */
export async function loadTree(db: SqlClient, dir: string): Promise<TreeSnapshot> {
  const snap = emptySnapshot();
  const dirs = await db.query<{ path: string; mode: number }>("SELECT path, mode FROM mtls.files WHERE is_dir ORDER BY path");
  for (const d of dirs) {
    const at = placeOf(dir, d.path, d.mode);
    await mkdir(at.path, { recursive: true }).catch((err) => Promise.reject(fsError(err, at.path, "create directory")));
    snap.dirs.set(d.path, at.mode);
  }
  // Modes after every directory exists: a 0500 parent must not stop its children being made.
  const files = await db.query<{ path: string; mode: number; data: Buffer }>("SELECT path, mode, data FROM mtls.files WHERE NOT is_dir");
  await parallel(files, 16, async (f) => {
    const { path, mode } = placeOf(dir, f.path, f.mode);
    if (f.path.includes("/")) await mkdir(dirname(path), { recursive: true });
    await writeFile(path, f.data, { mode, flag: "wx" }).catch((err) => Promise.reject(fsError(err, path, "write")));
    await chmod(path, mode);
    snap.files.set(f.path, stampOf(await lstat(path)));
  });
  const heads = await db.query<{ journal: Journal; mode: number; tail: string }>("SELECT journal, mode, tail FROM mtls.journal_files");
  for (const h of heads) {
    // One row holding the whole journal: 100,000 rows cost the driver more than the bytes do.
    const [j] = await db.query<{ text: string | null; n: number }>(
      "SELECT string_agg(text || E'\\n', '' ORDER BY line) AS text, count(*)::int AS n FROM mtls.journal_lines WHERE journal = $1",
      [h.journal],
    );
    const text = (j?.text ?? "") + h.tail;
    if (!isJournal(h.journal))
      throw envError("ERR_STORE_CORRUPT", `the database store holds an unknown journal ${JSON.stringify(h.journal)}`, "remove that row: mtls never writes one");
    await writeFile(join(dir, h.journal), text, { mode: h.mode & 0o777, flag: "wx" });
    await chmod(join(dir, h.journal), h.mode & 0o777);
    snap.journals.set(h.journal, { text, lines: j?.n ?? 0, stamp: stampOf(await lstat(join(dir, h.journal))) });
  }
  for (const d of [...dirs].reverse()) await chmod(join(dir, d.path), d.mode & 0o777);
  return snap;
}

/** Every directory and regular file under `dir`, relative, the store's lock files left out. */
async function walk(dir: string): Promise<{ dirs: Map<string, number>; files: Map<string, FileStamp> }> {
  const dirs = new Map<string, number>();
  const files = new Map<string, FileStamp>();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err) => Promise.reject(fsError(err, dir, "read")));
  for (const e of entries) {
    const rel = join(e.parentPath, e.name).slice(dir.length + 1);
    if (/^\.(notify\.)?lock(\.|$)/.test(rel)) continue;
    const st = await lstat(join(dir, rel));
    if (st.isDirectory()) dirs.set(rel, st.mode & 0o777);
    else if (st.isFile()) files.set(rel, stampOf(st));
    else
      throw envError(
        "ERR_STORE_FILE_TYPE",
        `${rel} in the store is neither a file nor a directory`,
        "remove it; the database store holds files and directories only",
      );
  }
  return { dirs, files };
}

const sameStamp = (a: FileStamp | undefined, b: FileStamp) =>
  a !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.mode === b.mode;

/** Journal text the database can hold as lines: valid UTF-8 without NUL. */
const journalText = (buf: Buffer): string | undefined => {
  const text = buf.toString("utf8");
  return !text.includes("\0") && Buffer.from(text, "utf8").equals(buf) ? text : undefined;
};

export interface SaveResult {
  changed: boolean;
}

/**
 * Writes back what changed in `dir` since `snap`, inside the caller's transaction. Returns
 * whether anything did (a read-only command changes nothing and bumps no revision).
 */
export async function saveTree(db: SqlClient, dir: string, snap: TreeSnapshot): Promise<SaveResult> {
  const now = await walk(dir);
  let changed = false;
  for (const [path, mode] of now.dirs) {
    if (snap.dirs.get(path) === mode) continue;
    changed = true;
    await db.query("INSERT INTO mtls.files (path, is_dir, mode) VALUES ($1, true, $2) ON CONFLICT (path) DO UPDATE SET mode = EXCLUDED.mode", [path, mode]);
  }
  const gone = [...snap.dirs.keys()].filter((p) => !now.dirs.has(p));
  const goneFiles = [...snap.files.keys()].filter((p) => !now.files.has(p));
  for (const path of [...gone, ...goneFiles]) {
    changed = true;
    await db.query("DELETE FROM mtls.files WHERE path = $1", [path]);
  }
  const toWrite = [...now.files].filter(([path, st]) => !sameStamp(snap.files.get(path), st) && !isJournal(path));
  for (const [path, st] of toWrite) {
    changed = true;
    const data = await readFile(join(dir, path)).catch((err) => Promise.reject(fsError(err, join(dir, path), "read")));
    await db.query(
      "INSERT INTO mtls.files (path, is_dir, mode, data) VALUES ($1, false, $2, $3) ON CONFLICT (path) DO UPDATE SET mode = EXCLUDED.mode, data = EXCLUDED.data",
      [path, st.mode, data],
    );
    if (path === "crl/state.json") await recordCrlNumbers(db, data);
  }
  for (const j of JOURNALS) if (await saveJournal(db, dir, j, now.files.get(j), snap)) changed = true;
  if (changed) await markChanged(db);
  return { changed };
}

/** Counts a change of the store, in the transaction making it: what SqlStorage.version() follows. */
export async function markChanged(db: SqlClient): Promise<void> {
  await db.query("UPDATE mtls.store SET revision = revision + 1, updated_at = now() WHERE id = 1");
}

/** One journal: appended lines as new rows, anything else as a rewrite of all its rows. */
async function saveJournal(db: SqlClient, dir: string, j: Journal, st: FileStamp | undefined, snap: TreeSnapshot): Promise<boolean> {
  const before = snap.journals.get(j);
  const wasFile = snap.files.has(j);
  if (!st) {
    if (!before && !wasFile) return false;
    await dropJournal(db, j);
    await db.query("DELETE FROM mtls.files WHERE path = $1", [j]);
    return true;
  }
  // Untouched since it was loaded (a command that only read): nothing to compare.
  if (before && !wasFile && sameStamp(before.stamp, st)) return false;
  const buf = await readFile(join(dir, j)).catch((err) => Promise.reject(fsError(err, join(dir, j), "read")));
  const text = journalText(buf);
  if (text === undefined) {
    // Not text the database can hold as lines (a damaged migrated file): kept as a file, verbatim.
    if (wasFile && sameStamp(snap.files.get(j), st)) return false;
    await dropJournal(db, j);
    await db.query(
      "INSERT INTO mtls.files (path, is_dir, mode, data) VALUES ($1, false, $2, $3) ON CONFLICT (path) DO UPDATE SET mode = EXCLUDED.mode, data = EXCLUDED.data",
      [j, st.mode, buf],
    );
    return true;
  }
  if (wasFile) await db.query("DELETE FROM mtls.files WHERE path = $1", [j]);
  const complete = text.slice(0, text.lastIndexOf("\n") + 1);
  const tail = text.slice(complete.length);
  if (before && !wasFile && text === before.text) return false;
  let first = 1;
  let added = complete;
  const oldComplete = before ? before.text.slice(0, before.text.lastIndexOf("\n") + 1) : "";
  const oldTail = before ? before.text.slice(oldComplete.length) : "";
  if (before && !wasFile && oldTail === "" && complete.startsWith(oldComplete)) {
    first = before.lines + 1;
    added = complete.slice(oldComplete.length);
  } else {
    await dropJournal(db, j);
  }
  await db.query(
    "INSERT INTO mtls.journal_files (journal, mode, tail) VALUES ($1, $2, $3) ON CONFLICT (journal) DO UPDATE SET mode = EXCLUDED.mode, tail = EXCLUDED.tail",
    [j, st.mode, tail],
  );
  const lines = added === "" ? [] : added.slice(0, -1).split("\n");
  await insertLines(db, j, first, lines);
  return true;
}

export async function dropJournal(db: SqlClient, j: Journal): Promise<void> {
  await db.query("DELETE FROM mtls.journal_lines WHERE journal = $1", [j]);
  await db.query("DELETE FROM mtls.journal_files WHERE journal = $1", [j]);
  if (j === "index.jsonl") await db.query("DELETE FROM mtls.certificates");
  if (j === "revocations.jsonl") await db.query("DELETE FROM mtls.revocations");
  if (j === "audit.log") await db.query("DELETE FROM mtls.audit");
}

const CHUNK = 5000;

export async function insertLines(db: SqlClient, j: Journal, first: number, lines: string[]): Promise<void> {
  for (let at = 0; at < lines.length; at += CHUNK) {
    const part = lines.slice(at, at + CHUNK);
    const nums = part.map((_, i) => first + at + i);
    await db.query("INSERT INTO mtls.journal_lines (journal, line, text) SELECT $1, * FROM unnest($2::bigint[], $3::text[])", [j, nums, part]);
    await recordDerived(db, j, first + at, part);
  }
}

/** The typed rows of journal lines numbered from `first`: where the database's constraints judge them. */
export async function recordDerived(db: SqlClient, j: string, first: number, lines: string[]): Promise<void> {
  const nums = lines.map((_, i) => first + i);
  for (let at = 0; at < lines.length; at += CHUNK) {
    const part = lines.slice(at, at + CHUNK);
    const partNums = nums.slice(at, at + CHUNK);
    if (j === "index.jsonl") await recordCertificates(db, part);
    if (j === "revocations.jsonl") await recordRevocations(db, partNums, part);
    if (j === "audit.log") await recordAudit(db, partNums, part);
  }
}

const parse = (line: string): Record<string, unknown> | undefined => {
  try {
    const v = JSON.parse(line);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
};
const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/**
 * Index lines into the certificates table. A serial is one certificate: a later line for it
 * (a revocation) must carry the same fingerprint, and a second certificate under a serial
 * already used is refused by the database, whatever the process that issued it.
 */
async function recordCertificates(db: SqlClient, lines: string[]): Promise<void> {
  const bySerial = new Map<string, { fingerprint: string; partner: string; issuer: string; notAfter: string; status: string }>();
  for (const line of lines) {
    const r = parse(line);
    const serial = str(r?.serial);
    const fingerprint = str(r?.fingerprint);
    const notAfter = str(r?.notAfter);
    if (!r || !serial || !/^[0-9a-f]{1,40}$/.test(serial) || !fingerprint || !notAfter || Number.isNaN(Date.parse(notAfter))) continue; // doctor reports it
    const prior = bySerial.get(serial);
    if (prior && prior.fingerprint !== fingerprint) throw duplicateSerial(serial);
    bySerial.set(serial, {
      fingerprint,
      partner: str(r.partnerId) ?? "",
      issuer: str(r.issuer) ?? "",
      notAfter,
      status: r.status === "revoked" ? "revoked" : "valid",
    });
  }
  if (bySerial.size === 0) return;
  const rows = [...bySerial.entries()];
  const done = await db.query<{ serial: string }>(
    `INSERT INTO mtls.certificates (serial, fingerprint, partner_id, issuer, not_after, status)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
     ON CONFLICT (serial) DO UPDATE SET status = EXCLUDED.status, partner_id = EXCLUDED.partner_id, not_after = EXCLUDED.not_after
     WHERE mtls.certificates.fingerprint = EXCLUDED.fingerprint
     RETURNING serial`,
    [rows.map(([s]) => s), ...(["fingerprint", "partner", "issuer", "notAfter", "status"] as const).map((k) => rows.map(([, v]) => v[k]))],
  );
  if (done.length !== rows.length) {
    const ok = new Set(done.map((d) => d.serial));
    throw duplicateSerial(rows.find(([s]) => !ok.has(s))?.[0] ?? "?");
  }
}

const duplicateSerial = (serial: string) =>
  conflictError(
    "ERR_SERIAL_EXISTS",
    `serial ${serial} is already used by another certificate in the database store; nothing was committed`,
    "run the command again (a new serial is drawn)",
  );

async function recordRevocations(db: SqlClient, nums: number[], lines: string[]): Promise<void> {
  const rows = lines
    .map((l, i) => ({ line: nums[i] as number, r: parse(l) }))
    .filter((x) => str(x.r?.serial) && str(x.r?.issuer) && !Number.isNaN(Date.parse(str(x.r?.revokedAt) ?? "")));
  if (rows.length === 0) return;
  // A serial journaled twice (recovered from a CRL after a crash, in an older directory) stays
  // one revocation; the line itself is kept in journal_lines.
  await db.query(
    `INSERT INTO mtls.revocations (line, serial, issuer, revoked_at, reason)
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) ON CONFLICT (issuer, serial) DO NOTHING`,
    [
      rows.map((x) => x.line),
      rows.map((x) => x.r?.serial),
      rows.map((x) => x.r?.issuer),
      rows.map((x) => x.r?.revokedAt),
      rows.map((x) => str(x.r?.reason) ?? "unspecified"),
    ],
  );
}

async function recordAudit(db: SqlClient, nums: number[], lines: string[]): Promise<void> {
  const rows = lines
    .map((l, i) => ({ line: nums[i] as number, text: l, r: parse(l) }))
    .filter((x) => Number.isSafeInteger(x.r?.seq) && /^[0-9a-f]{64}$/.test(str(x.r?.prev) ?? "") && str(x.r?.action));
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO mtls.audit (line, seq, prev, hash, action) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[])`,
    [
      rows.map((x) => x.line),
      rows.map((x) => x.r?.seq),
      rows.map((x) => x.r?.prev),
      rows.map((x) => createHash("sha256").update(x.text).digest("hex")),
      rows.map((x) => x.r?.action),
    ],
  );
}

/** crl/state.json's numbers into crl_numbers, whose trigger refuses any that does not grow. */
export async function recordCrlNumbers(db: SqlClient, data: Buffer): Promise<void> {
  const state = parse(data.toString("utf8"));
  if (!state) return; // a damaged cache: the CRLs themselves decide the next number
  for (const issuer of ["root", "intermediate"]) {
    const n = (state[issuer] as { number?: unknown } | undefined)?.number;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) continue;
    const [last] = await db.query<{ n: string | null }>("SELECT max(number)::text AS n FROM mtls.crl_numbers WHERE issuer = $1", [issuer]);
    if (last?.n !== null && last?.n !== undefined && Number(last.n) === n) continue;
    await db.query("INSERT INTO mtls.crl_numbers (issuer, number) VALUES ($1, $2)", [issuer, n]);
  }
}
