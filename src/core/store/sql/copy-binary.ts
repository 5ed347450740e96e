// PostgreSQL's binary COPY format (the COPY page of its manual, "Binary Format"), read as the
// server's CopyData messages arrive: a signature, flags and a header extension, then tuples of
// (field count, then each field's length and bytes; a length of -1 is NULL), then a field count
// of -1. The messages may split any of these anywhere, so fixed-size parts are gathered in a few
// bytes of their own and a field's bytes are copied once, straight into the field's buffer.

const SIGNATURE = Buffer.from("PGCOPY\n\xff\r\n\0", "latin1");
/** Signature, flags (int32), header extension length (int32). */
const HEADER = SIGNATURE.length + 8;

export type CopyRow = Array<Buffer | null>;

export class BinaryCopyReader {
  private readonly rows: CopyRow[] = [];
  /** What the next bytes are. */
  private state: "header" | "extension" | "count" | "length" | "field" | "end" = "header";
  /** A fixed-size part being gathered. */
  private part = Buffer.alloc(HEADER);
  private partAt = 0;
  private need = HEADER;
  private row: CopyRow = [];
  private fieldsLeft = 0;
  private field: Buffer | null = null;
  private fieldAt = 0;
  /** Bytes of the header extension still to pass over. */
  private skip = 0;

  /** Reads one CopyData message's bytes (which the caller may reuse afterwards: nothing here keeps a view of them). */
  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.state === "end") throw copyError("bytes after the end of the data");
      if (this.state === "extension") {
        // Nothing mtls reads is in it: passed over, never held.
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        if (this.skip === 0) this.gather("count", 2);
        continue;
      }
      if (this.state === "field") {
        const field = this.field as Buffer;
        const n = Math.min(field.length - this.fieldAt, chunk.length - at);
        field.set(chunk.subarray(at, at + n), this.fieldAt);
        this.fieldAt += n;
        at += n;
        if (this.fieldAt === field.length) this.fieldDone(field);
        continue;
      }
      const n = Math.min(this.need - this.partAt, chunk.length - at);
      this.part.set(chunk.subarray(at, at + n), this.partAt);
      this.partAt += n;
      at += n;
      if (this.partAt === this.need) this.partDone();
    }
  }

  /** Checks that the data ended where the format says it ends. */
  finish(): CopyRow[] {
    if (this.state !== "end") throw copyError("the data ended early");
    return this.rows;
  }

  private gather(state: "count" | "length", need: number): void {
    this.state = state;
    this.need = need;
    this.partAt = 0;
    if (this.part.length < need) this.part = Buffer.alloc(need);
  }

  private partDone(): void {
    const p = this.part;
    switch (this.state) {
      case "header": {
        if (!p.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw copyError("no binary COPY signature");
        // Bit 16 is "OIDs included", which this reader does not read past (mtls never asks for
        // them); bits 17-31 must be understood or the data refused: any of them is refused.
        if ((p.readUInt32BE(SIGNATURE.length) & 0xffff0000) !== 0) throw copyError("unknown header flags");
        this.skip = p.readUInt32BE(SIGNATURE.length + 4);
        if (this.skip > 0) this.state = "extension";
        else this.gather("count", 2);
        return;
      }
      case "count": {
        const count = p.readInt16BE(0);
        if (count === -1) {
          this.state = "end";
          return;
        }
        if (count < 0) throw copyError("a negative field count");
        this.row = [];
        this.fieldsLeft = count;
        if (count === 0) this.rowDone();
        else this.gather("length", 4);
        return;
      }
      case "length": {
        const len = p.readInt32BE(0);
        if (len === -1) {
          this.fieldDone(null);
          return;
        }
        if (len < 0) throw copyError("a negative field length");
        this.field = Buffer.allocUnsafe(len);
        this.fieldAt = 0;
        this.state = "field";
        if (len === 0) this.fieldDone(this.field);
        return;
      }
    }
  }

  private fieldDone(value: Buffer | null): void {
    this.row.push(value);
    this.field = null;
    if (--this.fieldsLeft === 0) this.rowDone();
    else this.gather("length", 4);
  }

  private rowDone(): void {
    this.rows.push(this.row);
    this.gather("count", 2);
  }
}

const copyError = (what: string) => new Error(`binary COPY data from the database: ${what}`);

/** The bytes of `rows` in the binary COPY format, in pieces: large fields as they are, the rest gathered. */
export function* binaryCopyPieces(rows: Iterable<CopyRow>): Generator<Buffer> {
  let parts: Buffer[] = [SIGNATURE, Buffer.alloc(8)];
  const int = (n: number, size: 2 | 4) => {
    const b = Buffer.allocUnsafe(size);
    if (size === 2) b.writeInt16BE(n);
    else b.writeInt32BE(n);
    return b;
  };
  for (const row of rows) {
    parts.push(int(row.length, 2));
    for (const f of row) {
      parts.push(int(f === null ? -1 : f.length, 4));
      if (f === null) continue;
      if (f.length < LARGE) parts.push(f);
      else {
        yield Buffer.concat(parts);
        yield f;
        parts = [];
      }
    }
  }
  parts.push(int(-1, 2));
  yield Buffer.concat(parts);
}

/** A field this long goes to the server as it is, not copied in with its neighbours. */
const LARGE = 64 << 10;
