// #12: the allow-lists `gateway config` renders for nginx, HAProxy and Apache admit a certificate
// only when its one CN equals a listed partner's, whatever else its subject says. Hostile
// certificates are minted straight from the test CA with openssl (so mtls's own issuing policy
// plays no part): only the rendered gateway configuration stands between them and the upstream.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import test, { type TestContext } from "node:test";
import { makeCsr } from "../helpers/csr.js";
import { curlWithCert } from "../helpers/curl.js";
import { apacheBin, apacheGlobals, freePort, haveApache, haveHaproxy, haveNginx, startProcess } from "../helpers/gateways.js";
import { baseEnv, initTempCa, json, mtls, openssl, PASSPHRASE, run } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

const A = "partner-a-client";
/** Every character the subject policy allows that is not a letter or digit, in one CN. */
const PUNCT_CN = "b !$%&'()*-./:?@[]^_`{|}~ end";
const MIXED_CN = "C.Plus(Paren) 0123456789 XYZ";

interface Cred {
  chain: string;
  key: string;
}

/** openssl's -subj wants "/" inside a value escaped. */
const subjValue = (v: string) => v.replace(/\//g, "\\/");

async function setupPki(t: TestContext) {
  const dir = await initTempCa(t);
  const issued: Record<string, Cred> = {};
  const a = await makeCsr(dir, "a", { subj: `/O=Producer Organization/OU=Integration Team/CN=${A}` });
  const ra = json(await mtls(["partner", "issue", "partner-a", "--csr", a.csr, "--json"], { cwd: dir }));
  issued.a = { chain: ra.result.chainPath, key: a.key };
  for (const [id, cn] of [
    ["partner-b", PUNCT_CN],
    ["partner-c", MIXED_CN],
  ] as const) {
    const r = await mtls(["partner", "issue", id, "--generate", "--cn", cn, "--out-key", `${id}.key`, "--json"], { cwd: dir });
    assert.equal(r.exitCode, 0, r.stdout + r.stderr);
    issued[id] = { chain: json(r).result.chainPath, key: join(dir, `${id}.key`) };
  }
  // The CA key in the clear, once, so openssl can mint the hostile certificates quickly.
  const caKey = join(dir, "ca-clear.key");
  const dec = await openssl(["pkey", "-in", join(dir, "pki/private/intermediate.key"), "-passin", "env:PW", "-out", caKey], {
    env: baseEnv({ PW: PASSPHRASE }),
  });
  assert.equal(dec.exitCode, 0, dec.stderr);
  await writeFile(join(dir, "leaf.ext"), "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n");
  let n = 0;
  /** A client certificate for `subj` signed by the PKI's intermediate, bypassing mtls's policy. */
  const mint = async (subj: string, multivalue = false): Promise<Cred> => {
    const base = join(dir, `hostile-${++n}`);
    await makeCsr(dir, `hostile-${n}`, { subj, extra: multivalue ? ["-multivalue-rdn"] : [] });
    const x = await openssl([
      "x509",
      "-req",
      "-in",
      `${base}.csr`,
      "-CA",
      join(dir, "pki/ca/intermediate.pem"),
      "-CAkey",
      caKey,
      "-set_serial",
      `0x${randomBytes(12).toString("hex")}`,
      "-days",
      "1",
      "-extfile",
      join(dir, "leaf.ext"),
      "-extensions",
      "leaf",
      "-out",
      `${base}.pem`,
    ]);
    assert.equal(x.exitCode, 0, x.stderr);
    await writeFile(`${base}.chain.pem`, (await readFile(`${base}.pem`, "utf8")) + (await readFile(join(dir, "pki/ca/intermediate.pem"), "utf8")));
    return { chain: `${base}.chain.pem`, key: `${base}.key` };
  };
  return { dir, issued, mint };
}

/** Certificates that carry a listed identity somewhere an exact allow-list must not read it. */
function hostileSubjects(): Array<{ name: string; subj: string; multivalue?: boolean }> {
  return [
    { name: "A's CN as O", subj: `/O=${A}/CN=partner-d` },
    { name: "A's CN as OU", subj: `/OU=${A}/CN=partner-d` },
    { name: "escaped comma, CN last", subj: `/O=evil\\,CN=${A}/CN=partner-d` },
    { name: "escaped comma, CN first", subj: `/CN=partner-d/O=evil\\,CN=${A}` },
    { name: "second CN", subj: `/CN=partner-d/CN=${A}` },
    { name: "first of two CNs", subj: `/CN=${A}/CN=partner-d` },
    { name: "multi-valued RDN O+CN", subj: `/O=evil+CN=${A}`, multivalue: true },
    { name: "multi-valued RDN CN+CN", subj: `/CN=partner-d+CN=${A}`, multivalue: true },
    { name: "case variant", subj: "/CN=Partner-A-Client" },
    { name: "upper case", subj: `/CN=${A.toUpperCase()}` },
    { name: "suffix", subj: `/CN=${A}2` },
    { name: "prefix", subj: `/CN=x${A}` },
    { name: "CN with an escaped comma", subj: `/CN=${A}\\,O=x` },
    { name: "regex dot in B's CN", subj: `/CN=${subjValue(PUNCT_CN.replace(".", "Z"))}` },
    { name: "B's CN upper case", subj: `/CN=${subjValue(PUNCT_CN.toUpperCase())}` },
    { name: "C's CN with a regex paren swapped", subj: `/CN=${subjValue(MIXED_CN.replace("(", "X"))}` },
  ];
}

async function upstream(t: TestContext): Promise<number> {
  const server = http.createServer((_req, res) => res.end("upstream\n"));
  server.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as import("node:net").AddressInfo).port;
}

async function renderTo(dir: string, kind: string, out: string, port: number, up: number, cert: string, key: string) {
  const partners = ["partner-a", "partner-b", "partner-c"].flatMap((p) => ["--partner", p]);
  const r = await mtls(
    [
      "gateway",
      "config",
      kind,
      ...partners,
      "--listen",
      `127.0.0.1:${port}`,
      "--server-cert",
      cert,
      // HAProxy reads the key from the crt file and matches no host name: gateway config refuses both flags for it (#19).
      ...(kind === "haproxy" ? [] : ["--server-key", key, "--hostname", "localhost"]),
      "--upstream",
      `http://127.0.0.1:${up}`,
      "--out",
      `${out}/`,
    ],
    { cwd: dir },
  );
  assert.equal(r.exitCode, 0, r.stderr);
}

const nginxMain = (out: string) =>
  `daemon off; pid ${out}/nginx.pid; error_log ${out}/error.log; events {} http { access_log off; client_body_temp_path ${out}/b; proxy_temp_path ${out}/p; fastcgi_temp_path ${out}/f; uwsgi_temp_path ${out}/u; scgi_temp_path ${out}/s; include ${out}/mtls-partners.conf; }\n`;

/** Renders, checks (-t / -c) and starts one gateway kind; returns its port. */
async function startKind(t: TestContext, dir: string, kind: "nginx" | "haproxy" | "apache", up: number, srv: { cert: string; key: string }) {
  const port = await freePort();
  const out = join(dir, kind);
  let cert = srv.cert;
  if (kind === "haproxy") {
    cert = join(dir, "srv-combined.pem");
    await writeFile(cert, (await readFile(srv.cert, "utf8")) + (await readFile(srv.key, "utf8")));
  }
  await renderTo(dir, kind, out, port, up, cert, srv.key);
  if (kind === "nginx") {
    await writeFile(join(out, "main.conf"), nginxMain(out));
    const check = await run("nginx", ["-t", "-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")]);
    assert.equal(check.exitCode, 0, check.stderr);
    await startProcess(t, "nginx", ["-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")], port, join(out, "error.log"));
  } else if (kind === "haproxy") {
    const check = await run("haproxy", ["-c", "-f", join(out, "haproxy.cfg")]);
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    await startProcess(t, "haproxy", ["-db", "-f", join(out, "haproxy.cfg")], port, join(out, "haproxy.cfg"));
  } else {
    const mods = ["mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers"];
    const lines = [...apacheGlobals(out, mods, `${out}/error.log`, `${out}/apache.pid`), `Include ${out}/mtls-partners.conf`, ""];
    await writeFile(join(out, "main.conf"), lines.join("\n"));
    const check = await run(apacheBin(), ["-t", "-f", join(out, "main.conf")]);
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    await startProcess(t, apacheBin(), ["-f", join(out, "main.conf"), "-DFOREGROUND"], port, join(out, "error.log"));
  }
  return port;
}

test("#12 nginx, HAProxy and Apache allow-lists admit listed partners and refuse every spoofed subject", async (t) => {
  const kinds = (["nginx", "haproxy", "apache"] as const).filter((k) => ({ nginx: haveNginx, haproxy: haveHaproxy, apache: haveApache })[k]());
  if (kinds.length === 0) return t.skip("none of nginx, HAProxy, Apache is installed");
  const { dir, issued, mint } = await setupPki(t);
  const srv = await serverCert(dir);
  const up = await upstream(t);
  const listed: Array<[string, Cred]> = [
    ["partner-a (O, OU, CN)", issued.a as Cred],
    ["partner-b (every allowed punctuation)", issued["partner-b"] as Cred],
    ["partner-c (dots, parentheses, digits)", issued["partner-c"] as Cred],
    // The identity decides, not the rest of the subject: A's CN alone, minted outside mtls.
    ["A's CN without O and OU", await mint(`/CN=${A}`)],
  ];
  const hostile: Array<[string, Cred]> = [];
  for (const h of hostileSubjects()) hostile.push([h.name, await mint(h.subj, h.multivalue)]);

  const ports: Record<string, number> = {};
  for (const kind of kinds) ports[kind] = await startKind(t, dir, kind, up, srv);
  for (const kind of kinds) {
    await t.test(`${kind}: listed partners get 200, spoofed subjects 403`, async () => {
      const port = ports[kind] as number;
      for (const [name, c] of listed) {
        const r = await curlWithCert(port, { cert: c.chain, key: c.key, cacert: srv.cert });
        assert.equal(r.status, 200, `${kind} must admit ${name}: ${r.body} ${r.stderr}`);
        assert.match(r.body, /upstream/);
      }
      for (const [name, c] of hostile) {
        const r = await curlWithCert(port, { cert: c.chain, key: c.key, cacert: srv.cert });
        // 403 (not a handshake failure): the certificate is valid, the allow-list refused it.
        assert.equal(r.status, 403, `${kind} must refuse "${name}": got ${r.status} ${r.body}`);
      }
    });
    await t.test(`${kind}: mtls probe --expect-allowlist passes identity-spoof`, async () => {
      const a = issued.a as Cred;
      const r = await mtls(
        [
          "probe",
          `https://localhost:${ports[kind]}/`,
          "--server-ca",
          srv.cert,
          "--cert",
          a.chain,
          "--key",
          a.key,
          "--expect-allowlist",
          "--scenarios",
          "identity-spoof,other-identity",
          "--tls",
          "1.3",
          "--json",
        ],
        { cwd: dir, timeoutMs: 60_000 },
      );
      const attempts = json(r).result.targets[0].attempts as Array<{ scenario: string; variant?: string; verdict: string; evidence: { httpStatus?: number } }>;
      assert.equal(r.exitCode, 0, JSON.stringify(attempts, null, 1));
      const spoof = attempts.filter((x) => x.scenario === "identity-spoof");
      assert.deepEqual(spoof.map((x) => x.variant).sort(), ["escaped-comma", "first-cn", "in-o-ou", "second-cn"]);
      for (const x of spoof) assert.equal(x.evidence.httpStatus, 403, JSON.stringify(x));
    });
  }

  await t.test("negative control: nginx with the substring regex fails the probe, naming identity-spoof", async (tt) => {
    if (!haveNginx()) return tt.skip("nginx is not installed");
    const port = await freePort();
    const out = join(dir, "nginx-substring");
    await renderTo(dir, "nginx", out, port, up, srv.cert, srv.key);
    const conf = join(out, "mtls-partners.conf");
    const text = await readFile(conf, "utf8");
    // The allow-list before #12: a regex over the whole DN string.
    await writeFile(conf, text.replace(/^ {4}"~\^.*$/gm, "").replace("default 0;", `default 0;\n    "~(^|,)CN=${A}(,|$)" 1;`));
    await writeFile(join(out, "main.conf"), nginxMain(out));
    await startProcess(tt, "nginx", ["-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")], port, join(out, "error.log"));
    const a = issued.a as Cred;
    const args = ["probe", `https://localhost:${port}/`, "--server-ca", srv.cert, "--cert", a.chain, "--key", a.key, "--expect-allowlist", "--tls", "1.3"];
    const r = await mtls([...args, "--scenarios", "identity-spoof", "--json"], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(r.exitCode, 1);
    const failed = (json(r).result.targets[0].attempts as Array<{ scenario: string; variant?: string; verdict: string }>).filter((x) => x.verdict === "fail");
    assert.deepEqual(failed.map((x) => `${x.scenario}/${x.variant}`).sort(), [
      "identity-spoof/escaped-comma",
      "identity-spoof/first-cn",
      "identity-spoof/second-cn",
    ]);
    const human = await mtls([...args, "--scenarios", "identity-spoof"], { cwd: dir, timeoutMs: 60_000 });
    assert.equal(human.exitCode, 1);
    assert.match(human.stdout, /identity-spoof \(escaped-comma\).*FAIL/);
  });
});
