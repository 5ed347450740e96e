import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, json, mtls } from "../helpers/run.js";

test("20 concurrent `partner issue` processes all succeed with 20 distinct serials and 20 index entries", async (t) => {
  const dir = await initTempCa(t);
  // One CSR for all; --cn gives each partner an identity of its own (#12: a CN has one owner).
  const { csr } = await makeCsr(dir, "shared");
  const runs = await Promise.all(
    Array.from({ length: 20 }, (_, i) => mtls(["partner", "issue", `p${i}`, "--csr", csr, "--cn", `p${i}-client`, "--json"], { cwd: dir, timeoutMs: 120_000 })),
  );
  for (const r of runs) assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const serials = runs.map((r) => json(r).result.serial);
  assert.equal(new Set(serials).size, 20);
  const index = (await readFile(join(dir, "pki/index.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(index.length, 20);
  assert.deepEqual(new Set(index.map((r: { serial: string }) => r.serial)), new Set(serials));
  const partners = JSON.parse(await readFile(join(dir, "pki/partners.json"), "utf8")).partners;
  assert.equal(Object.keys(partners).length, 20);
  const certs = await readdir(join(dir, "pki/certs"));
  assert.equal(certs.filter((f) => f.endsWith(".chain.pem")).length, 20);
  // Nothing left behind: no lock, no temp or backup files.
  const stray = (await readdir(join(dir, "pki"), { recursive: true })).filter((f) => /\.lock(\.break)?$|\.tmp-|\.bak-/.test(f));
  assert.deepEqual(stray, []);
});
