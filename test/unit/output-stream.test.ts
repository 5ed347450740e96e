// #21: the --json document of a list read as it is written (a database store's summary texts,
// fetched as they are needed): the writer waits for bytes being fetched, and a fetch that fails
// half way is a clear error with its exit code, never a crash or a document that looks whole.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import test from "node:test";
import { Output } from "../../src/cli/output.js";
import { envError } from "../../src/core/errors.js";

function output() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const text = { out: "", err: "" };
  stdout.on("data", (b: Buffer) => (text.out += b.toString()));
  stderr.on("data", (b: Buffer) => (text.err += b.toString()));
  const out = new Output(stdout as unknown as NodeJS.WriteStream, stderr as unknown as NodeJS.WriteStream, {});
  out.configure({ json: true, quiet: false, color: false });
  out.command = "list";
  return { out, text };
}

/** A streamed list whose elements' text comes in `pieces` (a function: a promise among them is made only when reached). */
function listOf(length: number, pieces: () => Generator<Uint8Array | Promise<void>>) {
  return { length, ready: async () => {}, *[Symbol.iterator]() {}, rawJson: () => pieces() };
}

const later = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test("#21 bytes after a piece being fetched are written after it, and the document is whole", async () => {
  const { out, text } = output();
  const order: string[] = [];
  out.result(
    {
      certificates: listOf(2, function* () {
        yield Buffer.from('{"n": 1}');
        yield later(20).then(() => void order.push("fetched"));
        order.push("asked");
        yield Buffer.from(',\n      {"n": 2}');
      }),
    },
    () => "",
  );
  assert.equal(await out.finish(), 0);
  assert.deepEqual(order, ["fetched", "asked"]);
  assert.deepEqual(JSON.parse(text.out).result.certificates, [{ n: 1 }, { n: 2 }]);
});

test("#21 a fetch that fails half way: the error on stderr with its exit code, and the document is left broken, not closed as if whole", async () => {
  const { out, text } = output();
  const unhandled: unknown[] = [];
  const seen = (err: unknown) => unhandled.push(err);
  process.on("unhandledRejection", seen);
  try {
    out.result(
      {
        certificates: listOf(2, function* () {
          yield Buffer.from('{"n": 1}');
          yield (async () => {
            throw envError("ERR_STORE_CHANGED", "the summary was replaced while it was read", "run the command again");
          })();
          yield Buffer.from(',\n      {"n": 2}');
        }),
      },
      () => "",
    );
    assert.equal(await out.finish(), 5);
    await later(10);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", seen);
  }
  assert.match(text.err, /^error: the summary was replaced while it was read\n {2}hint: run the command again\n$/);
  assert.throws(() => JSON.parse(text.out));
  assert.doesNotMatch(text.out, /"n": 2/);
});

test("a result that cannot be serialised at all (nested past the stack) still leaves one JSON document: the error's", async () => {
  const { out, text } = output();
  let deep: Record<string, unknown> = { n: 1 };
  for (let i = 0; i < 200_000; i++) deep = { a: deep };
  out.result({ manifest: deep }, () => "");
  const code = await out.finish();
  assert.equal(code, 70);
  const doc = JSON.parse(text.out);
  assert.equal(doc.ok, false);
  assert.equal(doc.error.code, "ERR_INTERNAL");
  assert.equal(doc.result, undefined);
});
