// #13: seeded random garbage written into each store file in turn. Every read and write command
// ends with a clear error or succeeds (never exit 70, the code for a bug), and `doctor` names
// the damaged file. Replay a failure with MTLS_TEST_SEED.
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { after, test } from "node:test";
import { mtls, run } from "../helpers/run.js";
import { cloneFixture, type Fixture, sharedFixture, storeFiles } from "../helpers/store-fixture.js";

const fixture = sharedFixture(after);

/** mulberry32: a small seeded PRNG, so a failing case replays exactly. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutation = (bytes: Buffer, r: () => number) => Buffer;
const randomBytes = (n: number, r: () => number) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
const MUTATIONS: Record<string, Mutation> = {
  "random bytes": (_b, r) => randomBytes(1 + Math.floor(r() * 300), r),
  "a garbage line": (b, r) => {
    const lines = b.toString("latin1").split("\n");
    lines.splice(
      Math.floor(r() * lines.length),
      0,
      randomBytes(1 + Math.floor(r() * 40), r)
        .toString("latin1")
        .replace(/\n/g, " "),
    );
    return Buffer.from(lines.join("\n"), "latin1");
  },
  "JSON null": () => Buffer.from("null\n"),
  "empty object": () => Buffer.from("{}\n"),
  // Cut inside a line: a journal cut at a line boundary is a shorter journal, not a damaged one.
  "cut short": (b, r) => {
    let at = 1 + Math.floor(r() * (b.length - 1));
    while (at > 1 && b[at - 1] === 0x0a) at--;
    return b.subarray(0, at);
  },
  "bytes flipped": (b, r) => {
    const out = Buffer.from(b);
    for (let i = 0; i < 1 + Math.floor(r() * 8); i++) {
      const at = Math.floor(r() * out.length);
      out[at] = (out[at] as number) ^ (1 + Math.floor(r() * 255));
    }
    return out;
  },
};

/** A JSON value's keys and kinds, without its values. */
const shapeOf = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(shapeOf)
    : v !== null && typeof v === "object"
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, shapeOf((v as Record<string, unknown>)[k])]),
        )
      : v === null
        ? "null"
        : typeof v;

/** Each line of a JSON Lines file, or the whole of a JSON file, parsed; undefined when one does not parse. */
function parsedJson(file: string, bytes: Buffer): unknown[] | undefined {
  const text = bytes.toString("utf8");
  try {
    return file.endsWith(".json") ? [JSON.parse(text)] : text.split("\n").map((l) => JSON.parse(l || "null"));
  } catch {
    return undefined;
  }
}

/**
 * Damage doctor cannot be asked to name: a JSON file still holding every key with a value of the
 * same kind (whitespace, a digit of a number, a letter of a name or a path) is a store holding
 * other values, not a broken one, and may show only where it leads (a flipped publish path: CRLs
 * missing there). The values each record may hold are tested one by one (store-integrity,
 * record-checks, config-check). In the audit log only the newest record can change so (its
 * details' names included): every other one is covered by the next one's hash. Any other change
 * (a key renamed, a value of another kind, anything that does not parse) must be named, and no
 * damage may make a command exit 70.
 */
function mayBeUnnoticed(file: string, original: Buffer, damaged: Buffer): boolean {
  // An audit record's details are free-form facts, their names chosen by the action.
  const facts = (records: unknown[] | undefined) =>
    file === "audit.log" ? records?.map((r) => (r !== null && typeof r === "object" && "details" in r ? { ...r, details: "facts" } : r)) : records;
  const [a, b] = [facts(parsedJson(file, original)), facts(parsedJson(file, damaged))];
  if (a === undefined || b === undefined || JSON.stringify(shapeOf(a)) !== JSON.stringify(shapeOf(b))) return false;
  if (file !== "audit.log") return true;
  const lines = (bytes: Buffer) => bytes.toString("latin1").trimEnd().split("\n");
  const [before, after] = [lines(original), lines(damaged)];
  return before.slice(0, -1).join("\n") === after.slice(0, -1).join("\n");
}

const commands = (f: Fixture): string[][] => [
  ["list"],
  ["status"],
  ["crl", "show"],
  ["audit", "verify"],
  ["partner", "issue", "alpha", "--csr", "alpha.csr"],
  ["revoke", f.serials.beta, "--yes"],
  ["crl", "publish"],
  ["doctor", "--fix"],
];

async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all([worker(), worker()]);
}

test("#13 garbage in any store file: no command exits 70, and doctor names the file", async (t) => {
  const f = await fixture();
  const seed = Number(process.env.MTLS_TEST_SEED ?? Date.now() % 1_000_000);
  t.diagnostic(`seed ${seed} (replay with MTLS_TEST_SEED=${seed})`);
  const random = rng(seed);
  const files = (await storeFiles(f.dir)).map((p) => relative(join(f.dir, "pki"), p)).filter((p) => !p.startsWith(".lock"));
  const names = Object.keys(MUTATIONS);
  const cases = files.map((file) => ({ file, mutation: names[Math.floor(random() * names.length)] as string, seed: Math.floor(random() * 2 ** 31) }));
  await pool(cases, async ({ file, mutation, seed: s }) => {
    const dir = await cloneFixture(t, f);
    const path = join(dir, "pki", file);
    const original = await readFile(path);
    const damaged = (MUTATIONS[mutation] as Mutation)(original, rng(s));
    if (damaged.equals(original)) return;
    await writeFile(path, damaged);
    const label = `${file} (${mutation})`;
    const doctor = await mtls(["doctor", "--json"], { cwd: dir });
    assert.notEqual(doctor.exitCode, 70, `doctor, ${label}: ${doctor.stdout}${doctor.stderr}`);
    if (!mayBeUnnoticed(file, original, damaged)) {
      assert.ok(doctor.exitCode !== 0, `doctor, ${label}: exit ${doctor.exitCode} ${doctor.stdout}${doctor.stderr}`);
      const named = file.split("/").pop() as string;
      assert.ok(doctor.stdout.includes(named), `doctor does not name ${label}: ${doctor.stdout}${doctor.stderr}`);
    }
    for (const cmd of commands(f)) {
      const r = await mtls([...cmd, "--json"], { cwd: dir });
      assert.notEqual(r.exitCode, 70, `${cmd.join(" ")}, ${label}: ${r.stdout}${r.stderr}`);
      assert.doesNotThrow(() => JSON.parse(r.stdout), `${cmd.join(" ")}, ${label}: --json output is not JSON`);
    }
  });
  t.diagnostic(`${cases.length} files damaged in turn: ${cases.map((c) => `${c.file} (${c.mutation})`).join(", ")}`);
});

test("#13 a FIFO in place of a store file: no command waits on it; each names the file (exit 5) or does without it", async (t) => {
  const f = await fixture();
  const files = ["config.json", "index.jsonl", "index.jsonl.summary", "revocations.jsonl", "audit.log"];
  await pool(files, async (file) => {
    const dir = await cloneFixture(t, f);
    const path = join(dir, "pki", file);
    await rm(path, { force: true });
    const made = await run("mkfifo", [path]);
    assert.equal(made.exitCode, 0, made.stderr);
    for (const cmd of [["list"], ["status"], ["audit", "verify"], ["revoke", f.serials.beta, "--yes"], ["doctor"]]) {
      // A command blocked on the FIFO is killed at the timeout (exit 128): the failure this test is about.
      const r = await mtls([...cmd, "--json"], { cwd: dir, timeoutMs: 20_000 });
      const label = `${cmd.join(" ")} with a FIFO at ${file}`;
      assert.notEqual(r.exitCode, 128, `${label} hung`);
      assert.notEqual(r.exitCode, 70, `${label}: ${r.stdout}${r.stderr}`);
      const doc = JSON.parse(r.stdout);
      if (doc.error) {
        assert.equal(r.exitCode, 5, `${label}: ${r.stdout}`);
        assert.match(doc.error.message, new RegExp(`${file.replace(".", "\\.")} is not a regular file`), label);
      }
    }
    // `list` reads config.json and the index; the summary is a cache it does without.
    const list = await mtls(["list", "--json"], { cwd: dir, timeoutMs: 20_000 });
    assert.equal(list.exitCode, file === "config.json" || file === "index.jsonl" ? 5 : 0, list.stdout);
  });
});
