import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import { join } from "node:path";
import test from "node:test";
import { parseAllDocuments } from "yaml";
import { makeCsr } from "../helpers/csr.js";
import { apacheBin, apacheGlobals, freePort, haveApache, haveHaproxy, haveNginx, startProcess } from "../helpers/gateways.js";
import { initTempCa, json, mtls, run } from "../helpers/run.js";
import { serverCert } from "../helpers/tls.js";

/** A PKI with partner "acme" (CN acme-client, SPIFFE URI SAN) and "beta"; returns acme's credentials. */
async function pkiWithPartners(t: import("node:test").TestContext) {
  const dir = await initTempCa(t, ["--crl-url", "http://pki.test.example/crl/issuing.crl"]);
  const acme = await makeCsr(dir, "acme", {
    subj: "/O=Acme/CN=acme-client",
    addext: ["subjectAltName=URI:spiffe://acme.example/client,DNS:client.acme.example"],
  });
  const issued = json(await mtls(["partner", "issue", "acme", "--csr", acme.csr, "--json"], { cwd: dir })).result;
  const beta = await makeCsr(dir, "beta", { subj: "/O=Beta/CN=beta-client" });
  await mtls(["partner", "issue", "beta", "--csr", beta.csr], { cwd: dir });
  return { dir, acmeChain: issued.chainPath as string, acmeKey: acme.key };
}

async function upstream(t: import("node:test").TestContext): Promise<number> {
  const server = http.createServer((req, res) => res.end(`upstream saw ${req.headers["x-client-subject"] ?? "?"}\n`));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as import("node:net").AddressInfo).port;
}

/** A main httpd config around the rendered virtual host. */
async function writeApacheMain(out: string) {
  const mods = ["mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers"];
  const lines = [...apacheGlobals(out, mods, `${out}/error.log`, `${out}/apache.pid`), "LogLevel info ssl:info", `Include ${out}/mtls-partners.conf`, ""];
  await writeFile(join(out, "main.conf"), lines.join("\n"));
}

async function render(dir: string, kind: string, extra: string[] = []) {
  const r = await mtls(["gateway", "config", kind, ...extra], { cwd: dir });
  assert.equal(r.exitCode, 0, `${kind}: ${r.stderr}`);
  assert.doesNotMatch(r.stdout, /PRIVATE KEY/, `${kind} renders no key`);
  return r;
}

test("nginx -t, haproxy -c and apache2 -t accept the rendered configurations", async (t) => {
  const { dir } = await pkiWithPartners(t);
  const srv = await serverCert(dir);
  if (haveNginx()) {
    await render(dir, "nginx", ["--partner", "acme", "--listen", "127.0.0.1:18443", "--server-cert", srv.cert, "--server-key", srv.key, "--out", "nginx/"]);
    await writeFile(
      join(dir, "nginx/main.conf"),
      `pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log; events {} http { include ${dir}/nginx/mtls-partners.conf; }\n`,
    );
    const check = await run("nginx", ["-t", "-c", join(dir, "nginx/main.conf"), "-p", dir, "-e", join(dir, "nginx-t.log")]);
    assert.equal(check.exitCode, 0, check.stderr);
    assert.equal(await readFile(join(dir, "nginx/crl-bundle.pem"), "utf8"), await readFile(join(dir, "pki/crl/crl-bundle.pem"), "utf8"));
  }
  if (haveHaproxy()) {
    await writeFile(join(dir, "srv-combined.pem"), (await readFile(srv.cert, "utf8")) + (await readFile(srv.key, "utf8")));
    await render(dir, "haproxy", [
      "--partner",
      "acme",
      "--partner",
      "beta",
      "--listen",
      "127.0.0.1:18444",
      "--server-cert",
      join(dir, "srv-combined.pem"),
      "--out",
      "haproxy/",
    ]);
    const check = await run("haproxy", ["-c", "-f", join(dir, "haproxy/haproxy.cfg")]);
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
  }
  if (haveApache()) {
    await render(dir, "apache", ["--partner", "acme", "--listen", "127.0.0.1:18445", "--server-cert", srv.cert, "--server-key", srv.key, "--out", "apache/"]);
    await writeApacheMain(join(dir, "apache"));
    const check = await run(apacheBin(), ["-t", "-f", join(dir, "apache/main.conf")]);
    assert.equal(check.exitCode, 0, check.stdout + check.stderr);
    // #12: the whole RFC 2253 subject, anchored, with the one CN spelled out (no substring match).
    assert.match(await readFile(join(dir, "apache/mtls-partners.conf"), "utf8"), /Require expr "%\{SSL_CLIENT_S_DN\} =~ m#\^.*CN=acme\\x\{2d\}client.*\\z#"/);
  }
  if (!haveNginx() && !haveHaproxy() && !haveApache()) t.skip("no gateway installed");
});

const installed = { nginx: haveNginx, haproxy: haveHaproxy, apache: haveApache };
for (const kind of ["nginx", "haproxy", "apache"] as const) {
  test(`the rendered ${kind} config, started on loopback, passes mtls probe: every scenario, other-identity rejected`, async (t) => {
    if (!installed[kind]()) return t.skip(`${kind} is not installed`);
    const { dir, acmeChain, acmeKey } = await pkiWithPartners(t);
    const srv = await serverCert(dir);
    const port = await freePort();
    const up = await upstream(t);
    const out = join(dir, kind);
    let cert = srv.cert;
    if (kind === "haproxy") {
      cert = join(dir, "srv-combined.pem");
      await writeFile(cert, (await readFile(srv.cert, "utf8")) + (await readFile(srv.key, "utf8")));
    }
    await render(dir, kind, [
      "--partner",
      "acme",
      "--listen",
      `127.0.0.1:${port}`,
      "--server-cert",
      cert,
      // HAProxy reads the key from the crt file and matches no host name: both flags would be refused (#19).
      ...(kind === "haproxy" ? [] : ["--server-key", srv.key, "--hostname", "localhost"]),
      "--upstream",
      `http://127.0.0.1:${up}`,
      "--out",
      `${kind}/`,
    ]);
    if (kind === "nginx") {
      await writeFile(
        join(out, "main.conf"),
        `daemon off; pid ${out}/nginx.pid; error_log ${out}/error.log; events {} http { access_log off; client_body_temp_path ${out}/b; proxy_temp_path ${out}/p; fastcgi_temp_path ${out}/f; uwsgi_temp_path ${out}/u; scgi_temp_path ${out}/s; include ${out}/mtls-partners.conf; }\n`,
      );
      await startProcess(t, "nginx", ["-c", join(out, "main.conf"), "-p", out, "-e", join(out, "error.log")], port, join(out, "error.log"));
    } else if (kind === "haproxy") {
      await startProcess(t, "haproxy", ["-db", "-f", join(out, "haproxy.cfg")], port, join(out, "haproxy.cfg"));
    } else {
      await writeApacheMain(out);
      await startProcess(t, apacheBin(), ["-f", join(out, "main.conf"), "-DFOREGROUND"], port, join(out, "error.log"));
    }
    const probe = await mtls(
      ["probe", `https://localhost:${port}/`, "--server-ca", srv.cert, "--cert", acmeChain, "--key", acmeKey, "--expect-allowlist", "--json"],
      { cwd: dir, timeoutMs: 60_000 },
    );
    const doc = json(probe);
    const attempts = doc.result.targets[0].attempts as Array<{
      scenario: string;
      tls: string;
      verdict: string;
      evidence: { summary: string; httpStatus?: number };
    }>;
    assert.equal(
      probe.exitCode,
      0,
      JSON.stringify(
        attempts.filter((a) => a.verdict !== "pass"),
        null,
        1,
      ),
    );
    const other = attempts.filter((a) => a.scenario === "other-identity");
    assert.equal(other.length, 2);
    for (const a of other) {
      assert.equal(a.verdict, "pass");
      assert.equal(a.evidence.httpStatus, 403, a.evidence.summary);
    }
    // The partner's own certificate gets through to the upstream.
    const { curlWithCert } = await import("../helpers/curl.js");
    const ok = await curlWithCert(port, { cert: acmeChain, key: acmeKey, cacert: srv.cert });
    assert.equal(ok.status, 200, ok.stderr);
    assert.match(ok.body, /upstream saw .*acme-client/);
  });
}

test("the YAML kinds parse and carry the security-bearing fields; nothing secret is rendered", async (t) => {
  const { dir } = await pkiWithPartners(t);
  const caBundle = await readFile(join(dir, "pki/ca/ca-bundle.pem"), "utf8");
  const crlBundle = await readFile(join(dir, "pki/crl/crl-bundle.pem"), "utf8");
  const root = await readFile(join(dir, "pki/ca/root.pem"), "utf8");
  // --hostname and --upstream only where the kind has them to set: a flag a kind does not use is refused (#19).
  const docs = async (kind: string) => {
    const host = ["flex-gateway", "k8s-secret"].includes(kind) ? [] : ["--hostname", "api.home.example"];
    const upstream = kind === "k8s-secret" ? [] : ["--upstream", "http://partner-api.default:8080"];
    const r = await render(dir, kind, ["--partner", "acme", ...host, ...upstream]);
    const parsed = parseAllDocuments(r.stdout);
    for (const d of parsed) assert.deepEqual(d.errors, [], `${kind}: ${d.errors.join("; ")}`);
    // biome-ignore lint/suspicious/noExplicitAny: parsed YAML is checked field by field
    return parsed.map((d) => d.toJS() as any).filter(Boolean);
  };

  const [kong] = await docs("kong");
  assert.equal(kong._format_version, "3.0");
  assert.equal(kong.ca_certificates[0].cert.trim(), root.trim());
  const plugin = kong.services[0].plugins[0];
  assert.equal(plugin.name, "mtls-auth");
  assert.deepEqual(plugin.config.ca_certificates, [kong.ca_certificates[0].id]);
  assert.equal(plugin.config.skip_consumer_lookup, false);
  assert.equal(plugin.config.revocation_check_mode, "STRICT");
  assert.deepEqual(kong.consumers, [{ username: "acme-client", custom_id: "acme", tags: ["mtls"] }]);
  // #12: only the username (the CN) is matched; a CN equal to a partner id must not pick a consumer.
  assert.deepEqual(plugin.config.consumer_by, ["username"]);

  const flex = await docs("flex-gateway");
  const binding = flex.find((d) => d.kind === "PolicyBinding");
  assert.equal(binding.spec.policyRef.name, "tls");
  assert.equal(binding.spec.config.requireClientCertificate, true);
  assert.equal(binding.spec.config.trustedCA.trim(), caBundle.trim());
  assert.equal(binding.spec.config.minversion, "1.2");
  assert.equal(flex.find((d) => d.kind === "ApiInstance").spec.services.upstream.address, "http://partner-api.default:8080");

  const [envoy] = await docs("envoy");
  const tls = envoy.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config;
  assert.equal(tls.require_client_certificate, true);
  assert.equal(tls.common_tls_context.tls_params.tls_minimum_protocol_version, "TLSv1_2");
  const vc = tls.common_tls_context.validation_context;
  assert.equal(vc.trusted_ca.filename, join(dir, "pki/ca/ca-bundle.pem"));
  assert.equal(vc.crl.filename, join(dir, "pki/crl/crl-bundle.pem"));
  assert.deepEqual(vc.match_typed_subject_alt_names, [
    { san_type: "URI", matcher: { exact: "spiffe://acme.example/client" } },
    { san_type: "DNS", matcher: { exact: "client.acme.example" } },
  ]);

  const gw = await docs("gateway-api");
  const gateway = gw.find((d) => d.kind === "Gateway");
  assert.equal(gateway.spec.tls.frontend.default.validation.mode, "AllowValidOnly");
  assert.deepEqual(gateway.spec.tls.frontend.default.validation.caCertificateRefs, [{ group: "", kind: "ConfigMap", name: "mtls-partner-ca" }]);
  assert.equal(gateway.spec.listeners[0].tls.mode, "Terminate");
  assert.equal(gw.find((d) => d.kind === "ConfigMap" && d.metadata.name === "mtls-partner-ca").data["ca.crt"].trim(), caBundle.trim());
  assert.equal(gw.find((d) => d.kind === "ConfigMap" && d.metadata.name === "mtls-partner-crl").data["ca.crl"].trim(), crlBundle.trim());
  const ctp = gw.find((d) => d.kind === "ClientTrafficPolicy");
  assert.equal(ctp.spec.tls.minVersion, "1.2");
  assert.equal(ctp.spec.tls.clientValidation.optional, false);
  assert.equal(ctp.spec.tls.clientValidation.crl.refs[0].name, "mtls-partner-crl");
  assert.deepEqual(ctp.spec.tls.clientValidation.subjectAltNames.uris, [{ type: "Exact", value: "spiffe://acme.example/client" }]);

  const k8s = await docs("k8s-secret");
  const secret = k8s.find((d) => d.kind === "Secret");
  assert.equal(Buffer.from(secret.data["ca.crt"], "base64").toString(), caBundle);
  assert.equal(Buffer.from(secret.data["ca.crl"], "base64").toString(), crlBundle);
});

test("unknown kinds and partners without a valid certificate are refused", async (t) => {
  const { dir } = await pkiWithPartners(t);
  const kind = await mtls(["gateway", "config", "iis", "--json"], { cwd: dir });
  assert.equal(kind.exitCode, 2);
  assert.match(json(kind).error?.hint ?? "", /apache, envoy, flex-gateway, gateway-api, haproxy, k8s-secret, kong, nginx/);
  const nobody = await mtls(["gateway", "config", "nginx", "--partner", "nobody", "--json"], { cwd: dir });
  assert.equal(nobody.exitCode, 3);
  assert.equal(json(nobody).error?.code, "ERR_NO_CERT");
  const flex = await mtls(["gateway", "config", "flex-gateway", "--partner", "acme"], { cwd: dir });
  assert.match(flex.stderr, /warning: Anypoint Flex Gateway cannot allow-list/);
  assert.match(flex.stderr, /warning: Anypoint Flex Gateway does not load CRLs/);
});

test("a CRL bundle without every CA's CRL is refused (exit 5) rather than copied into a gateway's config", async (t) => {
  const { dir } = await pkiWithPartners(t);
  const bundle = join(dir, "pki", "crl", "crl-bundle.pem");
  const whole = await readFile(bundle, "utf8");
  const blocks = whole.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----\n/g) ?? [];
  assert.equal(blocks.length, 2);
  for (const partial of ["", blocks[0] as string]) {
    await writeFile(bundle, partial);
    const r = await mtls(["gateway", "config", "nginx", "--out", join(dir, "gw-out/"), "--json"], { cwd: dir });
    assert.equal(r.exitCode, 5, r.stdout);
    assert.equal(json(r).error?.code, "ERR_NO_CRL");
    assert.match(json(r).error?.message ?? "", partial ? /holds no CRL of the (root|intermediate) CA:/ : /holds no CRL of the intermediate, root CAs:/);
  }
  await writeFile(bundle, whole);
  await render(dir, "nginx", ["--out", join(dir, "gw-out/")]);
  assert.equal(await readFile(join(dir, "gw-out", "crl-bundle.pem"), "utf8"), whole);
});
