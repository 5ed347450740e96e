// #21: bundles are zipped by our own writer (archiver cost ~25 ms of CPU to load). Info-ZIP's
// unzip and Python's zipfile must read what it writes, with the modes, and our reader too.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { makeZip, readZip } from "../../src/core/bundle/zip.js";

const have = (cmd: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

const ENTRIES = [
  { name: "partner.key", data: Buffer.from("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"), mode: 0o600 },
  { name: "README.txt", data: Buffer.from("Déjà vu: UTF-8 content\n"), mode: 0o644 },
  { name: "empty.txt", data: Buffer.alloc(0), mode: 0o644 },
  { name: "certificate.pem", data: Buffer.alloc(70_000, 0x41), mode: 0o644 },
];

test("makeZip: deterministic, sorted, read back by our reader with modes", async () => {
  const a = await makeZip(ENTRIES);
  const b = await makeZip([...ENTRIES].reverse());
  assert.ok(a.equals(b), "the same entries in another order give the same bytes");
  const back = readZip(a);
  assert.deepEqual(
    back.map((e) => e.name),
    ["README.txt", "certificate.pem", "empty.txt", "partner.key"],
  );
  for (const e of ENTRIES) {
    const got = back.find((x) => x.name === e.name);
    assert.ok(got?.data.equals(e.data), e.name);
    assert.equal(got?.mode, e.mode, e.name);
  }
});

test("makeZip: unzip -t and Python's zipfile accept it; unzip restores the modes", { skip: !have("unzip") && "unzip is not installed" }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mtls-zip-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const zip = join(dir, "b.zip");
  await writeFile(zip, await makeZip(ENTRIES));
  assert.match(execFileSync("unzip", ["-t", zip], { encoding: "utf8" }), /No errors detected/);
  execFileSync("unzip", ["-q", zip, "-d", join(dir, "out")]);
  for (const e of ENTRIES) {
    assert.ok((await readFile(join(dir, "out", e.name))).equals(e.data), e.name);
    assert.equal((await stat(join(dir, "out", e.name))).mode & 0o777, e.mode, e.name);
  }
  assert.match(execFileSync("zipinfo", [zip], { encoding: "utf8" }), /-rw------- .* partner\.key/);
  if (have("python3")) {
    const py =
      "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(sorted(i.filename for i in z.infolist()), [i.date_time for i in z.infolist()][0])";
    assert.equal(
      execFileSync("python3", ["-c", py, zip], { encoding: "utf8" }).trim(),
      "['README.txt', 'certificate.pem', 'empty.txt', 'partner.key'] (2020, 1, 1, 0, 0, 0)",
    );
  }
});
