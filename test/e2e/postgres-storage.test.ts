// #16: the Storage interface of the session (#15) on PostgreSQL, driven through pki.transact as
// core code drives it. The rows are the same the CLI's database store uses, so a store written
// here migrates to a directory whose audit chain `mtls audit verify` accepts.
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { openPki } from "../../src/core/session.js";
import { SqlStorage } from "../../src/core/store/sql/storage.js";
import { fileCluster, pgSkipReason } from "../helpers/postgres.js";
import { json, mtls, tempDir } from "../helpers/run.js";

const skip = pgSkipReason();
const pg = fileCluster();
let n = 0;

async function storage() {
  const c = await pg();
  const s = await c.newStore(`native${++n}`);
  const make = () => new SqlStorage({ url: s.url, display: s.url, password: s.password, lockTimeoutMs: 20_000 });
  return { c, s, make };
}

const STATE = "crl/state.json";
const CONFIG = {
  formatVersion: 1,
  createdAt: "2026-12-06T12:00:00Z",
  ca: { name: "Native", keyType: "ec-p256", intermediate: true },
  policy: { defaultDays: 90, maxDays: 398, warnDays: 30 },
  crl: { validityDays: 7 },
};

/** A fresh store holding config.json and one more blob, and its session. */
async function storeWith(t: TestContext, key: string, data: string) {
  const { c, s, make } = await storage();
  const st = make();
  t.after(() => st.close());
  const pki = await openPki(st, { actor: "tester@host", now: new Date("2026-12-06T12:00:00Z") });
  await pki.transact("test.init", async (tx) => {
    tx.put("config.json", `${JSON.stringify(CONFIG)}\n`);
    tx.put(key, data);
  });
  /** Every row of the store's files table, directories included. */
  const rows = async () => (await c.sql("SELECT path, is_dir FROM mtls.files ORDER BY path", [], s.db)).map((r) => `${r.path}${r.is_dir ? "/" : ""}`);
  return { st, pki, rows };
}

test("#16 SqlStorage: pki.transact commits blobs, journal lines and chained audit records together, or nothing", { skip }, async (t) => {
  const { c, s, make } = await storage();
  const st = make();
  t.after(() => st.close());
  const pki = await openPki(st, { actor: "tester@host", now: new Date("2026-12-06T12:00:00Z") });
  assert.equal(await st.exists(), false);
  await pki.transact("test.write", async (tx) => {
    tx.put("config.json", `${JSON.stringify(CONFIG)}\n`);
    tx.put("private/k.key", "secret", { secret: true });
    tx.append(
      "index",
      `${JSON.stringify({ serial: "0a", fingerprint: "f", partnerId: "p", issuer: "intermediate", notAfter: "2027-01-01T00:00:00Z", status: "valid" })}\n`,
    );
    tx.audit({ action: "ca.init", outcome: "ok" }, { action: "cert.issue", outcome: "ok", serial: "0a" });
  });
  assert.equal(await st.exists(), true);
  assert.equal(Buffer.from((await st.get("private/k.key")) as Uint8Array).toString(), "secret");
  assert.match(await st.readJournal("index"), /"serial":"0a"/);
  const [mode] = await c.sql("SELECT mode FROM mtls.files WHERE path = 'private/k.key'", [], s.db);
  assert.equal(mode?.mode, 0o600);
  const [dir] = await c.sql("SELECT mode FROM mtls.files WHERE path = 'private' AND is_dir", [], s.db);
  assert.equal(dir?.mode, 0o700);
  // A body that throws writes nothing; an exclusive put on an existing key fails the whole commit.
  await assert.rejects(
    pki.transact("test.fail", async (tx) => {
      tx.put("x.json", "{}");
      throw new Error("changed my mind");
    }),
    /changed my mind/,
  );
  await assert.rejects(
    pki.transact("test.exclusive", async (tx) => {
      tx.put("y.json", "{}");
      tx.put("private/k.key", "other", { exclusive: true });
      tx.audit({ action: "cert.issue", outcome: "ok" });
    }),
    (err: Error & { code?: string }) => err.code === "ERR_EXISTS",
  );
  assert.equal(await st.get("x.json"), undefined);
  assert.equal(await st.get("y.json"), undefined);
  await pki.transact("test.more", async (tx) => {
    tx.audit({ action: "partner.add", outcome: "ok", partner: "p" });
  });
  // The chain the storage built verifies with the CLI, after a migration to a directory.
  const dirOut = await tempDir(t);
  const m = await mtls(["store", "migrate", "--from", s.url, "--to", join(dirOut, "pki")], { env: { PGPASSWORD: s.password } });
  assert.equal(m.exitCode, 0, m.stderr);
  const v = await mtls(["audit", "verify", "--pki", join(dirOut, "pki"), "--json"]);
  assert.equal(v.exitCode, 0, v.stdout);
  assert.equal(json(v).result.records, 3);
  assert.equal(json(v).result.ok, true);
});

test("#16 SqlStorage: two sessions incrementing one counter under lock() lose no update; CRL numbers never repeat", { skip }, async (t) => {
  const { c, s, make } = await storage();
  const a = make();
  const b = make();
  t.after(() => Promise.all([a.close(), b.close()]));
  const bump = async (st: SqlStorage) => {
    const pki = await openPki(st, { actor: "t", now: new Date() });
    for (let i = 0; i < 10; i++)
      await pki.transact("crl.publish", async (tx) => {
        const cur = JSON.parse(Buffer.from((await tx.get(STATE)) ?? Buffer.from('{"intermediate":{"number":0}}')).toString());
        tx.put(STATE, JSON.stringify({ intermediate: { number: cur.intermediate.number + 1 } }));
        tx.audit({ action: "crl.publish", outcome: "ok" });
      });
  };
  await Promise.all([bump(a), bump(b)]);
  const numbers = await c.sql("SELECT number::int AS n FROM mtls.crl_numbers WHERE issuer = 'intermediate' ORDER BY number", [], s.db);
  assert.deepEqual(
    numbers.map((r) => r.n),
    Array.from({ length: 20 }, (_, i) => i + 1),
  );
  const audit = await c.sql("SELECT count(*)::int AS n, count(DISTINCT prev)::int AS links FROM mtls.audit", [], s.db);
  assert.deepEqual(audit[0], { n: 20, links: 20 });
  // A session whose backend is killed while it holds the lock: the lock dies with it.
  const victim = make();
  const pkiV = await openPki(victim, { actor: "t", now: new Date() });
  const dead = pkiV.transact("doomed", async (tx) => {
    const [row] = await c.sql("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted", [], s.db);
    await c.sql("SELECT pg_terminate_backend($1)", [row?.pid]);
    tx.put("z.json", "{}");
  });
  await assert.rejects(dead, (err: Error & { exit?: number }) => err.exit === 5);
  const pkiA = await openPki(a, { actor: "t", now: new Date() });
  await pkiA.transact("after", async (tx) => tx.put("after.json", "{}"));
  assert.ok(await a.get("after.json"));
  assert.equal(await a.get("z.json"), undefined);
});

test("#16 SqlStorage: two transactions of one process take turns on the store lock; one inside the holder's work runs at once", { skip }, async (t) => {
  const { st, pki } = await storeWith(t, "crl/counter.txt", "0");
  // Each reads the counter, yields to the other, then writes it plus one: interleaved, both
  // would read 0 and the count would end at 1.
  const bump = () =>
    pki.transact("test.bump", async (tx) => {
      const n = Number(Buffer.from((await tx.get("crl/counter.txt")) as Uint8Array).toString());
      await new Promise((r) => setTimeout(r, 50));
      tx.put("crl/counter.txt", String(n + 1));
      tx.audit({ action: "doctor.fix", outcome: "ok" });
    });
  await Promise.all([bump(), bump(), bump()]);
  assert.equal(Buffer.from((await st.get("crl/counter.txt")) as Uint8Array).toString(), "3");
  assert.equal(await st.lock("outer", () => st.lock("inner", async () => "nested")), "nested");
});

test("a read from outside a transaction of the same process never sees its uncommitted rows, even one it rolls back", { skip }, async (t) => {
  const { st, pki } = await storeWith(t, "crl/taken.txt", "first");
  // A server's request handler, bound to the context outside any transaction.
  const fromOutside = AsyncLocalStorage.bind((key: string) => st.get(key));
  let seen: Promise<Uint8Array | undefined> | undefined;
  st.setDurableStep((what) => {
    // Between the transaction's statements: its rows are written, the audit append is next.
    if (what !== "append") return;
    seen = fromOutside("crl/phantom.txt");
    throw new Error("stopped before the append");
  });
  await assert.rejects(
    pki.transact("test.fail", async (tx) => {
      tx.put("crl/phantom.txt", "never committed");
      tx.audit({ action: "doctor.fix", outcome: "ok" });
    }),
    /stopped before the append/,
  );
  st.setDurableStep(undefined);
  assert.ok(seen, "the read ran during the commit");
  assert.equal(await seen, undefined);
  assert.equal(await st.get("crl/phantom.txt"), undefined);
});

test("#21 blobs written many to a statement: a taken key fails the commit, named first in staging order, and nothing is written", { skip }, async (t) => {
  const { st, pki, rows } = await storeWith(t, "crl/taken.txt", "first");
  await pki.transact("test.second", async (tx) => tx.put("crl/later.txt", "first"));
  const before = await rows();
  await assert.rejects(
    pki.transact("test.fail", async (tx) => {
      tx.put("fresh/before.txt", "a", { exclusive: true });
      tx.put("crl/taken.txt", "second", { exclusive: true });
      tx.put("crl/later.txt", "second", { exclusive: true });
      tx.put("fresh/after.txt", "b", { exclusive: true });
    }),
    /crl\/taken\.txt already exists/,
  );
  // The directory row and the files the statements had written are rolled back with the rest.
  assert.deepEqual(await rows(), before);
  assert.equal(Buffer.from((await st.get("crl/taken.txt")) as Uint8Array).toString(), "first");
});

test("#21 a key staged twice in one transaction: the last put wins, and an exclusive put after any other is refused", { skip }, async (t) => {
  const { st, pki } = await storeWith(t, "crl/base.txt", "base");
  const text = async (key: string) => Buffer.from((await st.get(key)) as Uint8Array).toString();
  await pki.transact("test.twice", async (tx) => {
    tx.put("crl/one.txt", "one", { exclusive: true });
    tx.put("crl/one.txt", "two");
    tx.put("crl/replaced.txt", "one");
    tx.put("crl/replaced.txt", "two");
  });
  assert.equal(await text("crl/one.txt"), "two");
  assert.equal(await text("crl/replaced.txt"), "two");
  for (const [first, second] of [
    [{}, { exclusive: true }],
    [{ exclusive: true }, { exclusive: true }],
  ]) {
    await assert.rejects(
      pki.transact("test.twice", async (tx) => {
        tx.put("crl/new.txt", "one", first);
        tx.put("crl/new.txt", "two", second);
      }),
      /crl\/new\.txt already exists/,
    );
    assert.equal(await st.get("crl/new.txt"), undefined);
  }
});

test("#21 a file put where the store has a directory is refused as taken, and the directory keeps its files", { skip }, async (t) => {
  const { st, pki } = await storeWith(t, "crl/inner/x.txt", "x");
  await assert.rejects(
    pki.transact("test.dir", async (tx) => tx.put("crl/inner", "not a directory")),
    /crl\/inner already exists/,
  );
  assert.equal(Buffer.from((await st.get("crl/inner/x.txt")) as Uint8Array).toString(), "x");
});

test("#21 blobs asked for at once are read in one statement: each caller gets its own bytes, a missing key undefined", { skip, timeout: 60_000 }, async (t) => {
  const { st } = await storeWith(t, "crl/shared.txt", "shared");
  const db = await st.db();
  const sent: string[] = [];
  const query = db.query.bind(db);
  Object.assign(db, {
    query: (text: string, params?: unknown[]) => {
      sent.push(text);
      return query(text, params);
    },
  });
  const [a, b, missing, config] = await Promise.all([st.get("crl/shared.txt"), st.get("crl/shared.txt"), st.get("crl/none.txt"), st.get("config.json")]);
  assert.equal(sent.length, 1, sent.join("\n"));
  assert.equal(Buffer.from(a as Uint8Array).toString(), "shared");
  assert.equal(missing, undefined);
  assert.equal(JSON.parse(Buffer.from(config as Uint8Array).toString()).ca.name, "Native");
  // A caller that changes its bytes changes no one else's.
  (a as Uint8Array)[0] = 0x53;
  assert.equal(Buffer.from(b as Uint8Array).toString(), "shared");
});

test("#21 a batch of reads on a connection that cannot be made fails every read in it, and nothing goes unhandled", { timeout: 60_000 }, async () => {
  const unhandled: unknown[] = [];
  const seen = (err: unknown) => unhandled.push(err);
  process.on("unhandledRejection", seen);
  try {
    // A URL refused before any connection is tried: the connection fails before the batch is sent.
    const st = new SqlStorage({ url: "postgres://mtls@127.0.0.1:1/none?sslmode=allow", display: "postgres://127.0.0.1:1/none", password: "x" });
    const reads = await Promise.allSettled([st.get("config.json"), st.get("crl/state.json")]);
    for (const r of reads) {
      assert.equal(r.status, "rejected");
      assert.equal((r as PromiseRejectedResult).reason.code, "ERR_STORE_URL");
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(unhandled, []);
    await st.close();
  } finally {
    process.off("unhandledRejection", seen);
  }
});

/** A connection to a fresh store, closed after the test. */
async function connectionOf(t: TestContext) {
  const { make } = await storage();
  const st = make();
  t.after(() => st.close());
  return st.db();
}

test("#21 binary COPY from a real server: bytea comes back as stored, NULLs and all; a failed COPY leaves the connection usable", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const db = await connectionOf(t);
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
  const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await db.query("CREATE TEMP TABLE copied (n int, b bytea)");
  await db.query("INSERT INTO copied VALUES (1, $1), (2, NULL), (3, ''::bytea), (4, $2)", [every, big]);
  const rows = await db.copyRows("SELECT n, b FROM copied ORDER BY n");
  assert.deepEqual(
    rows.map(([n]) => n?.readInt32BE(0)),
    [1, 2, 3, 4],
  );
  assert.ok(rows[0]?.[1]?.equals(every));
  assert.equal(rows[1]?.[1], null);
  assert.equal(rows[2]?.[1]?.length, 0);
  assert.ok(rows[3]?.[1]?.equals(big));
  await assert.rejects(
    db.copyRows("SELECT n, 1 / (4 - n) FROM copied ORDER BY n"),
    (err: { code?: string; message?: string }) => err.code === "ERR_STORE_SQL" && /division by zero/.test(err.message ?? ""),
  );
  assert.deepEqual(await db.query("SELECT count(*)::int AS n FROM copied"), [{ n: 4 }]);
});

test("#21 binary COPY into a real server: bytea is stored as given, read back through the driver's own text path; a refused row stores none", {
  skip,
  timeout: 60_000,
}, async (t) => {
  const db = await connectionOf(t);
  await db.query("CREATE TEMP TABLE sent (n int PRIMARY KEY, b bytea)");
  const int = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const big = Buffer.alloc((2 << 20) + 3);
  for (let i = 0; i < big.length; i++) big[i] = (i * 40503) >>> 8;
  const small = Buffer.from([0, 0xff, 0xc3, 0x28, 0x0a]);
  await db.copyRowsIn("sent (n, b)", [
    [int(1), small],
    [int(2), null],
    [int(3), big],
  ]);
  const rows = await db.query<{ n: number; b: Buffer | null }>("SELECT n, b FROM sent ORDER BY n");
  assert.deepEqual(
    rows.map((r) => r.n),
    [1, 2, 3],
  );
  assert.ok(rows[0]?.b?.equals(small));
  assert.equal(rows[1]?.b, null);
  assert.ok(rows[2]?.b?.equals(big));
  await assert.rejects(
    db.copyRowsIn("sent (n, b)", [
      [int(4), small],
      [int(1), small],
    ]),
    (err: { code?: string; message?: string }) => err.code === "ERR_STORE_SQL" && /duplicate key/.test(err.message ?? ""),
  );
  assert.deepEqual(await db.query("SELECT count(*)::int AS n FROM sent"), [{ n: 3 }]);
});
