// #21: `list --json` over a summary whose element texts are fetched as they are read (a database
// store's chunks): whatever the chunk size and the selection, the document is byte for byte the
// one written from memory, nothing is read that was not fetched, and what lies behind is let go.
import assert from "node:assert/strict";
import test from "node:test";
import { streamCertificates } from "../../src/core/inventory/list.js";
import type { Pki } from "../../src/core/session.js";
import {
  ELEMENT_INDENT,
  type IndexPart,
  memorySource,
  type Ranges,
  readTrailer,
  regionsOf,
  type Source,
  summaryInMemory,
  TRAILER,
  viewOf,
} from "../../src/core/store/index-summary.js";
import { certRecord } from "../helpers/records.js";

const NOW = new Date("2027-01-01T00:00:00Z");
const day = (d: number) => new Date(NOW.getTime() + d * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z");

/** ~8 MB of element texts: 12,000 certificates of 40 partners, a few revoked, servers, and three rows longer than a read window; `n` more or fewer, each line the same for its i. */
function journal(n = 12_000): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const serial = (0x100000 + i).toString(16);
    const long = i === 17 || i === 6_001 || i === 11_999;
    lines.push(
      JSON.stringify(
        certRecord(serial, {
          partnerId: `partner-${i % 40}`,
          subject: `CN=workload-${i}`,
          sans: long ? Array.from({ length: 9_000 }, (_, k) => `uri:spiffe://lazy.example/${i}/${k}`) : [`dns:w${i}.example.com`],
          notBefore: day(-10),
          notAfter: day((i % 400) - 20),
          issuedAt: day(-10),
          ...(i % 97 === 0 ? { status: "revoked" as const, revokedAt: day(-1), revocationReason: "keyCompromise" as const } : {}),
          ...(i % 211 === 0 ? { kind: "server" as const } : {}),
        }),
      ),
    );
  }
  return Buffer.from(`${lines.join("\n")}\n`);
}

/** The summary's bytes served only in fetched chunks: the texts as load asks, the rest at the start. */
function lazySource(bytes: Buffer, chunk: number, parts: readonly IndexPart[]) {
  const loaded = new Set<number>();
  const seqsOf = (from: number, len: number) => {
    const out: number[] = [];
    for (let s = Math.floor(from / chunk); s * chunk < from + len; s++) out.push(s);
    return out;
  };
  const regions = regionsOf(bytes.subarray(bytes.length - TRAILER), bytes.length, parts, { texts: false }) as Array<[number, number]>;
  for (const [from, len] of regions) for (const s of seqsOf(from, len)) loaded.add(s);
  // The columns and the trailer: fetched with the view, never let go.
  const fixed = new Set(loaded);
  let most = 0;
  const src: Source = {
    size: bytes.length,
    readInto(from, len, into, at) {
      for (const s of seqsOf(from, len)) if (!loaded.has(s)) throw new Error(`read of chunk ${s} before it was loaded`);
      bytes.copy(into, at, from, from + len);
    },
    load(ranges: Ranges, keepFrom?: number) {
      if (keepFrom !== undefined) for (const s of loaded) if ((s + 1) * chunk <= keepFrom && !fixed.has(s)) loaded.delete(s);
      const need = ranges.flatMap(([from, len]) => seqsOf(from, len)).filter((s) => !loaded.has(s));
      if (need.length === 0) return undefined;
      for (const s of need) loaded.add(s);
      most = Math.max(most, [...loaded].filter((s) => !fixed.has(s)).length * chunk);
      return new Promise<void>((resolve) => setImmediate(resolve));
    },
    close() {},
  };
  return { src, most: () => most };
}

const pkiOf = (source: () => Source, stamp = "lazy test") =>
  ({
    now: NOW,
    config: async () => ({ policy: { warnDays: 30 } }),
    storage: { indexView: async () => viewOf(source(), stamp) },
  }) as unknown as Pki;

async function document(pki: Pki, p: Parameters<typeof streamCertificates>[1]): Promise<Buffer> {
  const { certificates } = await streamCertificates(pki, p);
  const pieces: Buffer[] = [];
  for (const piece of certificates.rawJson(ELEMENT_INDENT) ?? []) {
    if (piece instanceof Promise) await piece;
    else pieces.push(Buffer.from(piece));
  }
  return Buffer.concat(pieces);
}

test("#21 list --json from texts fetched as they are read: the same bytes for any chunk size and selection, and no more than a few MiB held", async () => {
  const summary = summaryInMemory(journal(), "index.jsonl", "lazy test");
  const inMemory = pkiOf(() => memorySource(summary));
  const selections = [
    {},
    { partner: "partner-7" },
    { partner: "partner-39" },
    { status: "revoked" as const },
    { kind: "server" as const },
    // A selection nothing matches (an unknown partner is refused now: exit 3).
    { partner: "partner-7", kind: "server" as const, status: "revoked" as const },
  ];
  const expected = await Promise.all(selections.map((p) => document(inMemory, p)));
  assert.ok((expected[0] as Buffer).length > 7_000_000);
  for (const chunk of [997, 4096, 65_536, 1 << 20]) {
    for (const [i, p] of selections.entries()) {
      const lazy = lazySource(summary, chunk, ["json"]);
      const got = await document(
        pkiOf(() => lazy.src),
        p,
      );
      assert.ok(got.equals(expected[i] as Buffer), `chunk ${chunk}, selection ${JSON.stringify(p)}`);
      // What lies behind is let go: the window, the stretch fetched ahead and a row longer than both.
      assert.ok(lazy.most() < 3 * (1 << 20) + 2 * chunk, `chunk ${chunk}: ${lazy.most()} bytes held`);
    }
  }
});

test("#21 partner show's way (ready, then iterate) reads only what ready fetched", async () => {
  const summary = summaryInMemory(journal(), "index.jsonl", "lazy test");
  const lazy = lazySource(summary, 4096, ["json"]);
  const { certificates } = await streamCertificates(
    pkiOf(() => lazy.src),
    { partner: "partner-3" },
  );
  await certificates.ready();
  const listed = [...certificates];
  assert.equal(listed.length, 300);
  assert.ok(listed.every((c) => c.partnerId === "partner-3"));
  const whole = [
    ...(
      await streamCertificates(
        pkiOf(() => memorySource(summary)),
        { partner: "partner-3" },
      )
    ).certificates,
  ];
  assert.deepEqual(listed, whole);
});

/** A database holding `summary` as generation 5, in chunks of `chunk` bytes, answering the statements sql/summary.ts makes. */
function databaseWith(summary: Buffer, chunk: number) {
  const fetched: number[] = [];
  const db = {
    backendPid: 1,
    async query(text: string) {
      assert.match(text, /FROM mtls\.index_generation/);
      return [{ generation: "5", stored: "5", size: summary.length, chunk }];
    },
    async copyRows(select: string) {
      const m = /generation = 5 AND seq = ANY\('\{([0-9,]+)\}'::int\[\]\)/.exec(select);
      assert.ok(m, select);
      const seqs = (m[1] as string).split(",").map(Number);
      fetched.push(...seqs);
      return seqs.map((seq) => {
        const s = Buffer.alloc(4);
        s.writeInt32BE(seq);
        return [s, summary.subarray(seq * chunk, (seq + 1) * chunk)];
      });
    },
    async copyRowsIn() {
      throw new Error("nothing is stored here");
    },
    async end() {},
  };
  return { db, fetched };
}

test("#21 the database store's texts, fetched a few chunks to a statement as list --json goes: the same bytes, each chunk fetched once", async () => {
  const { sqlIndexView } = await import("../../src/core/store/sql/summary.js");
  const stamp = "database index generation 5";
  const summary = summaryInMemory(journal(), "index.jsonl", stamp);
  const expected = await document(
    pkiOf(() => memorySource(summary), stamp),
    { partner: "partner-11" },
  );
  const whole = await document(
    pkiOf(() => memorySource(summary), stamp),
    {},
  );
  for (const chunk of [997, 65_536]) {
    for (const [p, want] of [
      [{}, whole],
      [{ partner: "partner-11" }, expected],
    ] as const) {
      const { db, fetched } = databaseWith(summary, chunk);
      const pki = {
        now: NOW,
        config: async () => ({ policy: { warnDays: 30 } }),
        storage: { indexView: (parts: IndexPart[]) => sqlIndexView(db as never, "index.jsonl", parts) },
      } as unknown as Pki;
      const got = await document(pki, p);
      assert.ok(got.equals(want), `chunk ${chunk}, ${JSON.stringify(p)}`);
      assert.equal(new Set(fetched).size, fetched.length, `chunk ${chunk}: a chunk fetched twice`);
      if (Object.keys(p).length === 0) {
        const texts = (readTrailer(summary.subarray(summary.length - TRAILER), stamp, summary.length) as { lens: { json: number } }).lens.json;
        for (let seq = 0; seq * chunk < texts; seq++) assert.ok(fetched.includes(seq), `chunk ${chunk}: text chunk ${seq} never fetched`);
      }
    }
  }
});

test("#21 a forward reader of the database's texts holds a few chunks at once: those behind are let go", async () => {
  const { LazyTexts } = await import("../../src/core/store/sql/summary.js");
  const stamp = "database index generation 5";
  const summary = summaryInMemory(journal(), "index.jsonl", stamp);
  const texts = (readTrailer(summary.subarray(summary.length - TRAILER), stamp, summary.length) as { lens: { json: number } }).lens.json;
  for (const chunk of [4096, 65_536]) {
    const { db, fetched } = databaseWith(summary, chunk);
    const chunks = new Map<number, Buffer>();
    const lazy = new LazyTexts(db as never, { generation: "5", size: summary.length, chunk }, Math.floor((texts - 1) / chunk), chunks);
    const step = 300 << 10;
    let most = 0;
    for (let from = 0; from < texts; from += step) {
      const len = Math.min(step, texts - from);
      await lazy.load([[from, len]], from);
      for (let seq = Math.floor(from / chunk); seq * chunk < from + len; seq++) assert.ok(chunks.has(seq), `chunk ${seq} not there for ${from}`);
      most = Math.max(most, chunks.size);
    }
    assert.ok(most <= Math.ceil(step / chunk) + 4, `chunk ${chunk}: ${most} chunks held at once`);
    assert.equal(new Set(fetched).size, fetched.length);
  }
});

test("#21 the database store extends an older generation's summary of 8 MB: byte for byte the summary built from the grown journal", async () => {
  const { sqlIndexView } = await import("../../src/core/store/sql/summary.js");
  const chunk = 1 << 20;
  const old = summaryInMemory(journal(), "index.jsonl", "database index generation 5");
  const grown = journal(12_003);
  const int8 = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64BE(BigInt(n));
    return b;
  };
  const fetched: number[] = [];
  const db = {
    backendPid: 1,
    async query() {
      return [{ generation: "6", stored: "5", size: old.length, chunk }];
    },
    async copyRows(select: string) {
      if (/string_agg/.test(select))
        return [
          [int8(0), Buffer.from("6")],
          [int8(1), grown],
        ];
      const seqs = ((/generation = 5 AND seq = ANY\('\{([0-9,]+)\}'::int\[\]\)/.exec(select) ?? [])[1] ?? "").split(",").map(Number);
      fetched.push(...seqs);
      return seqs.map((seq) => [Buffer.from([seq >>> 24, (seq >>> 16) & 255, (seq >>> 8) & 255, seq & 255]), old.subarray(seq * chunk, (seq + 1) * chunk)]);
    },
    async copyRowsIn() {
      throw new Error("nothing is stored here");
    },
    async end() {},
  };
  let kept: Buffer | undefined;
  const view = await sqlIndexView(db as never, "index.jsonl", [], async (generation, summary) => {
    assert.equal(generation, "6");
    kept = summary;
  });
  view.close();
  for (let seq = 0; seq * chunk < old.length; seq++) assert.ok(fetched.includes(seq), `the old summary's chunk ${seq} was never read: not extended`);
  assert.ok(kept?.equals(summaryInMemory(grown, "index.jsonl", "database index generation 6")));
});
