// #18: CA rollover against real peers. One CA hierarchy for the whole file, walked through the
// runbook in order: intermediate renewal, root rollover start, revocations in both hierarchies,
// the rendered nginx / HAProxy / Apache configurations (each started once), finish, reload.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { cp, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { after, before } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { apacheBin, apacheGlobals, freePort, haveApache, haveHaproxy, haveNginx, startProcess } from "../helpers/gateways.js";
import { BIN, baseEnv, have, json, mtls, openssl, PASSPHRASE, snapshot } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

let dir: string;
const pki = (...p: string[]) => join(dir, "pki", ...p);
const partners: Record<string, { key: string; chain: string; serial: string; issuer: string }> = {};

async function issue(name: string): Promise<void> {
  const { csr, key } = await makeCsr(dir, name, { subj: `/O=Partner/CN=${name}` });
  const chain = join(dir, `${name}.chain.pem`);
  const r = await mtls(["partner", "issue", name, "--csr", csr, "--out", chain, "--force", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const rec = (await readFile(pki("index.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .findLast((x) => x.serial === json(r).result.serial);
  partners[name] = { key, chain, serial: json(r).result.serial, issuer: rec.issuer };
}

/** openssl verify of a partner's leaf (first certificate of its chain file). */
async function verify(leafOf: string, caFile: string, untrusted: string[], crl = false) {
  const leaf = join(dir, `${leafOf}.leaf.pem`);
  const pem = await readFile(partners[leafOf]?.chain as string, "utf8");
  await writeFile(leaf, `${pem.split("-----END CERTIFICATE-----")[0]}-----END CERTIFICATE-----\n`);
  const u = untrusted.flatMap((f) => ["-untrusted", f]);
  const c = crl ? ["-crl_check_all", "-CRLfile", pki("crl/crl-bundle.pem")] : [];
  return openssl(["verify", "-purpose", "sslclient", ...c, "-CAfile", caFile, ...u, leaf]);
}

const issuingChain = async (name: string) => {
  const f = join(dir, `${name}.int.pem`);
  const pem = await readFile(partners[name]?.chain as string, "utf8");
  await writeFile(f, pem.slice(pem.indexOf("-----END CERTIFICATE-----") + 26));
  return f;
};

// The gateways live for the whole file: started before the first rollover step, stopped at the end.
const cleanups: Array<() => Promise<void> | void> = [];
const fileContext = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) } as unknown as import("node:test").TestContext;
type Running = Awaited<ReturnType<typeof startRendered>>;
const gws: Running[] = [];
let srv: { cert: string; key: string };
const kinds = (["nginx", "haproxy", "apache"] as const).filter((k) => ({ nginx: haveNginx, haproxy: haveHaproxy, apache: haveApache })[k]());
const noGateways = !have("curl") ? "curl is not installed" : kinds.length === 0 ? "none of nginx, HAProxy, Apache is installed" : false;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-rollover-"));
  const r = await mtls(["ca", "init", "--name", "Roll", "--org", "Roll Org", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  await issue("old1");
  await issue("old2");
  await issue("old3");
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  await rm(dir, { recursive: true, force: true });
});

test("a store without rollover state stays format 1 and reports no rollover", async () => {
  const config = JSON.parse(await readFile(pki("config.json"), "utf8"));
  assert.equal(config.formatVersion, 1);
  assert.equal(config.cas, undefined);
  const st = json(await mtls(["ca", "rollover", "status", "--json"], { cwd: dir }));
  assert.equal(st.result.phase, "none");
  assert.equal(st.result.issuing, "intermediate");
  assert.equal(st.result.due, 0);
  const fin = await mtls(["ca", "rollover", "root", "finish", "--yes", "--json"], { cwd: dir });
  assert.equal(fin.exitCode, 4);
  assert.equal(json(fin).error?.code, "ERR_NO_ROLLOVER");
});

test("nginx, HAProxy and Apache start on the rendered configuration of the one-root CA", { skip: noGateways }, async (t) => {
  for (const k of ["nginx", "haproxy", "apache"].filter((x) => !kinds.includes(x as never))) t.diagnostic(`${k} is not installed: not tested`);
  srv = await serverCert(dir);
  const upstream = http.createServer((req, res) => res.end(`upstream saw ${req.headers["x-client-subject"] ?? "?"}\n`));
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  cleanups.push(() => new Promise<void>((r) => upstream.close(() => r())));
  const up = (upstream.address() as import("node:net").AddressInfo).port;
  for (const kind of kinds) gws.push(await startRendered(fileContext, kind, srv, up));
  for (const gw of gws) for (const name of ["old1", "old3"]) assert.ok(await accepted(gw, name, srv.cert), `${gw.kind} accepts ${name}`);
});

test("ca rollover intermediate: new issuing CA, old partners and the gateway trust bundle untouched", async () => {
  const bundleBefore = await readFile(pki("ca/ca-bundle.pem"), "utf8");
  const old1Chain = await readFile(pki(`certs/${partners.old1?.serial}.chain.pem`), "utf8");
  const bad = await mtls(["ca", "rollover", "intermediate", "--days", "4000", "--json"], { cwd: dir });
  assert.equal(bad.exitCode, 3, "an intermediate may not outlive its root");
  assert.match(json(bad).error?.message ?? "", /outlive the root/);
  const r = await mtls(["ca", "rollover", "intermediate", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  assert.equal(json(r).result.issuing, "intermediate-2");
  assert.ok(
    json(r).warnings.some((w: string) => /CRL bundle now holds intermediate-2's CRL: reload it at every gateway that checks CRLs/.test(w)),
    JSON.stringify(json(r).warnings),
  );
  assert.equal(await readFile(pki("ca/ca-bundle.pem"), "utf8"), bundleBefore, "gateways need no trust change");
  assert.equal(await readFile(pki(`certs/${partners.old1?.serial}.chain.pem`), "utf8"), old1Chain);
  assert.equal(JSON.parse(await readFile(pki("config.json"), "utf8")).formatVersion, 2);
  // The new CA key is protected like the others: 0600, PBES2-encrypted, opened by openssl with the passphrase.
  assert.equal((await stat(pki("private/intermediate-2.key"))).mode & 0o777, 0o600);
  assert.match(await readFile(pki("private/intermediate-2.key"), "utf8"), /BEGIN ENCRYPTED PRIVATE KEY/);
  const opened = await openssl(["pkey", "-in", pki("private/intermediate-2.key"), "-passin", "env:MTLS_CA_PASSPHRASE", "-noout"], {
    env: { ...process.env, MTLS_CA_PASSPHRASE: PASSPHRASE },
  });
  assert.equal(opened.exitCode, 0, opened.stderr);
  await issue("mid1");
  assert.equal(partners.mid1?.issuer, "intermediate-2", "issuance follows the rollover");
  assert.equal(partners.old1?.issuer, "intermediate");
  // Each partner's chain carries the intermediate that issued it; both verify against the one root, CRLs checked.
  for (const name of ["old1", "mid1"]) {
    const v = await verify(name, pki("ca/ca-bundle.pem"), [await issuingChain(name)], true);
    assert.equal(v.exitCode, 0, `${name}: ${v.stdout}${v.stderr}`);
  }
  // No gateway change: the running gateways, not reloaded, still accept the existing partners.
  for (const gw of gws) assert.ok(await accepted(gw, "old1", srv.cert), `${gw.kind} still accepts old1 without a reload`);
  // What the warning says: a gateway that checks every CA's CRL refuses the new intermediate's
  // certificates until it has loaded the CRL bundle that holds its CRL.
  for (const gw of gws) assert.ok(!(await accepted(gw, "mid1", srv.cert)), `${gw.kind} refuses mid1 before it reloads the CRLs`);
  const audit = await readFile(pki("audit.log"), "utf8");
  assert.match(audit, /"action":"ca.rollover".*"step":"intermediate"/);
  assert.equal((await mtls(["audit", "verify"], { cwd: dir })).exitCode, 0);
});

test("root start: dual bundle, cross certificates; each hierarchy verifies against each root alone", async () => {
  const again = await mtls(["ca", "rollover", "intermediate", "--json"], { cwd: dir });
  assert.equal(again.exitCode, 0, "a second intermediate renewal is fine before the root rollover");
  assert.equal(json(again).result.issuing, "intermediate-3");
  const r = await mtls(["ca", "rollover", "root", "start", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const res = json(r).result;
  assert.deepEqual(res.trusted, ["root", "root-2"]);
  assert.equal(res.issuing, "intermediate-4");
  assert.deepEqual(
    res.crosses.map((c: { subjectCa: string; issuerCa: string }) => `${c.subjectCa}<-${c.issuerCa}`),
    ["intermediate-4<-root", "intermediate<-root-2", "intermediate-2<-root-2", "intermediate-3<-root-2"],
  );
  assert.equal((await readFile(pki("ca/ca-bundle.pem"), "utf8")).match(/BEGIN CERTIFICATE/g)?.length, 2);
  const text = (await openssl(["x509", "-noout", "-text", "-in", pki("ca/cross-intermediate-4-by-root.pem")])).stdout;
  assert.match(text, /CA:TRUE, pathlen:0/);
  for (const step of [
    ["ca", "rollover", "root", "start"],
    ["ca", "rollover", "intermediate"],
  ]) {
    const refused = await mtls([...step, "--json"], { cwd: dir });
    assert.equal(refused.exitCode, 4, step.join(" "));
    assert.equal(json(refused).error?.code, "ERR_ROLLOVER_IN_PROGRESS");
  }
  await issue("new1");
  await issue("new2");
  await issue("old3"); // a rotation during the rollover comes from the new hierarchy
  assert.equal(partners.old3?.issuer, "intermediate-4");
  const crosses = pki("ca/cross-bundle.pem");
  // The issue's check: each root alone, the cross certificates as the only untrusted ones.
  assert.equal((await verify("new1", pki("ca/root.pem"), [crosses])).exitCode, 0, "new hierarchy under the old root");
  assert.equal((await verify("mid1", pki("ca/root-2.pem"), [crosses])).exitCode, 0, "old hierarchy under the new root");
  assert.equal((await verify("old2", pki("ca/root-2.pem"), [crosses])).exitCode, 0);
  // And the crosses are what makes it work: without them each root refuses the other hierarchy.
  assert.notEqual((await verify("new1", pki("ca/root.pem"), [await issuingChain("new1")])).exitCode, 0);
  assert.notEqual((await verify("mid1", pki("ca/root-2.pem"), [await issuingChain("mid1")])).exitCode, 0);
  // The dual bundle with every CA's CRL accepts both chains as partners present them.
  for (const name of ["mid1", "old2", "new1"]) {
    const v = await verify(name, pki("ca/ca-bundle.pem"), [await issuingChain(name)], true);
    assert.equal(v.exitCode, 0, `${name}: ${v.stdout}${v.stderr}`);
  }
});

// old2 and new2 were revoked, not offboarded: status is red for them alone (partner health, #14),
// and for nothing on the CA or CRL side of the rollover.
function onlyRevokedPartnersLockedOut(status: Awaited<ReturnType<typeof mtls>>): void {
  assert.equal(status.exitCode, 1, status.stdout);
  const problems = json(status).result.problems as { kind: string; partnerId?: string }[];
  assert.deepEqual(problems.map((p) => `${p.kind}:${p.partnerId}`).sort(), ["partner-locked-out:new2", "partner-locked-out:old2"]);
}

test("revocations land on the CRL of the CA that issued them; status, doctor and rollover status agree", async () => {
  for (const name of ["old2", "new2"]) {
    const r = await mtls(["revoke", partners[name]?.serial as string, "--yes", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  }
  const crlText = async (ca: string) => (await openssl(["crl", "-noout", "-text", "-in", pki(`crl/${ca}.crl.pem`)])).stdout.toLowerCase();
  assert.ok((await crlText("intermediate")).includes(partners.old2?.serial as string));
  assert.ok((await crlText("intermediate-4")).includes(partners.new2?.serial as string));
  assert.ok(!(await crlText("intermediate")).includes(partners.new2?.serial as string));
  assert.equal((await verify("old2", pki("ca/ca-bundle.pem"), [await issuingChain("old2")], true)).exitCode, 2);
  assert.equal((await verify("new2", pki("ca/ca-bundle.pem"), [await issuingChain("new2")], true)).exitCode, 2);
  const status = await mtls(["status", "--json"], { cwd: dir });
  onlyRevokedPartnersLockedOut(status);
  assert.deepEqual(
    json(status)
      .result.crls.map((c: { issuer: string }) => c.issuer)
      .sort(),
    ["intermediate", "intermediate-2", "intermediate-3", "intermediate-4", "root", "root-2"],
  );
  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
  // doctor checks the cross certificates too, and rewrites the derived bundle of them.
  const crossBundle = await readFile(pki("ca/cross-bundle.pem"), "utf8");
  await writeFile(pki("ca/cross-bundle.pem"), crossBundle.slice(0, crossBundle.length / 2));
  const damaged = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(damaged.exitCode, 1);
  assert.match(damaged.stdout, /cross-bundle.pem does not match the cross certificates/);
  assert.equal((await mtls(["doctor", "--fix", "--json"], { cwd: dir })).exitCode, 0);
  assert.equal(await readFile(pki("ca/cross-bundle.pem"), "utf8"), crossBundle);
  const ro = json(await mtls(["ca", "rollover", "status", "--json"], { cwd: dir })).result;
  assert.equal(ro.phase, "root-rollover");
  const blockers = ro.certificates.filter((c: { root: string }) => c.root === "root").map((c: { partnerId: string }) => c.partnerId);
  assert.deepEqual(blockers.sort(), ["mid1", "old1", "old3"], "old3's first certificate, old1 and mid1 are still on the old root");
  assert.equal(ro.finishBlockers, 3);
});

test("revocation serve answers OCSP for both hierarchies, each answer verified by openssl against the dual bundle", async () => {
  const child = spawn(process.execPath, [BIN, "revocation", "serve", "--port", "0"], { cwd: dir, env: baseEnv({ MTLS_CA_PASSPHRASE: PASSPHRASE }) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  try {
    for (let i = 0; i < 300 && !/http:\/\//.test(stdout) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(stdout, /http:\/\//, stderr);
    const ask = async (name: string) => {
      const issuer = pki(`ca/${partners[name]?.issuer}.pem`);
      await verify(name, pki("ca/ca-bundle.pem"), []); // writes <name>.leaf.pem
      const cert = join(dir, `${name}.leaf.pem`);
      const r = await openssl(["ocsp", "-issuer", issuer, "-cert", cert, "-url", `${stdout.trim()}/ocsp`, "-CAfile", pki("ca/ca-bundle.pem")]);
      assert.match(r.stderr, /Response verify OK/, `${name}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    assert.match(await ask("old1"), /: good/);
    assert.match(await ask("mid1"), /: good/);
    assert.match(await ask("old2"), /: revoked/);
    assert.match(await ask("new1"), /: good/);
    assert.match(await ask("new2"), /: revoked/);
  } finally {
    child.kill("SIGTERM");
    if (child.exitCode === null) await once(child, "exit");
  }
});

/** A rendered gateway configuration, started once, reloadable. */
async function startRendered(t: import("node:test").TestContext, kind: "nginx" | "haproxy" | "apache", srv: { cert: string; key: string }, up: number) {
  const port = await freePort();
  const out = join(dir, kind);
  let cert = srv.cert;
  if (kind === "haproxy") {
    cert = join(dir, "srv-combined.pem");
    await writeFile(cert, (await readFile(srv.cert, "utf8")) + (await readFile(srv.key, "utf8")));
  }
  const flags = ["--listen", `127.0.0.1:${port}`, "--server-cert", cert, ...(kind === "haproxy" ? [] : ["--server-key", srv.key, "--hostname", "localhost"])];
  const render = async () => {
    const r = await mtls(["gateway", "config", kind, ...flags, "--upstream", `http://127.0.0.1:${up}`, "--out", `${kind}/`, "--force"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
  };
  await render();
  let child: import("node:child_process").ChildProcess;
  let reload: () => Promise<void>;
  if (kind === "nginx") {
    const conf = `daemon off; pid ${out}/nginx.pid; error_log ${out}/error.log; events {} http { access_log off; client_body_temp_path ${out}/b; proxy_temp_path ${out}/p; fastcgi_temp_path ${out}/f; uwsgi_temp_path ${out}/u; scgi_temp_path ${out}/s; include ${out}/mtls-partners.conf; }\n`;
    await writeFile(join(out, "main.conf"), conf);
    child = await startProcess(t, "nginx", ["-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")], port, join(out, "error.log"));
    reload = async () => {
      child.kill("SIGHUP");
      await new Promise((r) => setTimeout(r, 1000));
    };
  } else if (kind === "haproxy") {
    child = await startProcess(t, "haproxy", ["-W", "-db", "-f", join(out, "haproxy.cfg")], port, join(out, "haproxy.cfg"));
    reload = async () => {
      child.kill("SIGUSR2");
      await new Promise((r) => setTimeout(r, 1000));
    };
  } else {
    const mods = ["mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers"];
    await writeFile(
      join(out, "main.conf"),
      [...apacheGlobals(out, mods, `${out}/error.log`, `${out}/apache.pid`), `Include ${out}/mtls-partners.conf`, ""].join("\n"),
    );
    child = await startProcess(t, apacheBin(), ["-f", join(out, "main.conf"), "-DFOREGROUND"], port, join(out, "error.log"));
    const restarts = async () => ((await readFile(join(out, "error.log"), "utf8").catch(() => "")).match(/resuming normal operations/g) ?? []).length;
    reload = async () => {
      const n = await restarts();
      child.kill("SIGUSR1");
      const deadline = Date.now() + 10_000;
      while ((await restarts()) <= n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 300));
    };
  }
  return { kind, port, render, reload, out };
}

async function accepted(gw: { port: number }, name: string, cacert: string): Promise<boolean> {
  const p = partners[name] as (typeof partners)["x"];
  const r = await curlWithCert(gw.port, { cert: p.chain, key: p.key, cacert });
  return r.status === 200 && /upstream saw/.test(r.body);
}

test("nginx, HAProxy and Apache: both hierarchies accepted, revocations in either refused; after finish only the new", { skip: noGateways }, async () => {
  // The runbook's step after root start: the dual bundle and every CA's CRL on every gateway.
  for (const gw of gws) {
    await gw.render();
    await gw.reload();
  }
  for (const gw of gws) {
    assert.equal(await readFile(join(gw.out, "ca-bundle.pem"), "utf8"), await readFile(pki("ca/ca-bundle.pem"), "utf8"), `${gw.kind}: the dual bundle`);
    for (const name of ["old1", "mid1", "new1", "old3"])
      assert.ok(await accepted(gw, name, srv.cert), `${gw.kind} accepts ${name} (${partners[name]?.issuer})`);
    for (const name of ["old2", "new2"]) assert.ok(!(await accepted(gw, name, srv.cert)), `${gw.kind} refuses revoked ${name}`);
  }
  // The probe checks both chains during the rollover: valid (new hierarchy) and previous-hierarchy.
  const gw0 = gws[0] as (typeof gws)[number];
  const probe = await mtls(["probe", `https://localhost:${gw0.port}/`, "--server-ca", srv.cert, "--scenarios", "valid,revoked", "--json"], {
    cwd: dir,
    timeoutMs: 60_000,
  });
  const attempts = json(probe).result.targets[0].attempts as Array<{ scenario: string; verdict: string }>;
  assert.equal(probe.exitCode, 0, JSON.stringify(attempts));
  assert.deepEqual(
    attempts.filter((a) => a.scenario === "previous-hierarchy").map((a) => a.verdict),
    attempts.filter((a) => a.scenario === "valid").map(() => "pass"),
    `${gw0.kind}: the previous hierarchy is accepted`,
  );
  // finish refuses while old1, mid1 and old3's first certificate still chain to the old root only.
  const before = await snapshot(pki());
  const refused = await mtls(["ca", "rollover", "root", "finish", "--yes", "--json"], { cwd: dir });
  assert.equal(refused.exitCode, 4);
  assert.equal(json(refused).error?.code, "ERR_ROLLOVER_PENDING");
  assert.match(json(refused).error?.message ?? "", /3 valid certificate/);
  assert.deepEqual(await snapshot(pki()), before, "a refused finish changes nothing");
  const done = await mtls(["ca", "rollover", "root", "finish", "--force", "--yes", "--json"], { cwd: dir });
  assert.equal(done.exitCode, 0, done.stdout + done.stderr);
  assert.deepEqual(json(done).result.trusted, ["root-2"]);
  assert.deepEqual(
    json(done)
      .result.stranded.map((s: { partnerId: string }) => s.partnerId)
      .sort(),
    ["mid1", "old1", "old3"],
  );
  assert.match(done.stderr, /cut off: mid1/);
  for (const gw of gws) {
    await gw.render();
    await gw.reload();
    assert.ok(await accepted(gw, "new1", srv.cert), `${gw.kind} accepts new1 after finish`);
    assert.ok(await accepted(gw, "old3", srv.cert), `${gw.kind} accepts old3's rotated certificate`);
    for (const name of ["old1", "mid1"]) assert.ok(!(await accepted(gw, name, srv.cert)), `${gw.kind} refuses ${name} of the old hierarchy after finish`);
    assert.ok(!(await accepted(gw, "new2", srv.cert)), `${gw.kind} still refuses revoked new2`);
  }
  const after = await mtls(["probe", `https://localhost:${gw0.port}/`, "--server-ca", srv.cert, "--scenarios", "valid,revoked", "--json"], {
    cwd: dir,
    timeoutMs: 60_000,
  });
  assert.equal(after.exitCode, 0, after.stdout);
  assert.ok(!after.stdout.includes("previous-hierarchy"), "no rollover, no previous-hierarchy scenario");
  const status = await mtls(["status", "--json"], { cwd: dir });
  onlyRevokedPartnersLockedOut(status);
  assert.equal((await mtls(["doctor"], { cwd: dir })).exitCode, 0);
});

test("a CA certificate lost after a rollover is exit 5 naming it, also while the key is decrypted ahead of it", async () => {
  const copy = await mkdtemp(join(tmpdir(), "mtls-rollover-lost-"));
  try {
    await cp(dir, copy, { recursive: true });
    const issuing = JSON.parse(await readFile(join(copy, "pki/config.json"), "utf8")).cas.issuing as string;
    await rm(join(copy, "pki/ca", `${issuing}.pem`));
    // The passphrase in the environment (unattended) starts the key's derivation before the
    // certificates are read.
    const r = await mtls(["partner", "issue", "lost", "--generate", "--out-key", "lost.key", "--json"], { cwd: copy });
    assert.equal(r.exitCode, 5, r.stdout + r.stderr);
    assert.equal(json(r).error?.code, "ERR_NOT_FOUND");
    assert.match(json(r).error?.message ?? "", new RegExp(`ca/${issuing}\\.pem: no such file`));
    assert.doesNotMatch(r.stderr, /Node\.js v|at /, "no stack trace");
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
});

test("a second root rollover: the cross bundle holds its crosses alone, doctor agrees, and each root verifies the other hierarchy with it", async () => {
  const status = json(await mtls(["ca", "rollover", "status", "--json"], { cwd: dir })).result;
  if (status.phase === "root-rollover")
    assert.equal((await mtls(["ca", "rollover", "root", "finish", "--force", "--yes", "--json"], { cwd: dir })).exitCode, 0);
  await issue("before3");
  const r = await mtls(["ca", "rollover", "root", "start", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
  const { trusted, crosses } = json(r).result as { trusted: string[]; crosses: Array<{ subjectCa: string; issuerCa: string }> };
  assert.deepEqual(trusted, ["root-2", "root-3"]);
  const bundle = await readFile(pki("ca/cross-bundle.pem"), "utf8");
  assert.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, crosses.length, "this rollover's crosses, none of the first one's");
  assert.ok(crosses.every((c) => c.issuerCa === "root-3" || c.issuerCa === "root-2"));
  const doctor = await mtls(["doctor", "--json"], { cwd: dir });
  assert.equal(doctor.exitCode, 0, doctor.stdout);
  await issue("after3");
  const pool = pki("ca/cross-bundle.pem");
  assert.equal((await verify("after3", pki("ca/root-2.pem"), [pool])).exitCode, 0, "new hierarchy under the previous root");
  assert.equal((await verify("before3", pki("ca/root-3.pem"), [pool])).exitCode, 0, "previous hierarchy under the new root");
});
