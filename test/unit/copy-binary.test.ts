// #21: PostgreSQL's binary COPY format, read as the server's messages arrive, however they split it.
import assert from "node:assert/strict";
import test from "node:test";
import { BinaryCopyReader, binaryCopyPieces, type CopyRow } from "../../src/core/store/sql/copy-binary.js";

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");

/** The bytes the format's description gives for `rows`, with a header extension of `ext`. */
function encode(rows: CopyRow[], ext = Buffer.alloc(0), flags = 0): Buffer {
  const parts: Buffer[] = [SIGNATURE, u32(flags), u32(ext.length), ext];
  for (const row of rows) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(row.length);
    parts.push(count);
    for (const f of row) {
      const len = Buffer.alloc(4);
      len.writeInt32BE(f === null ? -1 : f.length);
      parts.push(len, ...(f === null ? [] : [f]));
    }
  }
  parts.push(Buffer.from([0xff, 0xff]));
  return Buffer.concat(parts);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function read(pieces: Uint8Array[]): CopyRow[] {
  const r = new BinaryCopyReader();
  for (const p of pieces) r.push(p);
  return r.finish();
}

const ROWS: CopyRow[] = [
  [Buffer.from([0, 0, 0, 7]), Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
  [null, Buffer.alloc(0)],
  [],
  [Buffer.from("\xc3\x28 not UTF-8", "latin1")],
];

test("#21 binary COPY rows come back byte for byte wherever the messages split them", () => {
  const bytes = encode(ROWS, Buffer.from("ext"));
  assert.deepEqual(read([bytes]), ROWS);
  for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(read([bytes.subarray(0, cut), bytes.subarray(cut)]), ROWS, `split at ${cut}`);
  assert.deepEqual(read([...bytes].map((b) => Uint8Array.of(b))), ROWS);
});

test("#21 a header extension is passed over however long, never held", () => {
  const ext = Buffer.alloc(1 << 20, 0x61);
  const bytes = encode(ROWS, ext);
  assert.deepEqual(read([bytes]), ROWS);
  assert.deepEqual(read([bytes.subarray(0, 30), bytes.subarray(30, 1000), bytes.subarray(1000)]), ROWS);
});

test("#21 a field never shares the bytes it was read from: the driver reuses its buffer", () => {
  const bytes = encode([[Buffer.from("kept")]]);
  const r = new BinaryCopyReader();
  r.push(bytes);
  bytes.fill(0);
  assert.equal(String(r.finish()[0]?.[0]), "kept");
});

test("#21 data that is not whole binary COPY is refused, not read as rows", () => {
  const bytes = encode(ROWS);
  assert.throws(() => read([bytes.subarray(0, bytes.length - 1)]), /ended early/);
  assert.throws(() => read([bytes.subarray(0, 30)]), /ended early/);
  assert.throws(() => read([Buffer.concat([bytes, Buffer.from([0])])]), /after the end/);
  assert.throws(() => read([Buffer.from(bytes).fill(0x41, 0, 5)]), /signature/);
  assert.throws(() => read([encode(ROWS, Buffer.alloc(0), 1 << 17)]), /flags/);
  const negative = Buffer.from(encode([[Buffer.from("x")]]));
  negative.writeInt32BE(-2, SIGNATURE.length + 8 + 2);
  assert.throws(() => read([negative]), /negative field length/);
  const count = Buffer.from(encode([[Buffer.from("x")]]));
  count.writeInt16BE(-2, SIGNATURE.length + 8);
  assert.throws(() => read([count]), /negative field count/);
  // OIDs would come before each row's fields, which this reader does not read past.
  assert.throws(() => read([encode(ROWS, Buffer.alloc(0), 1 << 16)]), /flags/);
  // Bytes after the end, in a message of their own.
  assert.throws(() => read([bytes, Buffer.from([0])]), /after the end/);
});

test("#21 rows written in the binary COPY format are the bytes the format describes, large fields passed on as they are", () => {
  const large = Buffer.alloc(100_000, 7);
  const rows: CopyRow[] = [...ROWS, [large, null, Buffer.from("after")]];
  const pieces = [...binaryCopyPieces(rows)];
  assert.ok(Buffer.concat(pieces).equals(encode(rows)));
  assert.ok(pieces.includes(large));
  assert.deepEqual(read(pieces), rows);
  assert.ok(Buffer.concat([...binaryCopyPieces([])]).equals(encode([])));
});
