// #15: the session and its one transaction path, over the directory store and over a storage
// that is not a directory (an in-memory one, shaped like a database store would be).
import assert from "node:assert/strict";
import { chmod, mkdtemp, readdir, readFile, rm, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, test } from "node:test";
import type { AuditEntry } from "../../src/core/audit/audit.js";
import { loadCaCerts, loadIssuingKey } from "../../src/core/ca/material.js";
import { parseCrl } from "../../src/core/crl/decode.js";
import { showCrls } from "../../src/core/crl/show.js";
import { listCertificates, listCertificateTable, streamCertificates } from "../../src/core/inventory/list.js";
import { issuePartnerCert } from "../../src/core/issue/issue.js";
import { revokeCertificate } from "../../src/core/revoke/revoke.js";
import { openPki, type Tx } from "../../src/core/session.js";
import { checkStatus } from "../../src/core/status/status.js";
import { readIndexOf } from "../../src/core/store/blobs.js";
import { cellTextOf } from "../../src/core/store/index-summary.js";
import { JOURNALS, journalFile } from "../../src/core/store/keys.js";
import type { JournalName, PutOptions, Storage, StorageTransaction } from "../../src/core/store/storage.js";
import { runInProcess } from "../helpers/in-process.js";

const dir = await mkdtemp(join(tmpdir(), "mtls-session-"));
after(() => rm(dir, { recursive: true, force: true }));
const init = await runInProcess(["ca", "init", "--insecure-no-passphrase", "--name", "Session", "--json"], { cwd: dir });
assert.equal(init.exitCode, 0, init.stderr);
const pkiDir = join(dir, "pki");
const auditLines = async () => (await readFile(join(pkiDir, "audit.log"), "utf8")).trim().split("\n");

test("a transaction commits its blobs, journal lines and audit records together, with the session's actor", async () => {
  const pki = await openPki(pkiDir, { now: new Date("2026-01-02T03:04:05Z"), actor: "alice@test" });
  const before = (await auditLines()).length;
  const seen = await pki.transact("test.write", async (tx) => {
    tx.put("crl/test-note.txt", "hello").append("probe-certs", '{"note":1}\n');
    tx.audit({ action: "doctor.fix", outcome: "ok" });
    return new TextDecoder().decode(await tx.get("crl/test-note.txt")); // reads see this transaction's writes
  });
  assert.equal(seen, "hello");
  assert.equal(await readFile(join(pkiDir, "crl/test-note.txt"), "utf8"), "hello");
  assert.match(await pki.storage.readJournal("probe-certs"), /"note":1/);
  const lines = await auditLines();
  assert.equal(lines.length, before + 1);
  const rec = JSON.parse(lines.at(-1) as string);
  assert.equal(rec.actor, "alice@test");
  assert.equal(rec.time, "2026-01-02T03:04:05Z");
  assert.equal((await stat(join(pkiDir, "crl/test-note.txt"))).mode & 0o777, 0o644);
});

test("a transaction reads its own journal appends and rewrites, and lists its own puts", async () => {
  const pki = await openPki(pkiDir, { actor: "carol@test" });
  const before = await pki.storage.readJournal("probe-certs");
  const seen = await pki.transact("test.read-own", async (tx) => {
    tx.append("probe-certs", '{"own":1}\n');
    const afterAppend = await tx.readJournal("probe-certs");
    tx.rewrite("probe-certs", '{"only":1}\n').append("probe-certs", '{"own":2}\n');
    tx.put("crl/listed-note.txt", "x");
    return { afterAppend, afterRewrite: await tx.readJournal("probe-certs"), listed: await tx.list("crl/") };
  });
  assert.equal(seen.afterAppend, `${before}{"own":1}\n`);
  assert.equal(seen.afterRewrite, '{"only":1}\n{"own":2}\n');
  assert.ok(seen.listed.includes("crl/listed-note.txt"));
  // What the transaction read is what it committed.
  assert.equal(await pki.storage.readJournal("probe-certs"), seen.afterRewrite);
  assert.ok((await pki.storage.list("crl/")).includes("crl/listed-note.txt"));
  assert.match(pki.storage.where("crl/listed-note.txt"), /crl\/listed-note\.txt$/);
});

test("a directory store refuses a secret others can read and a link planted in a blob's place", async () => {
  const pki = await openPki(pkiDir, { actor: "dave@test" });
  await pki.transact("test.secret", async (tx) => {
    tx.put("private/loose-test.key", "k", { secret: true });
  });
  assert.equal(new TextDecoder().decode(await pki.storage.getSecret("private/loose-test.key")), "k");
  await chmod(join(pkiDir, "private/loose-test.key"), 0o644);
  await assert.rejects(pki.storage.getSecret("private/loose-test.key"), { code: "ERR_KEY_PERMISSIONS" });
  assert.equal(new TextDecoder().decode(await pki.storage.get("private/loose-test.key")), "k");
  await symlink(join(pkiDir, "private/loose-test.key"), join(pkiDir, "crl/planted.txt"));
  await assert.rejects(pki.storage.get("crl/planted.txt"), { code: "ERR_SYMLINK" });
  assert.equal(await pki.storage.get("crl/absent.txt"), undefined);
  await rm(join(pkiDir, "crl/planted.txt"));
  await rm(join(pkiDir, "private/loose-test.key"));
});

test("a transaction that throws, or whose commit fails, leaves the store as it was", async () => {
  const pki = await openPki(pkiDir, { actor: "bob@test" });
  const before = await auditLines();
  await assert.rejects(
    pki.transact("test.fail", async (tx) => {
      tx.put("crl/never.txt", "x");
      tx.audit({ action: "doctor.fix", outcome: "ok" });
      throw new Error("changed my mind");
    }),
    /changed my mind/,
  );
  await assert.rejects(stat(join(pkiDir, "crl/never.txt")), { code: "ENOENT" });
  // An exclusive put onto an existing key fails the commit; the other staged writes are undone.
  let undone = false;
  await assert.rejects(
    pki.transact("test.exists", async (tx) => {
      tx.put("crl/test-note.txt", "replaced").put("ca/root.pem", "not a certificate", { exclusive: true });
      tx.onRollback(async () => {
        undone = true;
      });
    }),
    { code: "ERR_EXISTS" },
  );
  assert.equal(undone, true);
  assert.equal(await readFile(join(pkiDir, "crl/test-note.txt"), "utf8"), "hello");
  assert.deepEqual(await auditLines(), before);
});

test("an inspection reads the store as a transaction would, without its lock, and refuses to stage a write", async () => {
  const pki = await openPki(pkiDir, { actor: "carol@test", lockTimeoutMs: 200 });
  const before = await auditLines();
  // Another holder of the lock keeps no inspection waiting: it takes none.
  await pki.transact("test.hold", async () => {
    const seen = await pki.inspect(async (tx) => new TextDecoder().decode(await tx.get("crl/test-note.txt")));
    assert.equal(seen, "hello");
  });
  for (const write of [
    (tx: Tx) => tx.put("crl/never.txt", "x"),
    (tx: Tx) => tx.append("probe-certs", '{"never":1}\n'),
    (tx: Tx) => tx.audit({ action: "doctor.fix", outcome: "ok" }),
  ])
    await assert.rejects(
      pki.inspect(async (tx) => {
        write(tx);
      }),
      /read-only view/,
    );
  await assert.rejects(stat(join(pkiDir, "crl/never.txt")), { code: "ENOENT" });
  assert.doesNotMatch(await pki.storage.readJournal("probe-certs"), /never/);
  assert.deepEqual(await auditLines(), before);
});

test("secret blobs are private to the owner; keys are not paths", async () => {
  const pki = await openPki(pkiDir, { actor: "carol@test" });
  await pki.transact("test.secret", async (tx) => {
    tx.put("private/test-secret.key", "s", { secret: true });
  });
  assert.equal((await stat(join(pkiDir, "private/test-secret.key"))).mode & 0o777, 0o600);
  await assert.rejects(
    pki.transact("test.escape", async (tx) => {
      tx.put("../outside.txt", "x");
    }),
    /not a store key/,
  );
});

/** A storage with no file system at all: what a database store looks like to the session. */
class MemoryStorage implements Storage {
  readonly location = "memory:test";
  blobs = new Map<string, Uint8Array>();
  journals = new Map<JournalName, string>();
  audit: Array<AuditEntry & { actor: string; time: string }> = [];
  locked = false;
  async exists() {
    return this.blobs.has("config.json");
  }
  async open() {
    return new TextDecoder().decode(this.blobs.get("config.json"));
  }
  async get(key: string) {
    return this.blobs.get(key);
  }
  async getSecret(key: string) {
    return this.blobs.get(key);
  }
  async list(prefix: string) {
    return [...this.blobs.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  where(key: string) {
    return `${key} in ${this.location}`;
  }
  localPath() {
    return undefined;
  }
  async readJournal(name: JournalName) {
    return this.journals.get(name) ?? "";
  }
  async remove(key: string) {
    if (!this.blobs.delete(key)) throw new Error(`${key} does not exist`);
  }
  async lock<T>(_purpose: string, fn: () => Promise<T>) {
    assert.equal(this.locked, false);
    this.locked = true;
    try {
      return await fn();
    } finally {
      this.locked = false;
    }
  }
  lockAside<T>(_name: string, _purpose: string, fn: () => Promise<T>) {
    return fn();
  }
  begin(): StorageTransaction {
    const puts: Array<[string, Uint8Array, PutOptions | undefined]> = [];
    const appends: Array<[JournalName, string]> = [];
    const audits: MemoryStorage["audit"] = [];
    return {
      put: (key, data, opts) => void puts.push([key, typeof data === "string" ? new TextEncoder().encode(data) : data, opts]),
      append: (j, text) => void appends.push([j, text]),
      rewrite: (j, text) => void this.journals.set(j, text),
      audit: async (entries, at) => void audits.push(...entries.map((e) => ({ ...e, actor: at.actor, time: at.time.toISOString() }))),
      commit: async () => {
        for (const [k, , o] of puts) if (o?.exclusive && this.blobs.has(k)) throw Object.assign(new Error(`${k} exists`), { code: "ERR_EXISTS" });
        for (const [k, v] of puts) this.blobs.set(k, v);
        for (const [j, t] of appends) this.journals.set(j, (this.journals.get(j) ?? "") + t);
        this.audit.push(...audits);
      },
    };
  }
}

test("the session runs over a storage that is not a directory", async () => {
  const mem = new MemoryStorage();
  mem.blobs.set("config.json", await readFile(join(pkiDir, "config.json")));
  const pki = await openPki(mem, { now: new Date("2026-02-03T04:05:06Z"), actor: "dave@test" });
  // No directory behind it: nothing a gateway could read as a local file, blobs named by key.
  assert.equal(pki.storage.localPath("config.json"), undefined);
  assert.equal((await pki.config()).ca.name, "Session");
  const outside = join(dir, "outside-copy.txt");
  await pki.transact("test.memory", async (tx) => {
    tx.put("certs/01.pem", "cert").append("index", '{"serial":"01"}\n');
    tx.writeFile(outside, "a file the user named"); // not the storage's: written just before its commit
    tx.audit({ action: "cert.issue", outcome: "ok", serial: "01" });
  });
  assert.equal(new TextDecoder().decode(mem.blobs.get("certs/01.pem")), "cert");
  assert.equal(await mem.readJournal("index"), '{"serial":"01"}\n');
  assert.deepEqual(mem.audit, [{ action: "cert.issue", outcome: "ok", serial: "01", actor: "dave@test", time: "2026-02-03T04:05:06.000Z" }]);
  assert.equal(await readFile(outside, "utf8"), "a file the user named");
});

/** Every blob and journal of a directory store, copied into a storage with no file system behind it. */
async function memoryCopyOf(dir: string): Promise<MemoryStorage> {
  const mem = new MemoryStorage();
  const journalOf = new Map(JOURNALS.map((j) => [journalFile[j], j]));
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name.startsWith(".")) continue;
    const key = relative(dir, join(e.parentPath, e.name));
    const bytes = await readFile(join(dir, key));
    const journal = journalOf.get(key);
    if (journal) mem.journals.set(journal, bytes.toString("utf8"));
    else mem.blobs.set(key, bytes);
  }
  return mem;
}

test("loading the CA, issuing, revoking and publishing CRLs need no path: they run on a storage that is not a directory", async () => {
  const mem = await memoryCopyOf(pkiDir);
  const pki = await openPki(mem, { now: new Date(), actor: "erin@test" });
  const ca = await loadCaCerts(pki.storage, await pki.config());
  assert.equal(ca.issuerRole, "intermediate");
  assert.equal(ca.issuer.subject, "CN=Session Intermediate CA");
  const key = await loadIssuingKey(pki.storage, ca, undefined);
  // A file key still names where it is, as the storage names it: no path exists here.
  assert.deepEqual(key.location, { kind: "file", path: "private/intermediate.key in memory:test" });

  const outKey = join(dir, "memory-partner.key");
  const issued = await issuePartnerCert(pki, { partnerId: "memory-partner", generateKeyType: "ec-p256", outKey });
  assert.equal(issued.certPath, `certs/${issued.serial}.pem in memory:test`);
  assert.ok(mem.blobs.has(`certs/${issued.serial}.pem`));
  assert.equal((await readIndexOf(pki.storage)).records.at(-1)?.serial, issued.serial);

  const revoked = await revokeCertificate(pki, { serial: issued.serial, reason: "keyCompromise" });
  assert.deepEqual(
    revoked.revoked.map((r) => r.serial),
    [issued.serial],
  );
  assert.equal(revoked.crls[0]?.derPath, "crl/intermediate.crl in memory:test");
  const crl = parseCrl(Buffer.from(mem.blobs.get("crl/intermediate.crl") as Uint8Array));
  assert.ok(crl.entries.some((e) => e.serial === issued.serial && e.reason === "keyCompromise"));
  assert.match(await mem.readJournal("revocations"), new RegExp(`"serial":"${issued.serial}"`));
  assert.deepEqual(
    mem.audit.map((a) => a.action),
    ["cert.issue", "cert.revoke", "crl.publish"],
  );
  // The directory store it was copied from is untouched.
  assert.equal(
    (await showCrls(await openPki(pkiDir, { actor: "reader@test" }))).crls[0]?.entries.some((e) => e.serial === issued.serial),
    false,
  );
});

test("list and status read any storage: one without the directory's summary cache answers from its index journal", async () => {
  const writer = await openPki(pkiDir, { actor: "frank@test" });
  const issued = await issuePartnerCert(writer, { partnerId: "listed", generateKeyType: "ec-p256", outKey: join(dir, "listed.key") });
  await revokeCertificate(writer, { serial: issued.serial, reason: "superseded" });
  await issuePartnerCert(writer, { partnerId: "listed", generateKeyType: "ec-p256", outKey: join(dir, "listed-2.key") });
  const mem = await memoryCopyOf(pkiDir);
  const now = new Date();
  const onDir = await openPki(pkiDir, { now, actor: "reader@test" });
  const onMem = await openPki(mem, { now, actor: "reader@test" });
  assert.equal(typeof onDir.storage.indexView, "function");
  assert.equal(onMem.storage.indexView, undefined);

  const shown = async (pki: typeof onMem) => {
    const t = (await listCertificateTable(pki, { partner: "listed" })).certificates;
    const partners = [...t.row].map((i, k) => [cellTextOf(t.cells, i, 1), t.status[k]]);
    t.close();
    return partners;
  };
  assert.deepEqual(await shown(onMem), [
    ["listed", 3],
    ["listed", 0],
  ]);
  assert.deepEqual(await shown(onMem), await shown(onDir));
  const whole = await listCertificates(onDir);
  assert.deepEqual([...(await streamCertificates(onMem)).certificates], whole.certificates);
  assert.deepEqual([...(await streamCertificates(onDir)).certificates], whole.certificates);
  const [a, b] = [await checkStatus(onMem), await checkStatus(onDir)];
  assert.deepEqual(a.certificates, b.certificates);
  assert.deepEqual(a.partners, b.partners);
});
