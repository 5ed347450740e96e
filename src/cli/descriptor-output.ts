// process.stdout and process.stderr without building them where a write can go straight to the
// descriptor (#21). For a pipe, what scripts and CI give a command, Node builds a net.Socket and
// with it net and the stream modules: ~1.5 ms of CPU on a 60 ms start, for a few hundred bytes.
import { fstatSync, statSync, writeSync } from "node:fs";

type WriteDone = (err?: Error | null) => void;

/** What this object answers itself; anything else is the stream's. */
const OWN = new Set(["write", "isTTY", "destroyed", "writableLength"]);

/**
 * A pipe, a file, a socket or /dev/null (a cron job's output) takes write(2) as it is; a terminal
 * gets Node's stream. /dev/null is a character device, as a terminal is: it is told by its device
 * number, which costs a stat where building the stream to ask isTTY costs ~2 ms.
 */
function writesDirectly(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFIFO() || st.isFile() || st.isSocket() || (st.isCharacterDevice() && st.rdev === statSync("/dev/null").rdev);
  } catch {
    return false;
  }
}

/**
 * Standard output or error, written with writeSync while the descriptor takes it, as Node's own
 * stream does for pipes and files on Linux; Node's stream is built only for a terminal, for
 * anything else asked of it (`on`, `columns`, …), or when a non-blocking descriptor is full
 * (EAGAIN), and then takes every later write, so output stays in order. A write that fails for
 * good (ENOSPC, EIO) drops the rest and is reported through `onError`; EPIPE just drops the rest.
 */
export class DescriptorOutput {
  private stream: NodeJS.WriteStream | undefined;
  private readonly direct: boolean;
  /** The reader went away (`mtls list | head -1`): the rest is dropped, as Node's stream does. */
  private closed = false;

  constructor(
    private readonly fd: number,
    private readonly open: () => NodeJS.WriteStream,
    /** A write that failed for good (a full disk, an I/O error): the output is lost, and the command must say so. */
    private readonly onError: (err: NodeJS.ErrnoException) => void = () => {},
  ) {
    this.direct = writesDirectly(fd);
  }

  /** Node's stream for the descriptor, built on first use. */
  real(): NodeJS.WriteStream {
    this.stream ??= this.open();
    return this.stream;
  }

  get isTTY(): boolean {
    return this.direct ? false : Boolean(this.real().isTTY);
  }

  /** As the stream's: true once the reader went away. */
  get destroyed(): boolean {
    return this.stream ? this.stream.destroyed : this.closed;
  }

  /** As the stream's: bytes queued, none while writes go straight to the descriptor. */
  get writableLength(): number {
    return this.stream ? this.stream.writableLength : 0;
  }

  /** As the stream's write: `done` is called once the chunk is written (with the error if it was not). */
  write(chunk: string | Uint8Array, encodingOrDone?: BufferEncoding | WriteDone, done?: WriteDone): boolean {
    const encoding = typeof encodingOrDone === "string" ? encodingOrDone : undefined;
    const cb = typeof encodingOrDone === "function" ? encodingOrDone : done;
    if (!this.direct || this.stream) return encoding ? this.real().write(chunk, encoding, cb) : this.real().write(chunk, cb);
    if (this.closed) return this.after(cb, new Error("write after the reader went away (EPIPE)"));
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    let written = 0;
    try {
      while (written < bytes.length) written += writeSync(this.fd, bytes, written);
      return this.after(cb);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A non-blocking descriptor that is full: Node's stream waits for it to drain.
      if (code === "EAGAIN") return this.real().write(bytes.subarray(written), cb);
      this.closed = true;
      if (code !== "EPIPE") this.onError(err as NodeJS.ErrnoException);
      return this.after(cb, err as Error);
    }
  }

  /** Calls a write's callback later, as a stream does; false for a write that went nowhere. */
  private after(cb: WriteDone | undefined, err?: Error): boolean {
    if (cb) process.nextTick(cb, err);
    return err === undefined;
  }

  /**
   * This object where a stream is expected: `write`, `isTTY`, `destroyed` and `writableLength`
   * are its own, everything else is Node's stream's, so code that needs more gets the real thing.
   */
  asWriteStream(): NodeJS.WriteStream {
    const own = (key: string | symbol) => typeof key === "string" && OWN.has(key);
    return new Proxy(this, {
      get: (target, key) => {
        if (key === "write") return target.write.bind(target);
        if (own(key)) return Reflect.get(target, key, target);
        const s = target.real();
        const value = Reflect.get(s, key, s);
        return typeof value === "function" ? value.bind(s) : value;
      },
      set: (target, key, value) => (own(key) ? false : Reflect.set(target.real(), key, value)),
      has: (target, key) => own(key) || Reflect.has(target.real(), key),
    }) as unknown as NodeJS.WriteStream;
  }
}
