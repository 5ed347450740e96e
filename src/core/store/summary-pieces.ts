// Output assembled from a text section of the index summary (#21): the section is read through a
// window at the front of a buffer whose rest is the output, so that every copy from the section
// to the output is a copyWithin inside one buffer. Buffer.copy and subarray make a view per call,
// which at 100,000 rows of three or four copies each was most of a run.

// A small window and a larger output: starting a new buffer copies what the window still holds,
// which with equal sizes was up to a second copy of every byte (#21).
const WINDOW = 256 << 10;
const OUT = 2 << 20;

/** Reads `len` bytes of a section from byte `from` into `into` at `at`. */
export type ReadSection = (from: number, len: number, into: Buffer, at: number) => void;

export class PieceAssembler {
  private buf: Buffer = Buffer.alloc(0);
  /** The window is buf[0, winLen), the section's bytes from winFrom on; the output is buf[wcap, o). */
  private wcap = 0;
  private winFrom = 0;
  private winLen = 0;
  private o = 0;

  constructor(
    private readonly read: ReadSection,
    private readonly total: number,
  ) {}

  /**
   * Makes the section's bytes [from, from + len) readable and room for `need` bytes of output.
   * Returns the finished output when a new buffer had to be started (the caller passes it on:
   * it is never written to again).
   */
  begin(from: number, len: number, need: number): Buffer | undefined {
    let done: Buffer | undefined;
    if (this.o + need > this.buf.length || len > this.wcap) {
      done = this.o > this.wcap ? this.buf.subarray(this.wcap, this.o) : undefined;
      // What the window holds from `from` on moves to the new buffer.
      const keep = from >= this.winFrom && from < this.winFrom + this.winLen ? this.winLen - (from - this.winFrom) : 0;
      const w = Math.max(WINDOW, len, keep);
      const next = Buffer.allocUnsafeSlow(w + Math.max(OUT, need));
      if (keep > 0) this.buf.copy(next, 0, from - this.winFrom, this.winLen);
      [this.buf, this.wcap, this.winFrom, this.winLen, this.o] = [next, w, from, keep, w];
    }
    if (from < this.winFrom || from + len > this.winFrom + this.winLen) {
      this.winLen = Math.min(this.wcap, this.total - from);
      this.read(from, this.winLen, this.buf, 0);
      this.winFrom = from;
    }
    return done;
  }

  /** Where the section's bytes that begin(from, len, …) may read end (at most): a source that fetches bytes fetches up to there first. */
  reach(from: number, len: number): number {
    return Math.min(this.total, from + Math.max(this.wcap, WINDOW, len));
  }

  /** Copies the section's bytes [from, to) (inside what begin made readable) to the output. */
  copy(from: number, to: number): void {
    this.buf.copyWithin(this.o, from - this.winFrom, to - this.winFrom);
    this.o += to - from;
  }

  /** Writes ASCII text to the output. */
  ascii(s: string): void {
    const b = this.buf;
    let o = this.o;
    for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
    this.o = o;
  }

  /** Writes `n` spaces to the output. */
  spaces(n: number): void {
    const b = this.buf;
    let o = this.o;
    for (let i = 0; i < n; i++) b[o++] = 0x20;
    this.o = o;
  }

  /** The output not yet passed on, if any. */
  finish(): Buffer | undefined {
    const done = this.o > this.wcap ? this.buf.subarray(this.wcap, this.o) : undefined;
    this.wcap = this.o = this.buf.length;
    return done;
  }
}
