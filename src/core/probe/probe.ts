import { isIP, connect as tcpConnect } from "node:net";
import { inputError, usageError } from "../errors.js";
import { decodePemBlocks } from "../pem.js";
import { parseCertificate } from "../pki.js";
import type { Pki } from "../session.js";
import type { StoreConfig } from "../store/config.js";
import { attempt, type ClientCredential, type Evidence, type Observation, type ServerCertInfo, type TlsMode } from "./attempt.js";
import { describePresented, likelyCauses, markNotOffered } from "./causes.js";
import { prepareCredentials, type UserCredential } from "./credentials.js";
import { measureRevocation, type RevocationMeasurement, revokeProbeCertificate } from "./measure.js";
import { type Scenario, type ScenarioName, withRolloverScenarios } from "./scenarios.js";

export type Verdict = "pass" | "fail" | "inconclusive" | "error" | "info" | "skipped";

export interface AttemptResult {
  scenario: ScenarioName;
  /** Which certificate of a multi-certificate scenario (identity-spoof: "second-cn" …). */
  variant?: string;
  tls: "1.2" | "1.3" | "1.0-1.1";
  expected: "accept" | "reject" | "info";
  observed: Observation["outcome"] | "skipped";
  evidence: Evidence;
  verdict: Verdict;
  protocol?: string;
  durationMs: number;
}

export interface TargetResult {
  url: string;
  host: string;
  port: number;
  servername?: string;
  reachable: boolean;
  error?: string;
  protocol?: Record<string, string>;
  cipher?: Record<string, string>;
  serverChain?: ServerCertInfo[];
  chainComplete?: boolean;
  /** Per TLS version: was the valid certificate accepted? */
  baseline: Record<string, boolean>;
  attempts: AttemptResult[];
  likelyCauses: string[];
  /** --measure-revocation: how long until a revoked certificate was refused. */
  revocation?: RevocationMeasurement;
  /** TLS versions the gateway answered with alert protocol_version: their scenarios did not run. */
  tlsNotOffered?: string[];
  ok: boolean;
}

export interface ProbeSummary {
  targets: number;
  unreachable: number;
  passed: number;
  failed: number;
  inconclusive: number;
  errors: number;
  info: number;
  skipped: number;
  connections: number;
}

export interface ProbeResult {
  targets: TargetResult[];
  summary: ProbeSummary;
  /** The identity the certificates carried; absent when none was made (a target could not be reached). */
  identity?: { subject: string; sans: string[] };
  durationMs: number;
  /**
   * pass: every expectation held; fail: one did not (or a baseline failed); unreachable: a target
   * did not take a TCP connection, and then no target was probed (targets lists the unreachable).
   */
  outcome: "pass" | "fail" | "unreachable";
}

/** The PKI a probe runs from, opened and checked. */
type ProbeStore = { pki: Pki; config: StoreConfig };

export interface ProbeParams {
  targets: string[];
  /** The home party's PKI; without one (a partner probing) only scenarios needing no CA run. */
  pki?: Pki;
  user?: UserCredential;
  scenarios: Scenario[];
  tlsVersions: Array<"1.2" | "1.3">;
  servername?: string;
  serverCa?: string;
  insecureServer: boolean;
  timeoutMs: number;
  concurrency: number;
  /** The gateway allow-lists identities: a valid certificate for another subject must be rejected. */
  expectAllowlist: boolean;
  /** The gateway checks OCSP: the OCSP canary must be rejected. */
  expectOcsp?: boolean;
  /** Revoke a fresh certificate and time how long until each gateway refuses it. */
  measureRevocation?: { timeoutMs: number };
  now: Date;
  onProgress?: (done: number, total: number) => void;
}

interface Target {
  url: string;
  host: string;
  port: number;
  servername?: string;
  hostHeader: string;
  path: string;
}

function parseTarget(raw: string, servername: string | undefined): Target {
  let u: URL;
  try {
    u = new URL(raw.includes("://") ? raw : `https://${raw}`);
  } catch {
    throw usageError("ERR_USAGE", `invalid target "${raw}"`, "use https://host[:port][/path]");
  }
  if (u.protocol !== "https:") throw usageError("ERR_USAGE", `invalid target "${raw}": only https:// is probed`);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const sni = servername ?? (isIP(host) ? undefined : host);
  return { url: u.toString(), host, port: Number(u.port || 443), ...(sni ? { servername: sni } : {}), hostHeader: u.host, path: `${u.pathname}${u.search}` };
}

function reachable(t: Target, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: t.host, port: t.port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`no TCP connection within ${timeoutMs} ms`);
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.destroy();
      resolve(undefined);
    });
    s.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(`${e.code ?? "error"}: ${e.message}`);
    });
  });
}

/** The targets that take no TCP connection within the timeout (3 s at most), as results. */
async function unreachableTargets(targets: Target[], timeoutMs: number): Promise<TargetResult[]> {
  const reach = await Promise.all(targets.map((t) => reachable(t, Math.min(timeoutMs, 3000))));
  return targets.flatMap((t, i) => {
    const error = reach[i];
    return error ? [unreachableResult(t, error)] : [];
  });
}

/**
 * --server-ca, read before anything is minted: a file that holds no certificate would otherwise
 * show up only as every handshake failing.
 */
function checkServerCa(pem: string): void {
  const blocks = decodePemBlocks(pem).filter((b) => b.label === "CERTIFICATE");
  if (!blocks.length)
    throw inputError("ERR_CERT_PARSE", "--server-ca holds no PEM certificate", "give the CA certificate(s) the gateway's own certificate chains to, in PEM");
  for (const b of blocks) parseCertificate(b.der, "a certificate in --server-ca");
}

async function pool<T>(items: Array<() => Promise<T>>, limit: number, onDone: () => void): Promise<T[]> {
  const out: T[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await (items[i] as () => Promise<T>)();
      onDone();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function verdictOf(expected: AttemptResult["expected"], observed: Observation["outcome"]): Verdict {
  if (observed === "error") return "error";
  if (expected === "info") return "info";
  return (expected === "accept") === (observed === "accepted") ? "pass" : "fail";
}

/**
 * The revoked canary carries an identity of its own, so a gateway with an identity allow-list
 * refuses it whether or not it checks the CRL. When the refusal is the very answer other-identity
 * got (same HTTP status and text), it proves nothing about revocation.
 */
function distrustAllowlistAnswers(attempts: AttemptResult[]): void {
  for (const revoked of attempts) {
    const canary = revoked.scenario === "revoked" || revoked.scenario === "ocsp-revoked";
    if (!canary || (revoked.verdict !== "pass" && revoked.verdict !== "info") || revoked.observed !== "rejected" || revoked.evidence.httpStatus === undefined)
      continue;
    const control = attempts.find((a) => a.scenario === "other-identity" && a.tls === revoked.tls);
    if (control?.observed !== "rejected") continue;
    if (control.evidence.httpStatus !== revoked.evidence.httpStatus || control.evidence.httpText !== revoked.evidence.httpText) continue;
    // An expectation that held for the wrong reason is inconclusive; an observation is only annotated.
    if (revoked.verdict === "pass") revoked.verdict = "inconclusive";
    revoked.evidence = {
      ...revoked.evidence,
      summary: `${revoked.evidence.summary}: the same answer as other-identity, so the identity allow-list may have refused it, not ${revoked.scenario === "revoked" ? "the CRL" : "the OCSP responder"}; probe a route without an allow-list to prove revocation`,
    };
  }
}

/** --measure-revocation over every reachable target whose valid certificate was accepted. */
async function addMeasurements(
  p: ProbeParams,
  results: TargetResult[],
  targets: Target[],
  store: ProbeStore,
  mintFresh: () => Promise<{ serial: string; credential: ClientCredential }>,
): Promise<void> {
  const fresh = await mintFresh();
  const measured = results.map((r, i) => ({ r, t: targets[i] as Target })).filter(({ r }) => r.reachable && Object.values(r.baseline).some(Boolean));
  const measurements = await measureRevocation({
    serial: fresh.serial,
    credential: fresh.credential,
    targets: measured.map(({ r, t }) => {
      const tls = r.baseline["1.3"] ? "1.3" : "1.2";
      return {
        tls,
        connect: (credential) =>
          attempt({
            host: t.host,
            port: t.port,
            ...(t.servername ? { servername: t.servername } : {}),
            hostHeader: t.hostHeader,
            path: t.path,
            tls,
            credential,
            ...(p.serverCa ? { serverCa: p.serverCa } : {}),
            insecureServer: p.insecureServer,
            timeoutMs: p.timeoutMs,
          }),
      };
    }),
    revoke: () => revokeProbeCertificate(store.pki, fresh.serial),
    timeoutMs: (p.measureRevocation as { timeoutMs: number }).timeoutMs,
  });
  measured.forEach(({ r }, i) => {
    r.revocation = measurements[i] as RevocationMeasurement;
    if (r.revocation.verdict !== "pass") r.ok = false;
  });
}

/** The home party's store, when the probe runs with one; a partner probing with its own certificate may have none. */
async function openProbeStore(p: ProbeParams): Promise<ProbeStore | undefined> {
  if (!p.pki) return undefined;
  const pki = p.pki;
  // The session's open checks the store (symlinks included): the probe reads CA keys.
  return pki.config().then(
    (config) => ({ pki, config }),
    (err) => {
      if (p.user && (err as { code?: string }).code === "ERR_NO_PKI") return undefined;
      throw err;
    },
  );
}

type Credentials = Awaited<ReturnType<typeof prepareCredentials>>;

/** One connection: a target, a scenario (and its variant certificate), a TLS version. */
interface Job {
  target: Target;
  scenario: Scenario;
  tls: TlsMode;
  variant?: { variant: string; credential: ClientCredential };
}

/** Every (target, scenario, variant, TLS version) is one connection. */
function planJobs(targets: Target[], scenarios: Scenario[], creds: Credentials, tlsVersions: Array<"1.2" | "1.3">): Job[] {
  const jobs: Job[] = [];
  targets.forEach((target) => {
    for (const scenario of scenarios) {
      const variants = creds.variants[scenario.name] ?? [undefined];
      for (const variant of variants) {
        if (scenario.tls) jobs.push({ target, scenario, tls: scenario.tls, ...(variant ? { variant } : {}) });
        else for (const tls of tlsVersions) jobs.push({ target, scenario, tls, ...(variant ? { variant } : {}) });
      }
    }
  });
  return jobs;
}

/** Runs the jobs `concurrency` at a time; a job without a credential is skipped (undefined). */
function runJobs(jobs: Job[], creds: Credentials, p: ProbeParams): Promise<Array<Observation | undefined>> {
  let done = 0;
  return pool(
    jobs.map((j) => async () => {
      const credential = j.variant ? j.variant.credential : creds.byScenario[j.scenario.name];
      if (credential === undefined) return undefined; // skipped
      return attempt({
        host: j.target.host,
        port: j.target.port,
        ...(j.target.servername ? { servername: j.target.servername } : {}),
        hostHeader: j.target.hostHeader,
        path: j.target.path,
        tls: j.tls,
        ...(credential ? { credential } : {}),
        ...(p.serverCa ? { serverCa: p.serverCa } : {}),
        insecureServer: p.insecureServer,
        timeoutMs: p.timeoutMs,
      });
    }),
    Math.max(1, p.concurrency),
    () => p.onProgress?.(++done, jobs.length),
  );
}

/** What was expected and observed for one job: its verdict before the baseline is applied. */
function attemptOf(j: Job, o: Observation | undefined, creds: Credentials, p: ProbeParams): AttemptResult {
  const identityCheck = j.scenario.name === "other-identity" || j.scenario.name === "identity-spoof";
  const expected = (identityCheck && p.expectAllowlist) || (j.scenario.name === "ocsp-revoked" && p.expectOcsp) ? "reject" : j.scenario.expect;
  const variant = j.variant ? { variant: j.variant.variant } : {};
  const tls = j.tls === "legacy" ? "1.0-1.1" : j.tls;
  if (!o)
    return {
      scenario: j.scenario.name,
      ...variant,
      tls,
      expected,
      observed: "skipped",
      evidence: { summary: creds.skipped[j.scenario.name] ?? "skipped" },
      verdict: "skipped",
      durationMs: 0,
    };
  return {
    scenario: j.scenario.name,
    ...variant,
    tls,
    expected,
    observed: o.outcome,
    evidence: o.evidence,
    verdict: verdictOf(expected, o.outcome),
    ...(o.protocol ? { protocol: o.protocol } : {}),
    durationMs: o.durationMs,
  };
}

/**
 * The baseline per TLS version (was the valid certificate accepted?); without it a rejection
 * proves nothing, so those verdicts become inconclusive.
 */
function applyBaseline(attempts: AttemptResult[]): Record<string, boolean> {
  const baseline: Record<string, boolean> = {};
  for (const a of attempts.filter((x) => x.scenario === "valid")) baseline[a.tls] = a.verdict === "pass";
  const anyBaseline = Object.values(baseline).some(Boolean);
  for (const a of attempts) {
    if (a.scenario === "valid" || a.verdict === "skipped") continue;
    const ok = a.tls === "1.0-1.1" ? anyBaseline : baseline[a.tls];
    if (!ok && (a.verdict === "pass" || a.verdict === "info")) a.verdict = "inconclusive";
  }
  return baseline;
}

interface Judged {
  jobs: Job[];
  observations: Array<Observation | undefined>;
  creds: Credentials;
  presented: Awaited<ReturnType<typeof describePresented>>;
  store: ProbeStore | undefined;
}

function unreachableResult(t: Target, error: string): TargetResult {
  return {
    url: t.url,
    host: t.host,
    port: t.port,
    ...(t.servername ? { servername: t.servername } : {}),
    reachable: false,
    error,
    baseline: {},
    attempts: [],
    likelyCauses: [],
    ok: false,
  };
}

/** One reachable target's attempts, judged, with what the valid certificate's handshakes showed of the gateway. */
function targetResult(t: Target, j: Judged, p: ProbeParams): TargetResult {
  const attempts: AttemptResult[] = [];
  j.jobs.forEach((job, k) => {
    if (job.target === t) attempts.push(attemptOf(job, j.observations[k], j.creds, p));
  });
  const tlsNotOffered = markNotOffered(attempts);
  const baseline = applyBaseline(attempts);
  distrustAllowlistAnswers(attempts);
  const validAttempts = attempts.filter((x) => x.scenario === "valid");
  const obs = j.jobs
    .map((job, k) => (job.target === t && job.scenario.name === "valid" ? j.observations[k] : undefined))
    .filter((o): o is Observation => Boolean(o));
  const protocol = Object.fromEntries(validAttempts.filter((a) => a.protocol).map((a) => [a.tls, a.protocol as string]));
  const cipher = Object.fromEntries(obs.filter((o) => o.cipher).map((o) => [o.protocol ?? "?", o.cipher as string]));
  const serverChain = obs.find((o) => o.serverChain?.length)?.serverChain;
  const last = serverChain?.at(-1);
  return {
    url: t.url,
    host: t.host,
    port: t.port,
    ...(t.servername ? { servername: t.servername } : {}),
    reachable: true,
    protocol,
    cipher,
    ...(serverChain ? { serverChain, chainComplete: Boolean(last && last.subject === last.issuer) } : {}),
    baseline,
    attempts,
    likelyCauses: likelyCauses(validAttempts, {
      ...(t.servername ? { servername: t.servername } : {}),
      ...(j.presented ? { presented: j.presented } : {}),
      now: p.now,
      notOffered: tlsNotOffered,
      knowsRevocations: Boolean(j.store),
    }),
    ...(tlsNotOffered.length ? { tlsNotOffered } : {}),
    ok: attempts.every((a) => a.verdict === "pass" || a.verdict === "info" || a.verdict === "skipped"),
  };
}

function summarize(results: TargetResult[], observations: Array<Observation | undefined>): ProbeSummary {
  const all = results.flatMap((r) => r.attempts);
  const count = (v: Verdict) => all.filter((a) => a.verdict === v).length;
  return {
    targets: results.length,
    unreachable: results.filter((r) => !r.reachable).length,
    passed: count("pass"),
    failed: count("fail") + results.filter((r) => r.revocation?.verdict === "fail").length,
    inconclusive: count("inconclusive") + results.filter((r) => r.revocation?.verdict === "inconclusive").length,
    errors: count("error"),
    info: count("info"),
    skipped: count("skipped"),
    connections: observations.filter(Boolean).length,
  };
}

/** Runs the scenario matrix against every target. */
export async function probeGateways(p: ProbeParams): Promise<ProbeResult> {
  const started = Date.now();
  const targets = p.targets.map((t) => parseTarget(t, p.servername));
  if (targets.length === 0) throw usageError("ERR_USAGE", "no target given", "pass at least one https:// URL");
  if (p.serverCa !== undefined) checkServerCa(p.serverCa);
  const store = await openProbeStore(p);
  // Before any certificate is minted: a run that cannot connect records nothing in the store.
  const down = await unreachableTargets(targets, p.timeoutMs);
  if (down.length)
    return { targets: down, summary: { ...summarize(down, []), targets: targets.length }, durationMs: Date.now() - started, outcome: "unreachable" };
  const scenarios = withRolloverScenarios(p.scenarios, Boolean(store?.config.cas?.rootRollover));
  const creds = await prepareCredentials({
    ...(store ? { store } : {}),
    ...(p.pki?.passphrase ? { passphrase: p.pki.passphrase } : {}),
    ...(p.user ? { user: p.user } : {}),
    wanted: new Set(scenarios.map((s) => s.name)),
    mintable: Boolean(p.measureRevocation),
    now: p.now,
  });
  if (p.measureRevocation && !(store && creds.mintFresh))
    throw usageError(
      "ERR_USAGE",
      "--measure-revocation revokes a certificate it issues: it needs the home party's PKI and CA key",
      "run it where --pki points at the PKI",
    );

  const presented = await describePresented(p.user?.certPem, store);
  const jobs = planJobs(targets, scenarios, creds, p.tlsVersions);
  const observations = await runJobs(jobs, creds, p);
  const judged: Judged = { jobs, observations, creds, presented, store };
  const results = targets.map((t) => targetResult(t, judged, p));

  if (p.measureRevocation && store && creds.mintFresh) await addMeasurements(p, results, targets, store, creds.mintFresh);

  const summary = summarize(results, observations);
  const findings = summary.failed + summary.inconclusive + summary.errors > 0;
  // A failed expectation on a reachable gateway is a security finding: it outranks "unreachable".
  const outcome = findings ? "fail" : summary.unreachable ? "unreachable" : "pass";
  const result: ProbeResult = { targets: results, summary, identity: creds.identity, durationMs: Date.now() - started, outcome };
  if (store) {
    await store.pki.transact("probe.run", async (tx) => {
      tx.audit({ action: "probe.run", outcome, details: { targets: results.map((r) => r.url).join(" "), passed: summary.passed, failed: summary.failed } });
    });
  }
  return result;
}
