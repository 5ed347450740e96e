// `mtls demo`: the whole partner lifecycle on this machine, in a directory of its own, with
// every step checked. Each step names the command a person would type for it.
import { randomBytes } from "node:crypto";
import https from "node:https";
import { join } from "node:path";
import { openBundle } from "../bundle/open.js";
import { generatePartnerKey } from "../bundle/pgp.js";
import { initCa } from "../ca/init.js";
import { publishCrls } from "../crl/publish.js";
import { conflictError } from "../errors.js";
import { type RunningGateway, startGateway } from "../gateway/serve.js";
import { issuePartnerCert } from "../issue/issue.js";
import { exportPkcs8, generateKeyPair } from "../keys.js";
import { addPartner } from "../partners/partners.js";
import { encodePem } from "../pem.js";
import { createCsr } from "../pki.js";
import { probeGateways } from "../probe/probe.js";
import { SCENARIOS } from "../probe/scenarios.js";
import { offboardPartner } from "../revoke/revoke.js";
import { openPki } from "../session.js";
import { checkStatus } from "../status/status.js";
import { mkdir, readdir, readFile, writeFile } from "../user-files.js";

export interface DemoStep {
  n: number;
  title: string;
  /** What a person would type for this step. */
  command: string;
  ok: boolean;
  detail: string;
  ms: number;
}

export interface DemoResult {
  dir: string;
  ok: boolean;
  steps: DemoStep[];
  durationMs: number;
}

interface Call {
  status: number;
  body: string;
  error?: string;
}

function call(url: string, certPem: string, keyPem: string, caPem: string): Promise<Call> {
  return new Promise((resolve) => {
    const req = https.get(url, { cert: certPem, key: keyPem, ca: caPem, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err: NodeJS.ErrnoException) => resolve({ status: 0, body: "", error: err.code ?? err.message }));
  });
}

/** Runs the lifecycle in `dir` (which must be empty or absent). `onStep` narrates as it goes. */
export async function runDemo(p: {
  dir: string;
  now: () => Date;
  /** Who the demo store's audit log names. */
  actor: string;
  onStep?: (s: DemoStep) => void;
  onStart?: (n: number, title: string, command: string) => void;
}): Promise<DemoResult> {
  const started = Date.now();
  const steps: DemoStep[] = [];
  const pki = join(p.dir, "pki");
  const aDir = join(p.dir, "partner-a");
  const bDir = join(p.dir, "partner-b");
  const passphrase = randomBytes(18).toString("base64url");
  const secret = async () => passphrase;
  const session = await openPki(pki, { now: p.now, actor: p.actor, passphrase: secret });
  let gateway: RunningGateway | undefined;
  const step = async (title: string, command: string, fn: () => Promise<string>): Promise<boolean> => {
    const n = steps.length + 1;
    p.onStart?.(n, title, command);
    const t0 = Date.now();
    let ok = true;
    let detail: string;
    try {
      detail = await fn();
    } catch (err) {
      ok = false;
      detail = (err as Error).message;
    }
    const s = { n, title, command, ok, detail, ms: Date.now() - t0 };
    steps.push(s);
    p.onStep?.(s);
    return ok;
  };
  const expect = (cond: boolean, message: string) => {
    if (!cond) throw new Error(message);
  };

  const existing = await readdir(p.dir).catch(() => []);
  if (existing.length > 0) throw conflictError("ERR_EXISTS", `${p.dir} is not empty`, "give --dir a new or empty directory");
  try {
    await mkdir(aDir, { recursive: true });
    await mkdir(bDir, { recursive: true });
    const ok =
      (await step("The home party creates its private CA (root + issuing intermediate, keys encrypted)", 'mtls ca init --name "Demo Home Party"', async () => {
        const r = await initCa(session, {
          name: "Demo Home Party",
          keyType: "ec-p256",
          rootDays: 3650,
          intermediateDays: 1825,
          intermediate: true,
          passphrase,
          defaultDays: 90,
          maxDays: 398,
          warnDays: 30,
          crlDays: 7,
        });
        return `${r.root.subject} → ${r.intermediate?.subject}; CRLs published with the revoked canary`;
      })) &&
      (await step(
        "Partner A makes a key and a CSR; its key never leaves it",
        "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout partner-a/key.pem -out partner-a/request.csr",
        async () => {
          const keys = await generateKeyPair("ec-p256");
          await writeFile(join(aDir, "key.pem"), encodePem("PRIVATE KEY", await exportPkcs8(keys.privateKey)), { mode: 0o600 });
          await writeFile(
            join(aDir, "request.csr"),
            await createCsr({
              subject: {
                rdns: [
                  ["O", "Partner A"],
                  ["CN", "partner-a-client"],
                ],
              },
              keys,
              keyType: "ec-p256",
              sans: [{ type: "uri", value: "spiffe://partner-a.example/client" }],
            }),
          );
          return "partner-a/request.csr (CN=partner-a-client, URI SAN spiffe://partner-a.example/client)";
        },
      )) &&
      (await step("The home party signs partner A's CSR", "mtls partner issue partner-a --csr partner-a/request.csr", async () => {
        const r = await issuePartnerCert(session, {
          partnerId: "partner-a",
          csr: await readFile(join(aDir, "request.csr")),
          csrSource: "CSR partner-a/request.csr",
        });
        await writeFile(join(aDir, "chain.pem"), await readFile(r.chainPath));
        return `serial ${r.serial}, valid until ${r.notAfter}; partner A receives pki/certs/${r.serial}.chain.pem`;
      })) &&
      (await step(
        "Partner B sends its OpenPGP public key",
        "gpg --batch --gen-key ... && gpg --armor --export pki@partner-b.example > partner-b/pgp.asc",
        async () => {
          const k = await generatePartnerKey({ name: "Partner B", email: "pki@partner-b.example", now: p.now() });
          await writeFile(join(bDir, "pgp.asc"), k.publicArmored);
          await writeFile(join(bDir, "pgp-secret.asc"), k.privateArmored, { mode: 0o600 });
          return `key ${k.fingerprint}`;
        },
      )) &&
      (await step("The home party registers partner B and its key", "mtls partner add partner-b --pgp-key partner-b/pgp.asc --name 'Partner B'", async () => {
        const r = await addPartner(session, {
          partnerId: "partner-b",
          pgpKey: await readFile(join(bDir, "pgp.asc")),
          pgpSource: "partner-b/pgp.asc",
          name: "Partner B",
        });
        return `fingerprint ${r.partner.pgp?.fingerprint} (compare it by phone)`;
      })) &&
      (await step(
        "The home party generates partner B's key; it leaves only inside an encrypted, signed bundle",
        "mtls partner issue partner-b --generate --san uri:spiffe://partner-b.example/client --bundle partner-b.zip.pgp",
        async () => {
          const r = await issuePartnerCert(session, {
            partnerId: "partner-b",
            generateKeyType: "ec-p256",
            sans: [{ type: "uri", value: "spiffe://partner-b.example/client" }],
            bundleOut: join(p.dir, "partner-b.zip.pgp"),
          });
          return `serial ${r.serial}; bundle ${r.bundle?.bytes} bytes, encrypted to ${r.bundle?.recipientFingerprint}`;
        },
      )) &&
      (await step(
        "Partner B opens the bundle: signature, manifest and key checked",
        "mtls bundle open partner-b.zip.pgp --key partner-b/pgp-secret.asc --signer pki/pgp/home-party.asc --out partner-b/bundle",
        async () => {
          const r = await openBundle({
            bundle: await readFile(join(p.dir, "partner-b.zip.pgp")),
            keyArmored: await readFile(join(bDir, "pgp-secret.asc"), "utf8"),
            keyPassphrase: async () => "",
            signerArmored: await readFile(join(pki, "pgp/home-party.asc"), "utf8"),
            outDir: join(bDir, "bundle"),
          });
          expect(
            r.files.some((f) => f.name === "private-key.pem" && f.mode === "0600"),
            "the bundle holds no private key",
          );
          return `good signature by ${r.signer.fingerprint}; ${r.files.length} files, private-key.pem 0600`;
        },
      )) &&
      (await step("The home party starts a test gateway that enforces the PKI", "mtls gateway serve --port 0", async () => {
        gateway = await startGateway({ pkiDir: pki, host: "127.0.0.1", port: 0, passphrase: secret, now: p.now(), log: () => {} });
        return `listening on ${gateway.url}`;
      })) &&
      (await step(
        "Probe the gateway: it must accept the valid certificate and reject every bad one",
        "mtls probe https://localhost:<port>/ --server-ca pki/ca/ca-bundle.pem",
        async () => {
          const r = await probeGateways({
            targets: [gateway?.url ?? ""],
            pki: session,
            scenarios: SCENARIOS,
            tlsVersions: ["1.2", "1.3"],
            serverCa: await readFile(join(pki, "ca/ca-bundle.pem"), "utf8"),
            insecureServer: false,
            timeoutMs: 5000,
            concurrency: 8,
            expectAllowlist: false,
            now: p.now(),
          });
          const s = r.summary;
          expect(r.outcome === "pass", `probe: ${s.failed} failed, ${s.inconclusive} inconclusive, ${s.errors} errors`);
          return `${s.passed} expectations held over ${s.connections} connections (TLS 1.2 and 1.3)`;
        },
      ));
    if (!ok || !gateway) return done();
    const ca = await readFile(join(pki, "ca/ca-bundle.pem"), "utf8");
    const asA = () =>
      readFile(join(aDir, "chain.pem"), "utf8").then(async (c) => call(gateway?.url ?? "", c, await readFile(join(aDir, "key.pem"), "utf8"), ca));
    const asB = () =>
      readFile(join(bDir, "bundle/chain.pem"), "utf8").then(async (c) =>
        call(gateway?.url ?? "", c, await readFile(join(bDir, "bundle/private-key.pem"), "utf8"), ca),
      );
    (await step(
      "Both partners call the gateway with their certificates",
      "curl --cert chain.pem --key key.pem --cacert ca.pem https://localhost:<port>/",
      async () => {
        const [a, b] = await Promise.all([asA(), asB()]);
        expect(a.status === 200 && a.body.includes('"partner":"partner-a"'), `partner A: ${a.status} ${a.error ?? a.body}`);
        expect(b.status === 200 && b.body.includes('"partner":"partner-b"'), `partner B: ${b.status} ${b.error ?? b.body}`);
        return "partner A: 200, partner B: 200 (the gateway names each)";
      },
    )) &&
      (await step("Offboard partner B: every certificate revoked, one CRL published", "mtls partner offboard partner-b --yes", async () => {
        const r = await offboardPartner(session, { partnerId: "partner-b", reason: "cessationOfOperation" });
        await gateway?.reloadCrls();
        return `${r.revoked.length} revoked; CRL number ${r.crls[0]?.number}; the gateway reloaded its CRLs without a restart`;
      })) &&
      (await step("Partner B is now refused, partner A still accepted", "curl ... (as each partner again)", async () => {
        const [a, b] = await Promise.all([asA(), asB()]);
        expect(a.status === 200, `partner A: ${a.status} ${a.error ?? ""}`);
        expect(b.status === 0, `partner B was not refused: HTTP ${b.status}`);
        return `partner A: 200; partner B: refused (${b.error})`;
      })) &&
      (await step("The CRL keeps itself honest", "mtls crl publish && mtls status", async () => {
        const r = await publishCrls(session);
        const health = await checkStatus({ pkiDir: pki, now: p.now() });
        expect(health.healthy, `status: ${health.problems.map((x) => x.message).join("; ")}`);
        return `CRL number ${r.crls[0]?.number}, next update ${r.crls[0]?.nextUpdate}, ${r.crls[0]?.entries} entries (partner B and the canary); status healthy`;
      }));
    return done();
  } finally {
    await gateway?.close();
  }

  function done(): DemoResult {
    return { dir: p.dir, ok: steps.every((s) => s.ok), steps, durationMs: Date.now() - started };
  }
}
