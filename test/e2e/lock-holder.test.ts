// A lock record names its holder by the fields it has: one written by an older release or by
// hand may lack what the holder was doing and since when, and the message then leaves them out.
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { initTempCa, json, mtls } from "../helpers/run.js";

test("doctor names a stale lock whose record lacks what it was doing and since when, without 'undefined'", async (t) => {
  const dir = await initTempCa(t);
  // A pid no process has here (above the kernel's pid_max limit).
  await writeFile(join(dir, "pki/.lock"), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
  const r = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 1, r.stdout + r.stderr);
  const lock = json(r).result.problems.find((p: { check: string }) => p.check === "lock");
  assert.equal(lock?.message, `a stale lock from pid ${2 ** 22 + 12345} on ${hostname()}, a process that no longer runs`);
});
