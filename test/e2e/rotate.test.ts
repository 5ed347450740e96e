// #14 partner rotate: a successor with the partner's identities and an overlap, finished by
// `partner rotate --finish` (reason superseded, one CRL). Real peers: nginx and HAProxy with the
// rendered configurations (acme's allow-list) accept both certificates during the overlap and only
// the new one after --finish and a reload; Option B's bundle opens in GnuPG.
import assert from "node:assert/strict";
import { once } from "node:events";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import test, { after } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { freePort, haveHaproxy, haveNginx, startProcess } from "../helpers/gateways.js";
import { genKey, gpgHome, haveGpg } from "../helpers/gpg.js";
import { fileCluster, pgSkipReason } from "../helpers/postgres.js";
import { json, mtls, openssl, opensslVerifyWithCrl, run, snapshot, tempDir } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

const DAY = 86_400_000;
/** The CLI's clock, moved for a test (honoured only with MTLS_TEST_HOOKS=1). */
const clock = (days: number) => ({ MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: new Date(Date.now() + days * DAY).toISOString() });

// One CA for the file; each test uses partners of its own.
let shared: Promise<string> | undefined;
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups) await c();
});
function pki(): Promise<string> {
  shared ??= (async () => {
    const dir = await tempDir({ after: (fn: () => Promise<void>) => cleanups.push(fn) } as unknown as import("node:test").TestContext, "mtls-rotate-");
    const r = await mtls(["ca", "init", "--name", "Rotate", "--insecure-no-passphrase", "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stderr);
    return dir;
  })();
  return shared;
}

async function issue(dir: string, id: string, subj: string, extra: string[] = []) {
  const { csr, key } = await makeCsr(dir, id, { subj, addext: [`subjectAltName=URI:spiffe://partners.example/${id}`] });
  const r = await mtls(["partner", "issue", id, "--csr", csr, "--json", ...extra], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stderr);
  return { ...json(r).result, key } as { serial: string; chainPath: string; key: string };
}

const pgCluster = fileCluster();

const crlNumber = async (dir: string) =>
  Number(
    /crlNumber=0x([0-9A-F]+)/i.exec((await openssl(["crl", "-in", join(dir, "pki/crl/intermediate.crl.pem"), "-noout", "-crlnumber"])).stdout)?.[1] ?? "x",
  );

test("#14 rotate --csr: nginx and HAProxy (rendered configs, allow-list) accept old and new during the overlap, only the new after --finish and a reload", async (t) => {
  const dir = await pki();
  const old = await issue(dir, "acme", "/O=Acme/CN=acme-client");
  const srv = await serverCert(dir);
  const upstream = http.createServer((_q, res) => res.end("upstream ok\n"));
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  t.after(() => new Promise<void>((r) => upstream.close(() => r())));
  const up = ["--upstream", `http://127.0.0.1:${(upstream.address() as import("node:net").AddressInfo).port}`];
  const gateways: Array<{ name: string; port: number; reload: () => void; out: string }> = [];
  if (haveNginx()) {
    const port = await freePort();
    const out = join(dir, "nginx");
    const r = await mtls(
      [
        "gateway",
        "config",
        "nginx",
        "--partner",
        "acme",
        "--listen",
        `127.0.0.1:${port}`,
        "--server-cert",
        srv.cert,
        "--server-key",
        srv.key,
        "--hostname",
        "localhost",
        ...up,
        "--out",
        "nginx/",
      ],
      { cwd: dir },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    await writeFile(
      join(out, "main.conf"),
      `daemon off; pid ${out}/nginx.pid; error_log ${out}/error.log; events {} http { access_log off; client_body_temp_path ${out}/b; proxy_temp_path ${out}/p; fastcgi_temp_path ${out}/f; uwsgi_temp_path ${out}/u; scgi_temp_path ${out}/s; include ${out}/mtls-partners.conf; }\n`,
    );
    const child = await startProcess(t, "nginx", ["-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")], port, join(out, "error.log"));
    gateways.push({ name: "nginx", port, out, reload: () => child.kill("SIGHUP") });
  }
  if (haveHaproxy()) {
    const port = await freePort();
    const out = join(dir, "haproxy");
    const combined = join(dir, "srv-combined.pem");
    await writeFile(combined, (await readFile(srv.cert, "utf8")) + (await readFile(srv.key, "utf8")));
    const r = await mtls(
      ["gateway", "config", "haproxy", "--partner", "acme", "--listen", `127.0.0.1:${port}`, "--server-cert", combined, ...up, "--out", "haproxy/"],
      { cwd: dir },
    );
    assert.equal(r.exitCode, 0, r.stderr);
    // -W (master-worker) so SIGUSR2 reloads, as a packaged HAProxy does.
    const child = await startProcess(t, "haproxy", ["-W", "-db", "-f", join(out, "haproxy.cfg")], port, join(out, "haproxy.cfg"));
    gateways.push({ name: "haproxy", port, out, reload: () => child.kill("SIGUSR2") });
  }
  if (!gateways.length) return t.skip("neither nginx nor HAProxy is installed");

  // The partner's new CSR: a new key, the same subject; its SANs come from the old certificate.
  const next = await makeCsr(dir, "acme-next", { subj: "/O=Acme/CN=acme-client" });
  const rot = await mtls(["partner", "rotate", "acme", "--csr", next.csr, "--overlap", "7d", "--json"], { cwd: dir });
  assert.equal(rot.exitCode, 0, rot.stdout + rot.stderr);
  const doc = json(rot).result;
  assert.equal(doc.oldSerial, old.serial);
  assert.notEqual(doc.newSerial, old.serial);
  assert.ok(Math.abs(Date.parse(doc.overlapUntil) - Date.now() - 7 * DAY) < 10 * 60_000, doc.overlapUntil);
  const text = (await openssl(["x509", "-in", doc.issued.certPath, "-noout", "-text"])).stdout;
  assert.match(text, /URI:spiffe:\/\/partners\.example\/acme/, "the SANs are carried over");
  assert.equal((await opensslVerifyWithCrl(join(dir, "pki"), doc.issued.chainPath)).exitCode, 0);

  const newCred = { cert: doc.issued.chainPath as string, key: next.key };
  const oldCred = { cert: old.chainPath, key: old.key };
  for (const g of gateways) {
    for (const [label, c] of [
      ["old", oldCred],
      ["new", newCred],
    ] as const) {
      const r = await curlWithCert(g.port, { ...c, cacert: srv.cert });
      assert.equal(r.status, 200, `${g.name} during the overlap, ${label}: ${r.status} ${r.stderr}`);
    }
  }

  // Before the overlap ends, --finish revokes nothing and publishes nothing.
  const number = await crlNumber(dir);
  const early = json(await mtls(["partner", "rotate", "--finish", "--json"], { cwd: dir })).result;
  assert.deepEqual(early.finished, []);
  assert.ok(early.pending.some((p: { serial: string }) => p.serial === old.serial));
  assert.equal(await crlNumber(dir), number);

  const fin = await mtls(["partner", "rotate", "--finish", "acme", "--now", "--yes", "--json"], { cwd: dir });
  assert.equal(fin.exitCode, 0, fin.stderr);
  assert.deepEqual(
    json(fin).result.finished.map((f: { serial: string; successor: string; early: boolean }) => [f.serial, f.successor, f.early]),
    [[old.serial, doc.newSerial, true]],
  );
  assert.equal(await crlNumber(dir), number + 1, "one CRL publish");
  const crl = (await openssl(["crl", "-in", join(dir, "pki/crl/intermediate.crl.pem"), "-noout", "-text"])).stdout;
  assert.match(crl, new RegExp(`Serial Number: ${old.serial.toUpperCase()}[\\s\\S]*?Superseded`));

  for (const g of gateways) {
    await copyFile(join(dir, "pki/crl/crl-bundle.pem"), join(g.out, "crl-bundle.pem"));
    g.reload();
  }
  for (const g of gateways) {
    // Reloads replace workers asynchronously: wait (bounded) until the old certificate is refused.
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) {
      refused = (await curlWithCert(g.port, { ...oldCred, cacert: srv.cert })).status !== 200;
      if (!refused) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(refused, `${g.name} still accepts the superseded certificate after the reload`);
    const r = await curlWithCert(g.port, { ...newCred, cacert: srv.cert });
    assert.equal(r.status, 200, `${g.name} after --finish, new: ${r.stderr}`);
  }

  // Idempotent: a second run changes nothing.
  const before = await snapshot(join(dir, "pki"));
  const again = await mtls(["partner", "rotate", "--finish"], { cwd: dir });
  assert.equal(again.exitCode, 0);
  assert.match(again.stdout, /no rotation is due/);
  assert.deepEqual(await snapshot(join(dir, "pki")), before);
  const audit = await readFile(join(dir, "pki/audit.log"), "utf8");
  assert.match(audit, /"action":"cert\.rotate".*"supersedes":"/);
  assert.match(audit, /"action":"rotation\.finish"/);
});

test("#14 --finish with the clock moved: nothing before the overlap ends, then reason superseded and one CRL; idempotent", async () => {
  const dir = await pki();
  const old = await issue(dir, "gamma", "/CN=gamma-client");
  const next = await makeCsr(dir, "gamma-next", { subj: "/CN=gamma-client" });
  const rot = json(await mtls(["partner", "rotate", "gamma", "--csr", next.csr, "--overlap", "3d", "--json"], { cwd: dir })).result;
  const number = await crlNumber(dir);
  const day2 = await mtls(["partner", "rotate", "--finish", "gamma", "--json"], { cwd: dir, env: clock(2) });
  assert.deepEqual(json(day2).result.finished, []);
  assert.equal(await crlNumber(dir), number);
  const day4 = await mtls(["partner", "rotate", "--finish", "gamma", "--json"], { cwd: dir, env: clock(4) });
  assert.equal(day4.exitCode, 0, day4.stderr);
  assert.deepEqual(
    json(day4).result.finished.map((f: { serial: string; early: boolean }) => [f.serial, f.early]),
    [[old.serial, false]],
  );
  assert.equal(await crlNumber(dir), number + 1);
  const show = json(await mtls(["partner", "show", "gamma", "--json"], { cwd: dir })).result;
  const byId = new Map(show.certificates.map((c: { serial: string }) => [c.serial, c]));
  assert.equal((byId.get(old.serial) as { revocationReason: string }).revocationReason, "superseded");
  assert.equal((byId.get(rot.newSerial) as { status: string }).status, "valid");
  const before = await snapshot(join(dir, "pki"));
  const day5 = await mtls(["partner", "rotate", "--finish", "--json"], { cwd: dir, env: clock(5) });
  assert.equal(day5.exitCode, 0);
  assert.deepEqual(json(day5).result.finished, []);
  assert.deepEqual(await snapshot(join(dir, "pki")), before, "a second finish changes nothing");
});

test("#14 rotate refuses: the old key (exit 3, store unchanged) unless --reuse-key; other identities; another partner's names; ambiguous, repeated, offboarded", async () => {
  const dir = await pki();
  const d = await issue(dir, "delta", "/CN=delta-client");
  await issue(dir, "omega", "/CN=omega-client");
  const store = await snapshot(join(dir, "pki"));
  const sameKey = join(dir, "delta-same.csr");
  assert.equal((await openssl(["req", "-new", "-key", d.key, "-out", sameKey, "-subj", "/CN=delta-client"])).exitCode, 0);
  const reuse = await mtls(["partner", "rotate", "delta", "--csr", sameKey, "--json"], { cwd: dir });
  assert.equal(reuse.exitCode, 3);
  assert.equal(json(reuse).error?.code, "ERR_KEY_REUSED");
  assert.match(reuse.stderr, /--reuse-key/);
  const other = await makeCsr(dir, "delta-other", { subj: "/CN=delta-renamed" });
  const renamed = await mtls(["partner", "rotate", "delta", "--csr", other.csr, "--json"], { cwd: dir });
  assert.equal(renamed.exitCode, 3);
  assert.match(json(renamed).error?.message ?? "", /missing cn:delta-client.*extra cn:delta-renamed/);
  // Another partner's name can never come through a rotation.
  const steal = await makeCsr(dir, "delta-steal", { subj: "/CN=omega-client" });
  const stolen = await mtls(["partner", "rotate", "delta", "--csr", steal.csr, "--json"], { cwd: dir });
  assert.ok([3, 4].includes(stolen.exitCode), stolen.stdout);
  assert.deepEqual(await snapshot(join(dir, "pki")), store, "refusals leave the store as it was");

  const ok = await mtls(["partner", "rotate", "delta", "--csr", sameKey, "--reuse-key", "--json"], { cwd: dir });
  assert.equal(ok.exitCode, 0, ok.stderr);
  assert.match(json(ok).warnings.join("\n"), /reuses the key/);
  const twice = await mtls(["partner", "rotate", "delta", "--csr", sameKey, "--reuse-key", "--serial", d.serial, "--json"], { cwd: dir });
  assert.equal(twice.exitCode, 4);
  assert.equal(json(twice).error?.code, "ERR_ALREADY_ROTATED");

  // Two valid certificates and no successor relation: say which one.
  const extra = await makeCsr(dir, "omega-2", { subj: "/CN=omega-client" });
  assert.equal((await mtls(["partner", "issue", "omega", "--csr", extra.csr], { cwd: dir })).exitCode, 0);
  const fresh = await makeCsr(dir, "omega-3", { subj: "/CN=omega-client" });
  const ambiguous = await mtls(["partner", "rotate", "omega", "--csr", fresh.csr, "--json"], { cwd: dir });
  assert.equal(ambiguous.exitCode, 2);
  assert.match(json(ambiguous).error?.hint ?? "", /--serial/);

  assert.equal((await mtls(["partner", "rotate", "omega", "--csr", fresh.csr, "--generate"], { cwd: dir })).exitCode, 2);
  assert.equal((await mtls(["partner", "rotate", "nobody", "--csr", fresh.csr], { cwd: dir })).exitCode, 3);
  assert.equal((await mtls(["partner", "offboard", "omega", "--yes"], { cwd: dir })).exitCode, 0);
  const gone = await mtls(["partner", "rotate", "omega", "--csr", fresh.csr, "--json"], { cwd: dir });
  assert.equal(gone.exitCode, 4);
  assert.equal(json(gone).error?.code, "ERR_OFFBOARDED");
  assert.equal((await mtls(["partner", "rotate", "--finish", "--now"], { cwd: dir })).exitCode, 2, "--now without --yes and no terminal");
});

test("#14 rotate --generate: a new encrypted bundle that GnuPG opens; --json names old and new serials, the overlap end and the bundle", async (t) => {
  if (!haveGpg()) return t.skip("gpg is not installed");
  const dir = await pki();
  const g = await gpgHome(t);
  const key = await genKey(g, "cv25519", { email: "pki@kappa.example" });
  await writeFile(join(dir, "kappa.asc"), key.publicArmored);
  assert.equal((await mtls(["partner", "add", "kappa", "--pgp-key", "kappa.asc", "--contact", "pki@kappa.example"], { cwd: dir })).exitCode, 0);
  const first = await mtls(["partner", "issue", "kappa", "--generate", "--san", "dns:kappa.partners.example", "--bundle", "kappa-1.zip.pgp", "--json"], {
    cwd: dir,
  });
  assert.equal(first.exitCode, 0, first.stderr);
  const oldSerial = json(first).result.serial;
  const rot = await mtls(["partner", "rotate", "kappa", "--generate", "--bundle", "kappa-2.zip.pgp", "--json"], { cwd: dir });
  assert.equal(rot.exitCode, 0, rot.stderr);
  const r = json(rot).result;
  assert.equal(r.oldSerial, oldSerial);
  assert.equal(r.bundlePath, join(dir, "kappa-2.zip.pgp"));
  assert.ok(Date.parse(r.overlapUntil) > Date.now());
  assert.equal(r.issued.source, "generated");
  assert.deepEqual(r.issued.sans, ["dns:kappa.partners.example"]);

  await g.gpg(["--import", join(dir, "pki/pgp/home-party.asc")]);
  const zip = join(dir, "kappa-2.zip");
  const dec = await g.gpg(["--status-fd", "2", "--trust-model", "always", "--output", zip, "--decrypt", r.bundlePath]);
  assert.equal(dec.exitCode, 0, dec.stderr);
  assert.match(dec.stderr, /\[GNUPG:\] GOODSIG/);
  const files = await run("unzip", ["-Z1", zip]);
  assert.match(files.stdout, /certificate\.pem/);
  assert.match(files.stdout, /private-key\.pem/);
  const cert = await run("unzip", ["-p", zip, "certificate.pem"]);
  const serial = (await openssl(["x509", "-noout", "-serial"], { input: cert.stdout })).stdout.trim().split("=")[1]?.toLowerCase();
  assert.equal(serial, r.newSerial);
});

test("#14 on the database store (#16): rotate, --finish and notify --dry-run run through the same storage interface", async (t) => {
  const reason = pgSkipReason();
  if (reason) return t.skip(reason);
  const c = await pgCluster();
  const s = await c.newStore("rotate");
  const dir = await tempDir(t);
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    mtls([...args, "--store", s.url, "--json"], { cwd: dir, env: { PGPASSWORD: s.password, ...env } });
  assert.equal((await run(["ca", "init", "--name", "PG", "--insecure-no-passphrase"])).exitCode, 0);
  const first = await makeCsr(dir, "acme", { subj: "/CN=acme-client" });
  const old = json(await run(["partner", "issue", "acme", "--csr", first.csr])).result.serial;
  const next = await makeCsr(dir, "acme-next", { subj: "/CN=acme-client" });
  const rot = await run(["partner", "rotate", "acme", "--csr", next.csr]);
  assert.equal(rot.exitCode, 0, rot.stdout);
  assert.equal(json(rot).result.oldSerial, old);
  const fin = await run(["partner", "rotate", "--finish", "--now", "--yes"]);
  assert.deepEqual(
    json(fin).result.finished.map((f: { serial: string }) => f.serial),
    [old],
  );
  const later = await run(["notify", "--dry-run"], clock(70));
  assert.deepEqual(
    json(later).result.notices.map((n: { key: string }) => n.key),
    [`reminder:${json(rot).result.newSerial}:30`],
  );
});
