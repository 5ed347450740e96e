// The command functions called directly with a context, no argv and no spawned node: what the
// CLI prints is built from these typed results.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import test from "node:test";
import { runDoctorCommand } from "../../src/cli/commands/doctor.js";
import { runList } from "../../src/cli/commands/list.js";
import { runPartnerAdd } from "../../src/cli/commands/partner/add.js";
import { runIssue, runIssueBatch } from "../../src/cli/commands/partner/issue.js";
import { runOffboard } from "../../src/cli/commands/partner/offboard.js";
import { runPartnerShow } from "../../src/cli/commands/partner/show.js";
import { runReport } from "../../src/cli/commands/report.js";
import { runRevoke } from "../../src/cli/commands/revoke.js";
import { runStatus } from "../../src/cli/commands/status.js";
import { CliContext } from "../../src/cli/context.js";
import { makeCsr } from "../helpers/csr.js";
import { initTempCa, PASSPHRASE } from "../helpers/run.js";

function contextIn(dir: string): { ctx: CliContext; stdout: () => string } {
  const chunks: Buffer[] = [];
  const out = new PassThrough();
  out.on("data", (c: Buffer) => chunks.push(c));
  const ctx = new CliContext({
    argv: ["node", "mtls"],
    env: { PATH: process.env.PATH ?? "", NO_COLOR: "1", MTLS_CA_PASSPHRASE: PASSPHRASE },
    cwd: () => dir,
    stdin: new PassThrough() as unknown as NodeJS.ReadStream,
    stdout: out as unknown as NodeJS.WriteStream,
    stderr: new PassThrough() as unknown as NodeJS.WriteStream,
  });
  ctx.applyGlobals({ ...ctx.globals, yes: true, input: false });
  return { ctx, stdout: () => Buffer.concat(chunks).toString() };
}

test("issue, list, revoke and status as functions over one context", async (t) => {
  const dir = await initTempCa(t);
  const { ctx, stdout } = contextIn(dir);
  const { csr } = await makeCsr(dir, "acme-client");

  const issued = await runIssue(ctx, { partnerId: "acme", csr, san: ["dns:client.acme.example"] });
  assert.equal(issued.partnerId, "acme");
  assert.equal(issued.source, "csr");
  assert.deepEqual(issued.sans, ["dns:client.acme.example"]);
  assert.match(await readFile(issued.certPath, "utf8"), /BEGIN CERTIFICATE/);

  const listed = await runList(ctx, { partner: "acme" });
  assert.deepEqual(
    listed.certificates.map((c) => [c.serial, c.status]),
    [[issued.serial, "valid"]],
  );

  const healthy = await runStatus(ctx, {});
  assert.equal(healthy.healthy, true, JSON.stringify(healthy.problems));
  assert.equal(healthy.certificates.valid, 1);

  const revoked = await runRevoke(ctx, { serial: issued.serial, reason: "keyCompromise" });
  assert.equal(revoked.revoked[0]?.serial, issued.serial);
  assert.equal((await runList(ctx, { status: "revoked" })).certificates[0]?.serial, issued.serial);
  assert.equal((await runStatus(ctx, {})).certificates.revoked, 1);
  const shown = await runPartnerShow(ctx, { partnerId: "acme" });
  assert.deepEqual(
    shown.certificates.map((c) => c.status),
    ["revoked"],
  );
  const updated = await runPartnerAdd(ctx, { partnerId: "acme", name: "Acme Payments" });
  assert.equal(updated.created, false, "acme was registered by its first certificate");
  assert.equal(updated.partner.name, "Acme Payments");
  const report = await runReport(ctx, { html: "report.html" });
  assert.equal(report.path, join(dir, "report.html"));
  assert.match(await readFile(report.path, "utf8"), /Acme Payments/);
  const doctor = await runDoctorCommand(ctx, {});
  assert.equal(doctor.healthy, true, JSON.stringify(doctor.problems));
  assert.equal(doctor.checked.revocations, 2, "the CA's canary and acme's certificate");
  assert.equal(stdout(), "", "the functions return results; printing is the command's part");

  // Bad input fails with the same typed errors the CLI maps to exit codes.
  await assert.rejects(runRevoke(ctx, { serial: issued.serial }), (e: Error & { exit?: number }) => e.exit === 4);
  await assert.rejects(runList(ctx, { expiringWithin: "soon" }), (e: Error & { exit?: number }) => e.exit !== undefined && e.exit !== 70);
});

test("issue --batch as a function: one outcome per line", async (t) => {
  const dir = await initTempCa(t);
  const { ctx } = contextIn(dir);
  const { csr } = await makeCsr(dir, "beta-client");
  const file = join(dir, "batch.jsonl");
  const { writeFile } = await import("node:fs/promises");
  await writeFile(file, `${JSON.stringify({ partner: "beta", csr })}\n{"partner":"../evil","csr":"x.csr"}\n`);
  const r = await runIssueBatch(ctx, { batch: file });
  assert.equal(r.issued, 1, JSON.stringify(r.results));
  assert.equal(r.failed, 1);
  assert.deepEqual(
    r.results.map((x) => x.ok),
    [true, false],
  );
  const off = await runOffboard(ctx, { partnerId: "beta" });
  assert.deepEqual(
    off.revoked.map((x) => x.serial),
    [r.results[0]?.serial],
  );
});
