import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { freePort, type GatewayTls, haveHaproxy, haveNginx, startHaproxy, startNginx, startNodeGateway } from "../helpers/gateways.js";
import { initTempCa, type JsonDoc, json, mtls, run, tempDir } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

async function setup(t: import("node:test").TestContext) {
  const dir = await initTempCa(t);
  const pki = join(dir, "pki");
  const srv = await serverCert(dir);
  const tls: GatewayTls = { serverCert: srv.cert, serverKey: srv.key, caBundle: join(pki, "ca/ca-bundle.pem"), crlBundle: join(pki, "crl/crl-bundle.pem") };
  return { dir, pki, srv, tls };
}

async function probe(dir: string, url: string, serverCa: string, extra: string[] = []) {
  const r = await mtls(["probe", url, "--server-ca", serverCa, "--json", ...extra], { cwd: dir, timeoutMs: 120_000 });
  return { r, doc: json(r) };
}

type Attempt = {
  scenario: string;
  tls: string;
  verdict: string;
  observed: string;
  expected: string;
  evidence: { summary: string; alert?: { code: number }; httpStatus?: number };
};
const attemptsOf = (doc: JsonDoc): Attempt[] => doc.result.targets[0].attempts;
const failing = (doc: JsonDoc) =>
  attemptsOf(doc)
    .filter((a) => a.verdict !== "pass" && a.verdict !== "info")
    .map((a) => `${a.scenario}@${a.tls}:${a.verdict}`)
    .sort();

function assertAllPass(doc: JsonDoc, label: string) {
  const attempts = attemptsOf(doc);
  assert.deepEqual(
    failing(doc),
    [],
    `${label}: ${JSON.stringify(
      attempts.filter((a) => a.verdict !== "pass"),
      null,
      1,
    )}`,
  );
  const names = new Set(attempts.map((a) => a.scenario));
  for (const s of [
    "valid",
    "no-cert",
    "self-signed",
    "untrusted-ca",
    "expired",
    "not-yet-valid",
    "revoked",
    "wrong-eku",
    "missing-intermediate",
    "legacy-tls",
    "other-identity",
  ])
    assert.ok(names.has(s), `${label}: ${s} ran`);
  for (const tls of ["1.2", "1.3"]) {
    assert.equal(attempts.filter((a) => a.tls === tls).length, 10, `${label}: 10 scenarios on TLS ${tls}`);
    assert.equal(attempts.find((a) => a.scenario === "valid" && a.tls === tls)?.observed, "accepted");
  }
  assert.equal(attempts.find((a) => a.scenario === "other-identity" && a.tls === "1.3")?.verdict, "info");
}

test("a strict nginx passes every scenario on TLS 1.2 and 1.3 (rejections as HTTP 400)", async (t) => {
  if (!haveNginx()) return t.skip("nginx is not installed");
  const { dir, srv, tls } = await setup(t);
  const gw = await startNginx(t, dir, tls);
  const { r, doc } = await probe(dir, `https://localhost:${gw.port}/`, srv.cert);
  assert.equal(r.exitCode, 0, JSON.stringify(doc.result?.targets?.[0]?.attempts ?? doc, null, 1));
  assertAllPass(doc, "nginx");
  const expired = attemptsOf(doc).find((a) => a.scenario === "expired" && a.tls === "1.3");
  assert.equal(expired?.evidence.httpStatus, 400);
  assert.match(expired?.evidence.summary ?? "", /HTTP 400 The SSL certificate error/);
  const none = attemptsOf(doc).find((a) => a.scenario === "no-cert" && a.tls === "1.2");
  assert.match(none?.evidence.summary ?? "", /No required SSL certificate was sent/);
  const target = doc.result.targets[0];
  assert.equal(target.protocol["1.3"], "TLSv1.3");
  assert.equal(target.protocol["1.2"], "TLSv1.2");
  assert.equal(target.chainComplete, true);
  assert.equal(doc.result.summary.connections, 21);
});

test("a strict HAProxy passes every scenario (rejections as TLS alerts, after the handshake under TLS 1.3)", async (t) => {
  if (!haveHaproxy()) return t.skip("haproxy is not installed");
  const { dir, srv, tls } = await setup(t);
  const gw = await startHaproxy(t, dir, tls);
  const { r, doc } = await probe(dir, `https://localhost:${gw.port}/`, srv.cert);
  assert.equal(r.exitCode, 0, JSON.stringify(failing(doc)));
  assertAllPass(doc, "haproxy");
  const revoked13 = attemptsOf(doc).find((a) => a.scenario === "revoked" && a.tls === "1.3");
  assert.equal(revoked13?.evidence.alert?.code, 44);
  assert.match(revoked13?.evidence.summary ?? "", /certificate_revoked \(after the handshake\)/);
});

test("a Node.js https gateway (CRLs as an array) passes every scenario", async (t) => {
  const { dir, pki, srv, tls } = await setup(t);
  const gw = await startNodeGateway(t, { ...tls, crls: [join(pki, "crl/intermediate.crl.pem"), join(pki, "crl/root.crl.pem")] });
  const { r, doc } = await probe(dir, `https://localhost:${gw.port}/`, srv.cert);
  assert.equal(r.exitCode, 0, JSON.stringify(failing(doc)));
  assertAllPass(doc, "node");
});

test("weak gateways: the probe exits 1 and names exactly the scenarios that were wrongly accepted", async (t) => {
  if (!haveNginx()) return t.skip("nginx is not installed");
  const { dir, srv, tls } = await setup(t);
  const optional = await startNginx(t, dir, { ...tls, verify: "optional" });
  const noCrl = await startNginx(t, dir, { ...tls, crlBundle: undefined });
  const legacy = await startNginx(t, dir, { ...tls, minTls: "TLSv1" });
  const cases: Array<[string, number, string[]]> = [
    ["ssl_verify_client optional", optional.port, ["no-cert@1.2:fail", "no-cert@1.3:fail"]],
    ["no ssl_crl", noCrl.port, ["revoked@1.2:fail", "revoked@1.3:fail"]],
    ["TLS 1.0 allowed", legacy.port, ["legacy-tls@1.0-1.1:fail"]],
  ];
  for (const [label, port, expected] of cases) {
    const { r, doc } = await probe(dir, `https://localhost:${port}/`, srv.cert);
    assert.equal(r.exitCode, 1, label);
    assert.deepEqual(failing(doc), expected, label);
    const human = await mtls(["probe", `https://localhost:${port}/`, "--server-ca", srv.cert], { cwd: dir });
    assert.equal(human.exitCode, 1);
    for (const e of expected)
      assert.match(
        human.stdout,
        new RegExp(`^${e.split("@")[0]}\\s+${e.split("@")[1]?.split(":")[0]?.replace(".", "\\.")}\\s+reject\\s+accepted\\s.*FAIL$`, "m"),
        `${label}: ${human.stdout}`,
      );
    assert.match(human.stdout, /probe: expectations NOT met/);
  }
});

test("a gateway whose identity allow-list, not its CRL, refuses the canary gets an inconclusive revoked verdict", async (t) => {
  if (!haveNginx()) return t.skip("nginx is not installed");
  const { dir, srv, tls } = await setup(t);
  // The probe's minted certificates are CN=mtls-probe; the canary and other-identity are not.
  const allowOnly = await startNginx(t, dir, { ...tls, crlBundle: undefined, allowCn: "mtls-probe" });
  const { r, doc } = await probe(dir, `https://localhost:${allowOnly.port}/`, srv.cert, ["--scenarios", "revoked", "--expect-allowlist"]);
  assert.notEqual(r.exitCode, 0);
  assert.deepEqual(failing(doc), ["revoked@1.2:inconclusive", "revoked@1.3:inconclusive"]);
  for (const a of attemptsOf(doc).filter((x) => x.scenario === "revoked")) {
    assert.equal(a.evidence.httpStatus, 403);
    assert.match(a.evidence.summary, /same answer as other-identity/);
  }
  assert.deepEqual(
    attemptsOf(doc)
      .filter((a) => a.scenario === "other-identity")
      .map((a) => a.verdict),
    ["pass", "pass"],
  );

  // The same allow-list with the CRL loaded: the canary is refused by the CRL (400), a real pass.
  const both = await startNginx(t, dir, { ...tls, allowCn: "mtls-probe" });
  const strict = await probe(dir, `https://localhost:${both.port}/`, srv.cert, ["--scenarios", "revoked", "--expect-allowlist"]);
  assert.equal(strict.r.exitCode, 0, JSON.stringify(failing(strict.doc)));
  assert.deepEqual(
    attemptsOf(strict.doc)
      .filter((a) => a.scenario === "revoked")
      .map((a) => a.evidence.httpStatus),
    [400, 400],
  );
});

test("a stopped port exits 5 with a clear message; a gateway whose server cert cannot be verified is an error, not a pass", async (t) => {
  const { dir, pki, srv, tls } = await setup(t);
  const port = await freePort();
  const r = await mtls(["probe", `https://127.0.0.1:${port}/`, "--json"], { cwd: dir, timeoutMs: 30_000 });
  assert.equal(r.exitCode, 5);
  assert.equal(json(r).error?.code, "ERR_UNREACHABLE");
  assert.match(json(r).error?.message ?? "", new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
  // Without --server-ca the gateway's self-signed certificate does not verify: every attempt is an error.
  const gw = await startNodeGateway(t, { ...tls, crls: [join(pki, "crl/intermediate.crl.pem"), join(pki, "crl/root.crl.pem")] });
  const unverified = await mtls(["probe", `https://localhost:${gw.port}/`, "--scenarios", "valid,no-cert", "--json"], { cwd: dir });
  assert.equal(unverified.exitCode, 1);
  const doc = json(unverified);
  assert.ok(attemptsOf(doc).every((a) => a.verdict === "error" || a.verdict === "inconclusive"));
  assert.match(doc.result.targets[0].likelyCauses.join("\n"), /--server-ca/);
  const insecure = await mtls(["probe", `https://localhost:${gw.port}/`, "--scenarios", "valid,no-cert", "--insecure-server", "--json"], { cwd: dir });
  assert.equal(insecure.exitCode, 0, insecure.stdout);
  assert.match(insecure.stderr, /warning: --insecure-server/);
  void srv;
});

test("--junit writes one testcase per scenario and TLS version; --scenarios and --tls narrow the matrix", async (t) => {
  const { dir, pki, srv, tls } = await setup(t);
  const gw = await startNodeGateway(t, { ...tls, crls: [join(pki, "crl/intermediate.crl.pem"), join(pki, "crl/root.crl.pem")] });
  const r = await mtls(
    ["probe", `https://localhost:${gw.port}/`, "--server-ca", srv.cert, "--scenarios", "untrusted,expired", "--tls", "1.3", "--junit", "probe.xml", "--json"],
    { cwd: dir },
  );
  assert.equal(r.exitCode, 0, r.stdout);
  const names = attemptsOf(json(r)).map((a) => `${a.scenario}@${a.tls}`);
  assert.deepEqual(names, ["valid@1.3", "self-signed@1.3", "untrusted-ca@1.3", "expired@1.3"]);
  const xml = await readFile(join(dir, "probe.xml"), "utf8");
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="mtls probe" tests="4">/);
  assert.equal(xml.match(/<testcase /g)?.length, 4);
  assert.match(xml, /<testcase classname="https:\/\/localhost:\d+\/" name="expired TLS 1\.3" time="[\d.]+"\/>/);
  assert.doesNotMatch(xml, /<failure/);
});

test("partner mode: with --cert/--key and no PKI, the scenarios needing no CA run and the others are skipped", async (t) => {
  const { dir, pki, srv, tls } = await setup(t);
  const gw = await startNodeGateway(t, { ...tls, crls: [join(pki, "crl/intermediate.crl.pem"), join(pki, "crl/root.crl.pem")] });
  const { makeCsr } = await import("../helpers/csr.js");
  const { csr, key } = await makeCsr(dir, "partner");
  const issued = json(await mtls(["partner", "issue", "partner", "--csr", csr, "--json"], { cwd: dir })).result;
  const elsewhere = await tempDir(t);
  const r = await mtls(["probe", `https://localhost:${gw.port}/`, "--server-ca", srv.cert, "--cert", issued.chainPath, "--key", key, "--json"], {
    cwd: elsewhere,
  });
  assert.equal(r.exitCode, 0, r.stdout);
  const doc = json(r);
  const verdicts = Object.fromEntries(
    attemptsOf(doc)
      .filter((a) => a.tls !== "1.2")
      .map((a) => [a.scenario, a.verdict]),
  );
  assert.deepEqual(verdicts, {
    valid: "pass",
    "no-cert": "pass",
    "self-signed": "pass",
    "untrusted-ca": "pass",
    expired: "skipped",
    "not-yet-valid": "skipped",
    revoked: "skipped",
    "wrong-eku": "skipped",
    "missing-intermediate": "pass",
    "legacy-tls": "pass",
    "other-identity": "skipped",
  });
  assert.equal(doc.result.identity.subject, "O=Partner, CN=partner.partner.example");
});

/** A TLS "gateway" (node:tls) that answers the probe's request with `answer`, whatever it presents. */
async function startRawGateway(t: import("node:test").TestContext, srv: { cert: string; key: string }, answer: (s: TLSSocket) => void) {
  const server = createTlsServer({ cert: await readFile(srv.cert), key: await readFile(srv.key), requestCert: true, rejectUnauthorized: false }, (s) => {
    s.on("error", () => {});
    s.once("data", () => answer(s));
  });
  server.on("tlsClientError", () => {});
  const sockets = new Set<TLSSocket>();
  server.on("secureConnection", (s: TLSSocket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as import("node:net").AddressInfo).port;
}

test("--junit stays well-formed XML when the gateway's reason and title carry control characters; they are written as escapes", async (t) => {
  const { dir, srv } = await setup(t);
  const nasty = "\u001b]0;PWNED\u0007\u001b[2J\u001b[31m\u0000\u0001\u001b[1A\r\u0085";
  const port = await startRawGateway(t, srv, (s) =>
    s.end(Buffer.from(`HTTP/1.1 403 ${nasty}Forbidden\r\nContent-Type: text/html\r\n\r\n<title>${nasty}denied</title>`, "latin1")),
  );
  const r = await mtls(
    ["probe", `https://127.0.0.1:${port}/`, "--server-ca", srv.cert, "--scenarios", "valid,no-cert", "--tls", "1.2", "--junit", "probe.xml"],
    {
      cwd: dir,
    },
  );
  assert.equal(r.exitCode, 1, r.stdout + r.stderr);
  const xml = await readFile(join(dir, "probe.xml"), "utf8");
  assert.doesNotMatch(xml, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/, "no raw control character in the file");
  assert.match(
    xml,
    /<failure type="fail" message="expected accept, observed rejected: HTTP 403 \\u\{1b\}\]0;PWNED\\u\{7\}\\u\{1b\}\[2J\\u\{1b\}\[31m\\u\{0\}\\u\{1\}\\u\{1b\}\[1A\\u\{d\}\\u\{85\}denied"\/>/,
  );
  // Python's XML parser (expat) is the judge of well-formedness.
  const parsed = await run("python3", [
    "-c",
    "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(len(d.getElementsByTagName('testcase')))",
    join(dir, "probe.xml"),
  ]);
  assert.equal(parsed.exitCode, 0, parsed.stderr);
  assert.equal(parsed.stdout.trim(), "2");
});

test("a gateway that streams endless bytes that are not HTTP: the probe stops reading after a few KiB and says the answer is not HTTP", async (t) => {
  const { dir, srv } = await setup(t);
  const port = await startRawGateway(t, srv, (s) => {
    const chunk = Buffer.alloc(1 << 16, 0x41);
    const pump = () => {
      while (!s.destroyed && s.write(chunk));
    };
    s.on("drain", pump);
    pump();
  });
  const r = await mtls(["probe", `https://127.0.0.1:${port}/`, "--server-ca", srv.cert, "--scenarios", "valid", "--tls", "1.2", "--timeout", "20s", "--json"], {
    cwd: dir,
  });
  const [valid] = attemptsOf(json(r)).filter((a) => a.scenario === "valid");
  assert.ok(valid, r.stdout);
  assert.equal(valid.verdict, "error", JSON.stringify(valid));
  assert.equal(valid.evidence.summary, "the answer is not HTTP (no status line in its first 4096 bytes)");
});
