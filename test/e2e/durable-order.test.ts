// A change's crash safety is the order of its durable writes (#13): a name is flushed before
// anything refers to it, and the index append, which commits the change, comes last. strace
// shows the order the kernel saw them in; the crash-point test kills a command between them.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { BIN, baseEnv, initTempCa, PASSPHRASE, run } from "../helpers/run.js";

type Event = { op: "flush" | "rename" | "mkdir" | "unlink"; path: string };

/** Runs mtls in `dir` under strace: its flushes, renames and new directories (with `unlinks`, its removals) inside `dir`, in order, named relative to it ("." for itself). */
async function traced(dir: string, name: string, args: string[], o: { unlinks?: boolean } = {}): Promise<Event[]> {
  const out = join(dir, `${name}.strace`);
  const r = await run(
    "strace",
    [
      "-f",
      "-y",
      "-qq",
      "-e",
      `trace=fsync,fdatasync,rename,renameat,renameat2,mkdir,mkdirat${o.unlinks ? ",unlink,unlinkat" : ""}`,
      "-o",
      out,
      process.execPath,
      BIN,
      ...args,
    ],
    { cwd: dir, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) },
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const inDir = (p: string) => (p === dir ? "." : p.startsWith(`${dir}/`) ? p.slice(dir.length + 1) : undefined);
  const events: Event[] = [];
  for (const line of (await readFile(out, "utf8")).split("\n")) {
    // The call's start: a whole line, or the first half of one another thread interrupted.
    const flush = /^\d+\s+f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
    const rename = /^\d+\s+rename(?:at2?)?\((?:[^,]*, )?"([^"]*)", (?:[^,]*, )?"([^"]*)"/.exec(line);
    const mkdir = /^\d+\s+mkdir(?:at)?\((?:[^,]*, )?"([^"]*)",.*= 0$/.exec(line);
    const unlink = /^\d+\s+unlink(?:at)?\((?:[^,]*, )?"([^"]*)"(?:, 0)?\)\s+= 0$/.exec(line);
    if (flush) events.push({ op: "flush", path: inDir(flush[1] as string) ?? "" });
    else if (unlink) events.push({ op: "unlink", path: inDir(resolve(dir, unlink[1] as string)) ?? "" });
    else if (rename) events.push({ op: "rename", path: inDir(resolve(dir, rename[2] as string)) ?? "" });
    else if (mkdir) events.push({ op: "mkdir", path: inDir(resolve(dir, mkdir[1] as string)) ?? "" });
  }
  return events.filter((e) => e.path !== "" && !e.path.endsWith(".strace"));
}

const at = (events: Event[], op: Event["op"], test: (p: string) => boolean) => {
  const i = events.findIndex((e) => e.op === op && test(e.path));
  assert.ok(i >= 0, `no ${op} of a matching path in ${JSON.stringify(events)}`);
  return i;
};

const isCert = (p: string) => /^pki\/certs\/[0-9a-f]+\.pem$/.test(p);
const isChain = (p: string) => /^pki\/certs\/[0-9a-f]+\.chain\.pem$/.test(p);

test("partner issue: the certificate and its directory, then the intent record, the registry's rename and the new index's name, then the audit line, then the index line, and only the record's removal after it", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "p");

  // The first certificate: a new partner (partners.json replaced) and no index yet.
  const first = await traced(dir, "first", ["partner", "issue", "acme", "--csr", csr]);
  const index = at(first, "flush", (p) => p === "pki/index.jsonl");
  const audit = at(first, "flush", (p) => p === "pki/audit.log");
  const certsDir = at(first, "flush", (p) => p === "pki/certs");
  assert.ok(at(first, "flush", isCert) < certsDir && at(first, "flush", isChain) < certsDir, "the files before their directory");
  const renamed = at(first, "rename", (p) => p === "pki/partners.json");
  const pkiDir = first.findIndex((e, i) => i > renamed && e.op === "flush" && e.path === "pki");
  assert.ok(certsDir < index && renamed < pkiDir && pkiDir < audit && audit < index, JSON.stringify(first));
  // A replaced file: the intent record, flushed, then flipped to committed (flushed again), all
  // before the first rename; after the index line only the record's removal is flushed.
  const intent = first.flatMap((e, i) => (e.op === "flush" && e.path === "pki/.commit" ? [i] : []));
  assert.equal(intent.length, 2, JSON.stringify(first));
  assert.ok(certsDir < (intent[1] as number) && (intent[1] as number) < renamed, JSON.stringify(first));
  const after = [
    { op: "flush", path: "pki" },
    { op: "flush", path: "pki" },
  ];
  assert.deepEqual(first.slice(index + 1), after, "after the index line, only the backup's removal, then the intent record's");

  // The next one: nothing renamed, every journal already there: five flushes, the index last.
  const next = await traced(dir, "next", ["partner", "issue", "acme", "--csr", csr]);
  const kinds = next.map((e) => (isCert(e.path) ? "cert" : isChain(e.path) ? "chain" : `${e.op} ${e.path}`));
  assert.deepEqual(new Set(kinds.slice(0, 2)), new Set(["cert", "chain"]), JSON.stringify(next));
  assert.deepEqual(kinds.slice(2), ["flush pki/certs", "flush pki/audit.log", "flush pki/index.jsonl"]);
});

test("a batch into a new key directory: every directory it makes is flushed into its parent, the keys into theirs, all before the index line", async (t) => {
  const dir = await initTempCa(t);
  await writeFile(
    join(dir, "fleet.jsonl"),
    `${JSON.stringify({ partner: "gen-1", generate: true })}\n${JSON.stringify({ partner: "gen-2", generate: true })}\n`,
  );
  const events = await traced(dir, "batch", ["partner", "issue", "--batch", "fleet.jsonl", "--key-dir", "out/keys"]);
  const index = at(events, "flush", (p) => p === "pki/index.jsonl");
  // The first batch raises the store's format (config.json replaced): the removal of its backup,
  // then of its intent record, follow the index line.
  assert.deepEqual(
    events.slice(index + 1),
    [
      { op: "flush", path: "pki" },
      { op: "flush", path: "pki" },
    ],
    JSON.stringify(events),
  );
  // Each directory made (the keys' two, the store's pack directory) is flushed into its parent
  // after it is made and before the index line.
  for (const made of ["out", "out/keys", "pki/certs/packs"]) {
    const mk = at(events, "mkdir", (p) => p === made);
    const parent = made.includes("/") ? made.slice(0, made.lastIndexOf("/")) : ".";
    const flushed = events.findIndex((e, i) => i > mk && e.op === "flush" && e.path === parent);
    assert.ok(flushed > mk && flushed < index, `${made}: ${JSON.stringify(events)}`);
  }
  const keys = events.filter((e) => e.op === "flush" && /^out\/keys\/gen-\d-[0-9a-f]{8}\.key$/.test(e.path)).length;
  assert.equal(keys, 2);
  assert.ok(at(events, "flush", (p) => p === "out/keys") < index);
});

test("a change that replaces files: its backups are removed and their directories flushed before the intent record is removed", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "p");
  assert.equal(
    (await run(process.execPath, [BIN, "partner", "issue", "acme", "--csr", csr], { cwd: dir, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) })).exitCode,
    0,
  );
  // A new intermediate: the canary, the bundles and config.json are replaced, in pki/, pki/ca and pki/crl.
  const events = await traced(dir, "rollover", ["ca", "rollover", "intermediate", "--yes"], { unlinks: true });
  const record = at(events, "unlink", (p) => p === "pki/.commit");
  const backups = events.flatMap((e, i) =>
    e.op === "unlink" && /\/\.[^/]+\.bak-\d+-[0-9a-f]{8}$/.test(e.path) ? [{ i, dir: e.path.slice(0, e.path.lastIndexOf("/")) }] : [],
  );
  assert.ok(backups.length >= 3, JSON.stringify(events));
  for (const b of backups) {
    const flushed = events.findIndex((e, i) => i > b.i && e.op === "flush" && e.path === b.dir);
    assert.ok(b.i < record && flushed > b.i && flushed < record, `${b.dir}: ${JSON.stringify(events)}`);
  }
});

test("partner issue --generate --out-key --out: the user's key and certificate only once the store's certificate and its directory are flushed, and before the commit", async (t) => {
  const dir = await initTempCa(t);
  const events = await traced(dir, "generated", ["partner", "issue", "acme", "--generate", "--out-key", "acme.key", "--out", "acme.pem"]);
  const certsDir = at(events, "flush", (p) => p === "pki/certs");
  // Each written to a temporary beside it, flushed, then linked to its name and the directory flushed.
  const key = at(events, "flush", (p) => p.startsWith(".acme.key.tmp-"));
  const cert = at(events, "flush", (p) => p.startsWith(".acme.pem.tmp-"));
  const named = events.findIndex((e, i) => i > cert && e.op === "flush" && e.path === ".");
  // A new partner replaces partners.json: the intent record's second flush marks it committed.
  const committed = events.flatMap((e, i) => (e.op === "flush" && e.path === "pki/.commit" ? [i] : [])).at(-1) as number;
  const index = at(events, "flush", (p) => p === "pki/index.jsonl");
  assert.ok(at(events, "flush", isCert) < certsDir, JSON.stringify(events));
  assert.ok(certsDir < key && key < cert && cert < named && named < committed && committed < index, JSON.stringify(events));
});
