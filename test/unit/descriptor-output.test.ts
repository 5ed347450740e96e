// #21: standard output and error go straight to a pipe or file descriptor without building
// Node's stream; a terminal, a full non-blocking pipe or any other need gets the real stream.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { closeSync, constants, openSync, readFileSync, readSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import test from "node:test";
import { DescriptorOutput } from "../../src/cli/descriptor-output.js";

/** A stand-in for process.stdout that records whether it was built and what it was given. */
function fakeStream() {
  const chunks: Buffer[] = [];
  let built = 0;
  const s = new PassThrough();
  s.on("data", (c: Buffer) => chunks.push(c));
  const open = () => {
    built++;
    return Object.assign(s, { isTTY: true }) as unknown as NodeJS.WriteStream;
  };
  return { open, built: () => built, text: () => Buffer.concat(chunks).toString() };
}

async function fifo(t: test.TestContext): Promise<{ reader: number; path: string }> {
  const dir = await mkdtemp(join(tmpdir(), "mtls-fd-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "fifo");
  const r = spawnSync("mkfifo", [path]);
  if (r.status !== 0) t.skip("mkfifo is not available");
  return { reader: openSync(path, constants.O_RDONLY | constants.O_NONBLOCK), path };
}

function drain(fd: number): string {
  const buf = Buffer.alloc(1 << 20);
  let text = "";
  for (;;) {
    try {
      const n = readSync(fd, buf);
      if (n === 0) return text;
      text += buf.toString("utf8", 0, n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") return text;
      throw err;
    }
  }
}

test("a pipe is written directly, in order, and Node's stream is never built", async (t) => {
  const { reader, path } = await fifo(t);
  const fd = openSync(path, constants.O_WRONLY);
  const s = fakeStream();
  const out = new DescriptorOutput(fd, s.open);
  assert.equal(out.isTTY, false);
  out.write("serial  partner\n");
  const done = await new Promise((resolve) => out.write(Buffer.from("ab12    acme ✔\n"), resolve));
  assert.equal(done, undefined, "the callback follows the write, without an error");
  assert.equal(out.writableLength, 0);
  assert.equal(drain(reader), "serial  partner\nab12    acme ✔\n");
  assert.equal(s.built(), 0);
  closeSync(fd);
  closeSync(reader);
});

test("a pipe whose reader went away (EPIPE) drops the rest quietly, as the stream did", async (t) => {
  const { reader, path } = await fifo(t);
  const fd = openSync(path, constants.O_WRONLY);
  closeSync(reader);
  const s = fakeStream();
  const out = new DescriptorOutput(fd, s.open);
  assert.equal(out.destroyed, false);
  assert.equal(out.write("first\n"), false);
  assert.equal(out.destroyed, true, "destroyed, as the stream is after EPIPE");
  const err = await new Promise((resolve) => out.write("second\n", resolve));
  assert.ok(err instanceof Error, "a later write's callback gets an error");
  assert.equal(s.built(), 0);
  closeSync(fd);
});

test("a full non-blocking pipe (EAGAIN) hands the rest, and every later write, to the stream", async (t) => {
  const { reader, path } = await fifo(t);
  const fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  const s = fakeStream();
  const out = new DescriptorOutput(fd, s.open);
  const big = "x".repeat(300_000);
  out.write(big);
  out.write("after\n");
  const direct = drain(reader);
  assert.ok(direct.length > 0 && direct.length < big.length, `the pipe took ${direct.length} bytes`);
  assert.equal(s.built(), 1);
  assert.equal(direct + s.text(), `${big}after\n`);
  closeSync(fd);
  closeSync(reader);
});

test("a file and /dev/null are written directly; another character device (a terminal, /dev/zero) gets the stream", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mtls-fd-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, "out.txt");
  const fd = openSync(file, "w");
  const s = fakeStream();
  new DescriptorOutput(fd, s.open).write("to a file\n");
  closeSync(fd);
  assert.equal(readFileSync(file, "utf8"), "to a file\n");
  assert.equal(s.built(), 0);

  const nul = openSync("/dev/null", "w");
  const n = fakeStream();
  const discard = new DescriptorOutput(nul, n.open);
  assert.equal(discard.isTTY, false);
  discard.write("to nowhere\n");
  assert.equal(n.built(), 0, "/dev/null needs no stream");
  closeSync(nul);

  const zero = openSync("/dev/zero", "w");
  const d = fakeStream();
  const dev = new DescriptorOutput(zero, d.open);
  assert.equal(dev.isTTY, true, "isTTY is the stream's");
  dev.write("to the stream\n");
  assert.equal(d.text(), "to the stream\n");
  closeSync(zero);
});

test("as a stream: write and isTTY are its own, anything else is Node's stream's", async (t) => {
  const { reader, path } = await fifo(t);
  const fd = openSync(path, constants.O_WRONLY);
  const s = fakeStream();
  const ws = new DescriptorOutput(fd, s.open).asWriteStream();
  ws.write("direct\n");
  assert.equal(ws.isTTY, false);
  assert.equal(s.built(), 0);
  let errors = 0;
  ws.on("error", () => errors++);
  assert.equal(s.built(), 1, "on() built the stream");
  ws.write("now through the stream\n");
  assert.equal(drain(reader), "direct\n");
  assert.equal(s.text(), "now through the stream\n", "once built, the stream takes every write");
  assert.equal(errors, 0);
  closeSync(fd);
  closeSync(reader);
});
