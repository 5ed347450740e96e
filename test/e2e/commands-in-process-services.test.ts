// The commands that need a peer of their own, as functions: the demo (its own CA, gateway and
// probe), import-to-token against a SoftHSM2 token, and the database store's init and migrate
// against a PostgreSQL cluster this file starts. Each is skipped, with its reason, when its peer is missing.
import assert from "node:assert/strict";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { runCaInit } from "../../src/cli/commands/ca/init.js";
import { runCaKeyImportToToken } from "../../src/cli/commands/ca/key/import-to-token.js";
import { runDemo } from "../../src/cli/commands/demo.js";
import { runIssue } from "../../src/cli/commands/partner/issue.js";
import { runStoreInit } from "../../src/cli/commands/store/init.js";
import { runStoreMigrate } from "../../src/cli/commands/store/migrate.js";
import { makeCsr } from "../helpers/csr.js";
import { CA_INIT_DEFAULTS, commandContext } from "../helpers/in-process.js";
import { fileCluster, pgSkipReason } from "../helpers/postgres.js";
import { opensslVerifyWithCrl, snapshot, tempDir } from "../helpers/run.js";
import { softHsm, softhsmMissing, TOKEN_PIN } from "../helpers/softhsm.js";

const exitOf = (code: number) => (e: Error & { exit?: number }) => e.exit === code;

test("demo as a function: every step passes, narrated on the context's stdout", async (t) => {
  const dir = await tempDir(t, "mtls-inproc-demo-");
  const { ctx, stdout } = commandContext(dir);
  const demo = await runDemo(ctx, { dir: "demo" });
  assert.equal(demo.ok, true, JSON.stringify(demo.steps.filter((s) => !s.ok)));
  assert.equal(demo.dir, join(dir, "demo"));
  assert.equal(demo.steps.length, 13);
  assert.match(stdout(), /^9\. Probe the gateway.*\n\s+\$ mtls probe /m);
  await mkdir(join(dir, "busy"));
  await writeFile(join(dir, "busy", "x"), "x");
  await assert.rejects(runDemo(ctx, { dir: "busy" }), exitOf(4));
});

test("ca key import-to-token as a function: the CA then signs from the token", { skip: softhsmMissing() ?? false }, async (t) => {
  const hsm = await softHsm(t);
  await hsm.addToken("inproc");
  // The PKCS#11 module reads its configuration from this process's environment.
  process.env.SOFTHSM2_CONF = hsm.conf;
  const dir = await tempDir(t, "mtls-inproc-token-");
  const { ctx } = commandContext(dir, { MTLS_PKCS11_PIN: TOKEN_PIN });
  await runCaInit(ctx, CA_INIT_DEFAULTS);
  const imported = await runCaKeyImportToToken(ctx, { keyStore: hsm.uri("inproc") });
  assert.deepEqual(imported.imported.map((i) => [i.role, i.fileRemoved]).sort(), [
    ["intermediate", false],
    ["root", false],
  ]);
  for (const i of imported.imported) assert.match(i.keyUri, /^pkcs11:token=inproc;/);
  await assert.rejects(runCaKeyImportToToken(ctx, { keyStore: hsm.uri("inproc") }), exitOf(4));
  const { csr } = await makeCsr(dir, "tok");
  const issued = await runIssue(ctx, { partnerId: "tok", csr });
  const v = await opensslVerifyWithCrl(join(dir, "pki"), issued.chainPath);
  assert.equal(v.exitCode, 0, v.stdout + v.stderr);
});

const pg = fileCluster();

test("store init and store migrate as functions, against PostgreSQL", { skip: pgSkipReason() ?? false }, async (t) => {
  const dir = await tempDir(t, "mtls-inproc-store-");
  const { ctx } = commandContext(dir);
  await assert.rejects(runStoreInit(ctx, { store: join(dir, "pki") }), exitOf(2));
  const db = await (await pg()).newStore("inproc");
  const storePasswordFile = join(dir, "db.pass");
  await writeFile(storePasswordFile, `${db.password}\n`, { mode: 0o600 });
  const created = await runStoreInit(ctx, { store: db.url, storeFromArgv: true, storePasswordFile });
  assert.equal(created.from, 0);
  assert.ok(created.to >= 1 && created.applied.length === created.to, JSON.stringify(created));
  const again = await runStoreInit(ctx, { store: db.url, storePasswordFile });
  assert.deepEqual([again.from, again.applied], [created.to, []]);

  await runCaInit(ctx, CA_INIT_DEFAULTS);
  const { csr } = await makeCsr(dir, "mig");
  await runIssue(ctx, { partnerId: "mig", csr });
  const before = await snapshot(join(dir, "pki"));
  const up = await runStoreMigrate(ctx, { from: "pki", to: db.url, storePasswordFile });
  assert.equal(up.certificates, 1);
  await assert.rejects(runStoreMigrate(ctx, { from: "pki", to: db.url, storePasswordFile }), exitOf(4));
  const down = await runStoreMigrate(ctx, { from: db.url, to: "back", storePasswordFile });
  assert.equal(down.files, up.files);
  assert.deepEqual(await snapshot(join(dir, "back")), before, "the directory form comes back byte for byte");
});
