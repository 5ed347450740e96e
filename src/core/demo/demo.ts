// `mtls demo`: the whole partner lifecycle on this machine, in a directory of its own, with
// every step checked. Each step names the command a person would type for it.
import { randomBytes } from "node:crypto";
import https from "node:https";
import { join } from "node:path";
import { openBundle } from "../bundle/open.js";
import { generatePartnerKey } from "../bundle/pgp.js";
import { initCa } from "../ca/init.js";
import { publishCrls } from "../crl/publish.js";
import { conflictError, fsError } from "../errors.js";
import { type RunningGateway, startGateway } from "../gateway/serve.js";
import { issuePartnerCert } from "../issue/issue.js";
import { exportPkcs8, generateKeyPair } from "../keys.js";
import { addPartner } from "../partners/partners.js";
import { encodePem } from "../pem.js";
import { createCsr } from "../pki.js";
import { probeGateways } from "../probe/probe.js";
import { SCENARIOS } from "../probe/scenarios.js";
import { offboardPartner } from "../revoke/revoke.js";
import { openPki, type Pki } from "../session.js";
import { checkStatus } from "../status/status.js";
import { fileInPathOf, mkdir, readdir, readFile, writeFile } from "../user-files.js";

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

/** What every step works on: the demo's directories, its store session and, once started, its gateway. */
interface Demo {
  dir: string;
  now: () => Date;
  pki: string;
  aDir: string;
  bDir: string;
  passphrase: string;
  session: Pki;
  gateway?: RunningGateway;
}

interface DemoStepSpec {
  title: string;
  /** What a person would type for this step. */
  command: string;
  /** Does the step; returns its one-line detail, throws when it did not behave. */
  run: (d: Demo) => Promise<string>;
}

const expect = (cond: boolean, message: string) => {
  if (!cond) throw new Error(message);
};

async function createCa(d: Demo): Promise<string> {
  const r = await initCa(d.session, {
    name: "Demo Home Party",
    keyType: "ec-p256",
    rootDays: 3650,
    intermediateDays: 1825,
    intermediate: true,
    passphrase: d.passphrase,
    defaultDays: 90,
    maxDays: 398,
    warnDays: 30,
    crlDays: 7,
  });
  return `${r.root.subject} → ${r.intermediate?.subject}; CRLs published with the revoked canary`;
}

async function makePartnerACsr(d: Demo): Promise<string> {
  const keys = await generateKeyPair("ec-p256");
  await writeFile(join(d.aDir, "key.pem"), encodePem("PRIVATE KEY", await exportPkcs8(keys.privateKey)), { mode: 0o600 });
  await writeFile(
    join(d.aDir, "request.csr"),
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
}

async function signPartnerACsr(d: Demo): Promise<string> {
  const r = await issuePartnerCert(d.session, {
    partnerId: "partner-a",
    csr: await readFile(join(d.aDir, "request.csr")),
    csrSource: "CSR partner-a/request.csr",
  });
  await writeFile(join(d.aDir, "chain.pem"), await readFile(r.chainPath));
  return `serial ${r.serial}, valid until ${r.notAfter}; partner A receives pki/certs/${r.serial}.chain.pem`;
}

async function makePartnerBPgpKey(d: Demo): Promise<string> {
  const k = await generatePartnerKey({ name: "Partner B", email: "pki@partner-b.example", now: d.now() });
  await writeFile(join(d.bDir, "pgp.asc"), k.publicArmored);
  await writeFile(join(d.bDir, "pgp-secret.asc"), k.privateArmored, { mode: 0o600 });
  return `key ${k.fingerprint}`;
}

async function registerPartnerB(d: Demo): Promise<string> {
  const r = await addPartner(d.session, {
    partnerId: "partner-b",
    pgpKey: await readFile(join(d.bDir, "pgp.asc")),
    pgpSource: "partner-b/pgp.asc",
    name: "Partner B",
  });
  return `fingerprint ${r.partner.pgp?.fingerprint} (compare it by phone)`;
}

async function issuePartnerBBundle(d: Demo): Promise<string> {
  const r = await issuePartnerCert(d.session, {
    partnerId: "partner-b",
    generateKeyType: "ec-p256",
    sans: [{ type: "uri", value: "spiffe://partner-b.example/client" }],
    bundleOut: join(d.dir, "partner-b.zip.pgp"),
  });
  return `serial ${r.serial}; bundle ${r.bundle?.bytes} bytes, encrypted to ${r.bundle?.recipientFingerprint}`;
}

async function openPartnerBBundle(d: Demo): Promise<string> {
  const r = await openBundle({
    bundle: await readFile(join(d.dir, "partner-b.zip.pgp")),
    keyArmored: await readFile(join(d.bDir, "pgp-secret.asc"), "utf8"),
    keyPassphrase: async () => "",
    signerArmored: await readFile(join(d.pki, "pgp/home-party.asc"), "utf8"),
    outDir: join(d.bDir, "bundle"),
    now: d.now(),
  });
  expect(
    r.files.some((f) => f.name === "private-key.pem" && f.mode === "0600"),
    "the bundle holds no private key",
  );
  return `good signature by ${r.signer.fingerprint}; ${r.files.length} files, private-key.pem 0600`;
}

async function serveGateway(d: Demo): Promise<string> {
  d.gateway = await startGateway(d.session, { host: "127.0.0.1", port: 0, log: () => {} });
  return `listening on ${d.gateway.url}`;
}

async function probeGateway(d: Demo): Promise<string> {
  const r = await probeGateways({
    targets: [d.gateway?.url ?? ""],
    pki: d.session,
    scenarios: SCENARIOS,
    tlsVersions: ["1.2", "1.3"],
    serverCa: await readFile(join(d.pki, "ca/ca-bundle.pem"), "utf8"),
    insecureServer: false,
    timeoutMs: 5000,
    concurrency: 8,
    expectAllowlist: false,
    now: d.now(),
  });
  const s = r.summary;
  expect(r.outcome === "pass", `probe: ${s.failed} failed, ${s.inconclusive} inconclusive, ${s.errors} errors`);
  return `${s.passed} expectations held over ${s.connections} connections (TLS 1.2 and 1.3)`;
}

/** Partner A and partner B each call the gateway with the certificate and key they hold. */
async function callAsPartners(d: Demo): Promise<[Call, Call]> {
  const ca = await readFile(join(d.pki, "ca/ca-bundle.pem"), "utf8");
  const url = d.gateway?.url ?? "";
  const as = async (chain: string, key: string) => call(url, await readFile(chain, "utf8"), await readFile(key, "utf8"), ca);
  return Promise.all([as(join(d.aDir, "chain.pem"), join(d.aDir, "key.pem")), as(join(d.bDir, "bundle/chain.pem"), join(d.bDir, "bundle/private-key.pem"))]);
}

async function bothPartnersAccepted(d: Demo): Promise<string> {
  const [a, b] = await callAsPartners(d);
  expect(a.status === 200 && a.body.includes('"partner":"partner-a"'), `partner A: ${a.status} ${a.error ?? a.body}`);
  expect(b.status === 200 && b.body.includes('"partner":"partner-b"'), `partner B: ${b.status} ${b.error ?? b.body}`);
  return "partner A: 200, partner B: 200 (the gateway names each)";
}

async function offboardPartnerB(d: Demo): Promise<string> {
  const r = await offboardPartner(d.session, { partnerId: "partner-b", reason: "cessationOfOperation" });
  await d.gateway?.reloadCrls();
  return `${r.revoked.length} revoked; CRL number ${r.crls[0]?.number}; the gateway reloaded its CRLs without a restart`;
}

async function onlyPartnerAAccepted(d: Demo): Promise<string> {
  const [a, b] = await callAsPartners(d);
  expect(a.status === 200, `partner A: ${a.status} ${a.error ?? ""}`);
  expect(b.status === 0, `partner B was not refused: HTTP ${b.status}`);
  return `partner A: 200; partner B: refused (${b.error})`;
}

async function republishAndCheck(d: Demo): Promise<string> {
  const r = await publishCrls(d.session);
  const health = await checkStatus(d.session);
  expect(health.healthy, `status: ${health.problems.map((x) => x.message).join("; ")}`);
  return `CRL number ${r.crls[0]?.number}, next update ${r.crls[0]?.nextUpdate}, ${r.crls[0]?.entries} entries (partner B and the canary); status healthy`;
}

/** The lifecycle, in order; the demo stops at the first step that does not behave. */
const STEPS: DemoStepSpec[] = [
  {
    title: "The home party creates its private CA (root + issuing intermediate, keys encrypted)",
    command: 'mtls ca init --name "Demo Home Party"',
    run: createCa,
  },
  {
    title: "Partner A makes a key and a CSR; its key never leaves it",
    command: "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout partner-a/key.pem -out partner-a/request.csr",
    run: makePartnerACsr,
  },
  { title: "The home party signs partner A's CSR", command: "mtls partner issue partner-a --csr partner-a/request.csr", run: signPartnerACsr },
  {
    title: "Partner B sends its OpenPGP public key",
    command: "gpg --batch --gen-key ... && gpg --armor --export pki@partner-b.example > partner-b/pgp.asc",
    run: makePartnerBPgpKey,
  },
  {
    title: "The home party registers partner B and its key",
    command: "mtls partner add partner-b --pgp-key partner-b/pgp.asc --name 'Partner B'",
    run: registerPartnerB,
  },
  {
    title: "The home party generates partner B's key; it leaves only inside an encrypted, signed bundle",
    command: "mtls partner issue partner-b --generate --san uri:spiffe://partner-b.example/client --bundle partner-b.zip.pgp",
    run: issuePartnerBBundle,
  },
  {
    title: "Partner B opens the bundle: signature, manifest and key checked",
    command: "mtls bundle open partner-b.zip.pgp --key partner-b/pgp-secret.asc --signer pki/pgp/home-party.asc --out partner-b/bundle",
    run: openPartnerBBundle,
  },
  { title: "The home party starts a test gateway that enforces the PKI", command: "mtls gateway serve --port 0", run: serveGateway },
  {
    title: "Probe the gateway: it must accept the valid certificate and reject every bad one",
    command: "mtls probe https://localhost:<port>/ --server-ca pki/ca/ca-bundle.pem",
    run: probeGateway,
  },
  {
    title: "Both partners call the gateway with their certificates",
    command: "curl --cert chain.pem --key key.pem --cacert ca.pem https://localhost:<port>/",
    run: bothPartnersAccepted,
  },
  { title: "Offboard partner B: every certificate revoked, one CRL published", command: "mtls partner offboard partner-b --yes", run: offboardPartnerB },
  { title: "Partner B is now refused, partner A still accepted", command: "curl ... (as each partner again)", run: onlyPartnerAAccepted },
  { title: "The CRL keeps itself honest", command: "mtls crl publish && mtls status", run: republishAndCheck },
];

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
  const passphrase = randomBytes(18).toString("base64url");
  const secret = async () => passphrase;
  const session = await openPki(pki, { now: p.now, actor: p.actor, passphrase: secret });
  const d: Demo = { dir: p.dir, now: p.now, pki, aDir: join(p.dir, "partner-a"), bDir: join(p.dir, "partner-b"), passphrase, session };

  const existing = await readdir(p.dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return [];
    if (err.code === "ENOTDIR")
      throw conflictError("ERR_EXISTS", `${fileInPathOf(p.dir) ?? p.dir} exists and is not a directory`, "give --dir a new or empty directory");
    throw fsError(err, p.dir, "read");
  });
  if (existing.length > 0) throw conflictError("ERR_EXISTS", `${p.dir} is not empty`, "give --dir a new or empty directory");
  try {
    await mkdir(d.aDir, { recursive: true });
    await mkdir(d.bDir, { recursive: true });
    for (const spec of STEPS) {
      const s = await runStep(steps.length + 1, spec, d, p.onStart);
      steps.push(s);
      p.onStep?.(s);
      if (!s.ok) break;
    }
    return { dir: p.dir, ok: steps.every((s) => s.ok), steps, durationMs: Date.now() - started };
  } finally {
    await d.gateway?.close();
  }
}

async function runStep(n: number, spec: DemoStepSpec, d: Demo, onStart?: (n: number, title: string, command: string) => void): Promise<DemoStep> {
  onStart?.(n, spec.title, spec.command);
  const t0 = Date.now();
  let ok = true;
  let detail: string;
  try {
    detail = await spec.run(d);
  } catch (err) {
    ok = false;
    detail = (err as Error).message;
  }
  return { n, title: spec.title, command: spec.command, ok, detail, ms: Date.now() - t0 };
}
