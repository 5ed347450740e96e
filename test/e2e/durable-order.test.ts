// A change's crash safety is the order of its durable writes (#13): a name is flushed before
// anything refers to it, and the index append, which commits the change, comes last. strace
// shows the order the kernel saw them in; the crash-point test kills a command between them.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { BIN, baseEnv, initTempCa, PASSPHRASE, run } from "../helpers/run.js";

type Event = { op: "flush" | "rename"; path: string };

/** Runs mtls under strace; the flushes and renames of paths inside `pki`, in order, named relative to it ("" for itself). */
async function traced(dir: string, name: string, args: string[]): Promise<Event[]> {
  const out = join(dir, `${name}.strace`);
  const r = await run("strace", ["-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,rename,renameat,renameat2", "-o", out, process.execPath, BIN, ...args], {
    cwd: dir,
    env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }),
  });
  assert.equal(r.exitCode, 0, r.stderr);
  const pki = join(dir, "pki");
  const inPki = (p: string) => (p === pki ? "" : p.startsWith(`${pki}/`) ? p.slice(pki.length + 1) : undefined);
  const events: Event[] = [];
  for (const line of (await readFile(out, "utf8")).split("\n")) {
    // The call's start: a whole line, or the first half of one another thread interrupted.
    const flush = /^\d+\s+f(?:data)?sync\(\d+<([^>]*)>/.exec(line);
    const rename = /^\d+\s+rename(?:at2?)?\((?:[^,]*, )?"([^"]*)", (?:[^,]*, )?"([^"]*)"/.exec(line);
    const path = flush ? inPki(flush[1] as string) : rename ? inPki(resolve(dir, rename[2] as string)) : undefined;
    if (path !== undefined) events.push({ op: flush ? "flush" : "rename", path });
  }
  return events;
}

const at = (events: Event[], op: Event["op"], test: (p: string) => boolean) => {
  const i = events.findIndex((e) => e.op === op && test(e.path));
  assert.ok(i >= 0, `no ${op} of a matching path in ${JSON.stringify(events)}`);
  return i;
};

test("partner issue: the certificate and its directory, then the registry's rename and its directory, then the audit line, then the index line; nothing after but a new journal's name", async (t) => {
  const dir = await initTempCa(t);
  const { csr } = await makeCsr(dir, "p");
  const isCert = (p: string) => /^certs\/[0-9a-f]+\.pem$/.test(p);
  const isChain = (p: string) => /^certs\/[0-9a-f]+\.chain\.pem$/.test(p);

  // The first certificate: a new partner (partners.json replaced) and an empty index.
  const first = await traced(dir, "first", ["partner", "issue", "acme", "--csr", csr]);
  const index = at(first, "flush", (p) => p === "index.jsonl");
  const certsDir = at(first, "flush", (p) => p === "certs");
  assert.ok(at(first, "flush", isCert) < certsDir && at(first, "flush", isChain) < certsDir, "the files before their directory");
  const renamed = at(first, "rename", (p) => p === "partners.json");
  const pkiDir = first.findIndex((e, i) => i > renamed && e.op === "flush" && e.path === "");
  assert.ok(certsDir < index && renamed < pkiDir && pkiDir < at(first, "flush", (p) => p === "audit.log"), JSON.stringify(first));
  assert.ok(at(first, "flush", (p) => p === "audit.log") < index, "the audit line before the index line");
  // The index was empty: the append may have made the file, so its name is flushed after it.
  assert.deepEqual(first.slice(index + 1), [{ op: "flush", path: "" }]);

  // The next one: nothing renamed, every journal already there: five flushes, the index last.
  const next = await traced(dir, "next", ["partner", "issue", "acme", "--csr", csr]);
  const kinds = next.map((e) => (isCert(e.path) ? "cert" : isChain(e.path) ? "chain" : `${e.op} ${e.path}`));
  assert.deepEqual(new Set(kinds.slice(0, 2)), new Set(["cert", "chain"]), JSON.stringify(next));
  assert.deepEqual(kinds.slice(2), ["flush certs", "flush audit.log", "flush index.jsonl"]);
});
