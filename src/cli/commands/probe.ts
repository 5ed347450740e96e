import { type Command, Option } from "commander";
import { Exit, envError, usageError } from "../../core/errors.js";
import type { ProbeResult } from "../../core/index.js";
import { INPUT_LIMITS } from "../../core/input.js";
import type { CliContext } from "../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts } from "../flags.js";
import { renderJunit } from "../junit.js";
import { type Styles, table } from "../output.js";
import { openSession } from "../whole-core.js";

/** The probe's outcome as the process exit code (see `mtls probe --help`). */
const PROBE_EXIT = { pass: Exit.OK, fail: Exit.CHECK_FAILED, unreachable: Exit.ENV } as const;

interface Opts extends PassphraseOpts {
  cert?: string;
  key?: string;
  serverCa?: string;
  insecureServer?: boolean;
  servername?: string;
  scenarios?: string;
  /** Defaults as on the command line: "1.2,1.3", "5s", "8", "60s". */
  tls?: string;
  timeout?: string;
  concurrency?: string;
  junit?: string;
  expectAllowlist?: boolean;
  expectOcsp?: boolean;
  measureRevocation?: boolean;
  revocationTimeout?: string;
}

const MARK: Record<string, (s: Styles) => string> = {
  pass: (s) => s.ok("pass"),
  fail: (s) => s.bad("FAIL"),
  inconclusive: (s) => s.warn("inconclusive"),
  error: (s) => s.bad("error"),
  info: (s) => s.warn("info"),
  skipped: (s) => s.dim("skipped"),
};

export interface ProbeOptions extends Opts {
  /** Gateway endpoints, e.g. https://api.example.com/health. */
  urls: string[];
}

/** The probe's verdicts and the exit code they mean (1: an expectation failed, 5: a target unreachable). */
export type ProbeCommandResult = ProbeResult & { exitCode: (typeof PROBE_EXIT)[keyof typeof PROBE_EXIT] };

/** `mtls probe`, in-process: every scenario against every target, and the JUnit file when asked for. */
export async function runProbe(ctx: CliContext, opts: ProbeOptions): Promise<ProbeCommandResult> {
  if (Boolean(opts.cert) !== Boolean(opts.key)) throw usageError("ERR_USAGE", opts.cert ? "--cert needs --key" : "--key needs --cert", "pass both, or neither");
  const concurrency = parseConcurrency(opts.concurrency ?? "8");
  const { core, pki } = await openSession(ctx, opts);
  const timeoutMs = core.parseDuration(opts.timeout ?? "5s", "--timeout", "s");
  const junit = opts.junit ? ctx.resolvePath(opts.junit) : undefined;
  // Checked before the probe mints and records its certificates; a report from an earlier run is replaced.
  if (junit) await core.checkOutputFile(junit);
  const probe = (p: Parameters<typeof core.probeGateways>[0]) => ctx.out.withProgress("", () => core.probeGateways(p));
  const result = await probe({
    targets: opts.urls,
    pki,
    ...(opts.cert && opts.key
      ? {
          user: {
            certPem: (await ctx.readInput(opts.cert, "--cert", INPUT_LIMITS.certificates)).toString("utf8"),
            keyPem: (await ctx.readInput(opts.key, "--key", INPUT_LIMITS.key)).toString("utf8"),
          },
        }
      : {}),
    scenarios: core.selectScenarios(opts.scenarios, { expectAllowlist: Boolean(opts.expectAllowlist), expectOcsp: Boolean(opts.expectOcsp) }),
    tlsVersions: core.parseTlsVersions(opts.tls ?? "1.2,1.3"),
    ...(opts.servername ? { servername: opts.servername } : {}),
    ...(opts.serverCa ? { serverCa: (await ctx.readInput(opts.serverCa, "--server-ca", INPUT_LIMITS.certificates)).toString("utf8") } : {}),
    insecureServer: Boolean(opts.insecureServer),
    timeoutMs,
    concurrency,
    expectAllowlist: Boolean(opts.expectAllowlist),
    expectOcsp: Boolean(opts.expectOcsp),
    ...(opts.measureRevocation ? { measureRevocation: { timeoutMs: core.parseDuration(opts.revocationTimeout ?? "60s", "--revocation-timeout", "s") } } : {}),
    now: ctx.now(),
    onProgress: (done, total) => ctx.out.progress(`probing: ${done}/${total} connections`),
  });
  if (junit) await core.writeFileAtomic(junit, renderJunit(result));
  return { ...result, exitCode: PROBE_EXIT[result.outcome] };
}

/** Connections in flight: a whole number, at least 1 (0 would never finish a probe). */
function parseConcurrency(value: string): number {
  const n = /^[0-9]{1,6}$/.test(value) ? Number(value) : 0;
  if (n < 1) throw usageError("ERR_USAGE", `invalid --concurrency "${value}"`, "use a whole number of at least 1, e.g. --concurrency 8");
  return n;
}

function render(r: ProbeResult, s: Styles): string {
  const blocks = r.targets.map((t) => {
    if (!t.reachable) return `${s.bold(t.url)}\n  ${s.bad("unreachable")}: ${t.error}`;
    const rows = t.attempts.map((a) => [
      a.variant ? `${a.scenario} (${a.variant})` : a.scenario,
      a.tls,
      a.expected,
      a.observed,
      a.evidence.summary,
      (MARK[a.verdict] ?? ((x: Styles) => x.dim(a.verdict)))(s),
    ]);
    const lines = [s.bold(t.url), table(["SCENARIO", "TLS", "EXPECTED", "OBSERVED", "EVIDENCE", "RESULT"], rows, s)];
    const proto = Object.entries(t.protocol ?? {}).map(([v, p]) => `${p} ${t.cipher?.[p] ?? ""}`.trim());
    if (proto.length) lines.push(s.dim(`negotiated: ${proto.join("; ")}`));
    if (t.serverChain?.length) {
      const chain = t.serverChain.map((c) => `${c.subject} (${c.daysLeft} days left)`).join(" ← ");
      lines.push(s.dim(`server chain: ${chain}${t.chainComplete ? "" : " — INCOMPLETE: the gateway does not send its intermediate"}`));
    }
    if (t.revocation) {
      const m = t.revocation;
      lines.push(
        `revocation (TLS ${m.tls}, serial ${m.serial}): ${m.verdict === "pass" ? s.ok(m.summary) : m.verdict === "fail" ? s.bad(m.summary) : s.warn(m.summary)}`,
      );
    }
    if (t.tlsNotOffered?.length)
      lines.push(s.warn(`TLS ${t.tlsNotOffered.join(", ")} not offered by the gateway (alert protocol_version): those scenarios did not run`));
    if (t.likelyCauses.length)
      lines.push(`${s.warn("the valid certificate was not accepted; likely causes:")}\n${t.likelyCauses.map((c) => `  - ${c}`).join("\n")}`);
    return lines.join("\n");
  });
  const m = r.summary;
  const verdict = r.outcome === "pass" ? s.ok("every expectation held") : s.bad("expectations NOT met");
  const summary = `probe: ${verdict}: ${m.passed} pass, ${m.failed} fail, ${m.inconclusive} inconclusive, ${m.errors} error, ${m.info} info, ${m.skipped} skipped; ${m.connections} connections to ${m.targets} target${m.targets === 1 ? "" : "s"} in ${(r.durationMs / 1000).toFixed(1)} s`;
  return `${blocks.join("\n\n")}\n\n${summary}`;
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("probe")
    .description("prove a gateway accepts a valid client certificate and rejects missing, untrusted, expired, revoked and wrong-purpose ones")
    .argument("<url...>", "gateway endpoints, e.g. https://api.example.com/health")
    .option("--cert <file>", "a real partner certificate (chain PEM) for `valid`; the negative variants copy its identity")
    .option("--key <file>", "its private key (PEM, unencrypted)")
    .option("--server-ca <file>", "CA certificates to verify the gateway's own certificate (default: the system's)")
    .option("--insecure-server", "do not verify the gateway's own certificate")
    .option("--servername <name>", "SNI and certificate name to use (default: the URL's host)")
    .option(
      "--scenarios <list>",
      "comma-separated: valid, no-cert, self-signed, untrusted-ca (or untrusted), expired, not-yet-valid, revoked, wrong-eku, missing-intermediate, legacy-tls, other-identity, identity-spoof, ocsp-revoked (revoked and ocsp-revoked bring other-identity along as their control; all includes identity-spoof with --expect-allowlist and ocsp-revoked with --expect-ocsp)",
      "all",
    )
    .addOption(new Option("--tls <versions>", "TLS versions to run every scenario on").default("1.2,1.3"))
    .option("--timeout <duration>", "per connection", "5s")
    .option("--concurrency <n>", "connections in flight at once", "8")
    .option("--junit <file>", "also write JUnit XML (one testcase per target, scenario and TLS version)")
    .option("--expect-allowlist", "the gateway allow-lists partner identities: other-identity and identity-spoof must be rejected")
    .option("--expect-ocsp", "the gateway checks client certificates with OCSP: the OCSP canary (ocsp-revoked) must be rejected")
    .option("--measure-revocation", "revoke a fresh certificate for real and report how many seconds until each gateway refuses it")
    .option("--revocation-timeout <duration>", "how long --measure-revocation waits for the refusal", "60s");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls probe https://api.example.com/health --server-ca gateway-ca.pem",
        "mtls probe https://gw1:8443/ https://gw2:8443/ --junit probe.xml --json > probe.json",
        "mtls probe https://api.example.com/ --expect-ocsp --measure-revocation --revocation-timeout 2m",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  every expectation held",
        "1  an expectation failed, or the valid certificate was not accepted",
        "2  bad option, --cert without --key (or --key without --cert), --concurrency not a whole number of at least 1",
        "3  unreadable --cert/--key, a --server-ca with no certificate, wrong passphrase, or the issuing CA has expired",
        "5  a target takes no TCP connection (then none is probed and nothing is recorded), an unwritable --junit",
      ]),
    )
    .action(async (urls: string[], opts: Opts) => {
      if (opts.insecureServer) ctx.out.warn("--insecure-server: the gateway's own certificate is not verified");
      const result = await runProbe(ctx, { ...opts, urls });
      ctx.out.result(result, render);
      if (result.exitCode === Exit.ENV) {
        const down = result.targets.filter((t) => !t.reachable).map((t) => `${t.url} (${t.error})`);
        throw envError("ERR_UNREACHABLE", `could not reach ${down.join(", ")}`, "check the address and that the gateway is running");
      }
      ctx.out.setExit(result.exitCode);
    });
}
