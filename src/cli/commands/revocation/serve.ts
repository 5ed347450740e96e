import type { Command } from "commander";
import type { RunningRevocationServer } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts, parsePort, untilStopped } from "../../flags.js";
import { openSession } from "../../whole-core.js";

export interface RevocationServeOptions extends PassphraseOpts {
  /** Defaults as on the command line: 127.0.0.1, 8080 ("0" picks a free port), 1h, 60s. */
  host?: string;
  port?: string;
  ocspValidity?: string;
  maxAge?: string;
}

/** A running responder: its URLs, what it counted, and how to stop it. */
export interface RevocationServeHandle {
  url: string;
  port: number;
  ocspUrl: string;
  crlUrls: Record<string, string>;
  stats: RunningRevocationServer["stats"];
  stop(): Promise<void>;
}

/** `mtls revocation serve`, in-process: starts the CRL and OCSP server and returns at once; the CLI waits for Ctrl-C. */
export async function runRevocationServe(ctx: CliContext, opts: RevocationServeOptions): Promise<RevocationServeHandle> {
  const listenPort = parsePort(opts.port ?? "8080");
  const { core, pki } = await openSession(ctx, opts, { clock: true });
  const server = await core.startRevocationServer({
    pki,
    host: opts.host ?? "127.0.0.1",
    port: listenPort,
    ocspValidityMs: core.parseDuration(opts.ocspValidity ?? "1h", "--ocsp-validity", "h"),
    maxAgeMs: core.parseDuration(opts.maxAge ?? "60s", "--max-age", "s"),
    log: (line) => ctx.io.stderr.write(`${line}\n`),
  });
  const { url, port, ocspUrl, crlUrls, stats } = server;
  return { url, port, ocspUrl, crlUrls, stats, stop: () => server.close() };
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("serve")
    .description("serve every CA's CRL over HTTP and answer OCSP requests from the store's current state")
    .option("--host <address>", "address to listen on (put a TLS proxy or load balancer in front for other hosts)", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one; the URL is printed at start, on stderr as `listening on <url>` with --json)", "8080")
    .option("--ocsp-validity <duration>", "how long each OCSP answer is valid (its nextUpdate)", "1h")
    .option("--max-age <duration>", "longest HTTP caching of a CRL or OCSP answer (never past its nextUpdate)", "60s");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls revocation serve --port 8080",
        "openssl ocsp -issuer pki/ca/intermediate.pem -cert partner.pem -url http://127.0.0.1:8080/ocsp -CAfile pki/ca/chain.pem",
        "curl -o intermediate.crl http://127.0.0.1:8080/crl/intermediate.crl",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  stopped by Ctrl-C or SIGTERM",
        "2  bad option (--port not 0 to 65535)",
        "3  wrong passphrase",
        "5  no PKI, port in use (a server that does not start writes nothing)",
      ]),
    )
    .action(async (opts: RevocationServeOptions) => {
      const server = await runRevocationServe(ctx, opts);
      // Listening for the stop before the address is printed: whoever reads it may signal at once.
      const stopped = untilStopped();
      ctx.out.result({ url: server.url, port: server.port, ocspUrl: server.ocspUrl, crlUrls: server.crlUrls, stats: server.stats }, (r) => r.url);
      ctx.out.listening(server.url);
      ctx.out.info(`OCSP responder at ${server.ocspUrl}; CRLs under ${server.url}/crl/; Ctrl-C stops it`);
      await stopped;
      await server.stop();
      ctx.out.info(`stopped after ${server.stats.requests} requests (${server.stats.ocsp} OCSP, ${server.stats.crl} CRL)`);
    });
}
