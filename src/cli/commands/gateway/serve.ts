import type { Command } from "commander";
import { usageError } from "../../../core/errors.js";
import type { RunningGateway } from "../../../core/index.js";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, examplesHelp, exitCodesHelp, type PassphraseOpts, parsePort, untilStopped } from "../../flags.js";
import { safeValue } from "../../terminal-safe.js";
import { openSession } from "../../whole-core.js";

export interface GatewayServeOptions extends PassphraseOpts {
  /** Default 127.0.0.1, as on the command line. */
  host?: string;
  /** Default 8443; "0" picks a free one. */
  port?: string;
  upstream?: string;
  serverCert?: string;
  serverKey?: string;
}

/** A running gateway: where it listens, what it counted, and how to stop it. */
export interface GatewayServeHandle {
  url: string;
  port: number;
  /** The chain the gateway presents (verify it against the PKI's root). */
  serverCertPem: string;
  stats: RunningGateway["stats"];
  stop(): Promise<void>;
}

/** `mtls gateway serve`, in-process: starts the gateway and returns at once; the CLI waits for Ctrl-C. */
export async function runGatewayServe(ctx: CliContext, opts: GatewayServeOptions): Promise<GatewayServeHandle> {
  const port = parsePort(opts.port ?? "8443");
  if (Boolean(opts.serverCert) !== Boolean(opts.serverKey))
    throw usageError(
      "ERR_USAGE",
      opts.serverCert ? "--server-cert needs --server-key" : "--server-key needs --server-cert",
      "pass both, or neither for a certificate issued from the PKI for localhost",
    );
  const { core, pki } = await openSession(ctx, opts, { clock: true });
  const gw = await core.startGateway(pki, {
    host: opts.host ?? "127.0.0.1",
    port,
    ...(opts.upstream ? { upstream: opts.upstream } : {}),
    ...(opts.serverCert
      ? {
          serverCertPem: (await ctx.readInput(opts.serverCert, "--server-cert", INPUT_LIMITS.certificates)).toString("utf8"),
          serverCertSource: `--server-cert ${opts.serverCert}`,
        }
      : {}),
    ...(opts.serverKey
      ? {
          serverKeyPem: (await ctx.readInput(opts.serverKey, "--server-key", INPUT_LIMITS.key)).toString("utf8"),
          serverKeySource: `--server-key ${opts.serverKey}`,
        }
      : {}),
    log: (line) => ctx.io.stderr.write(`${safeValue(line)}\n`),
  });
  return { url: gw.url, port: gw.port, serverCertPem: gw.serverCertPem, stats: gw.stats, stop: () => gw.close() };
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("serve")
    .description("run an mTLS gateway that enforces this PKI's client certificates (a partner test environment)")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0 picks a free one; the URL is printed at start, on stderr as `listening on <url>` with --json)", "8443")
    .option("--upstream <url>", "forward accepted requests here (default: answer with the client's identity as JSON)")
    .option("--server-cert <file>", "the gateway's certificate chain (default: one issued from the PKI for localhost, in memory)")
    .option("--server-key <file>", "its private key (with --server-cert)");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp(["mtls gateway serve --port 8443", "curl --cert chain.pem --key key.pem --cacert pki/ca/ca-bundle.pem https://localhost:8443/"]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  stopped by Ctrl-C or SIGTERM",
        "2  a bad --port; --server-cert without --server-key, or the reverse; an invalid --upstream",
        "3  a --server-cert or --server-key that holds no certificate or key, or a key of another certificate; wrong passphrase",
        "5  no PKI, a CA's CRL missing from the CRL bundle, port in use or not allowed, an unreadable file",
      ]),
    )
    .action(async (opts: GatewayServeOptions) => {
      const gw = await runGatewayServe(ctx, opts);
      // Listening for the stop before the address is printed: whoever reads it may signal at once.
      const stopped = untilStopped();
      // The URL is the result; the stats in it are final when --json prints it at exit (stderr has the URL meanwhile).
      ctx.out.result({ url: gw.url, port: gw.port, stats: gw.stats }, (r) => r.url);
      ctx.out.listening(gw.url);
      ctx.out.info(`gateway listening on ${gw.url}; client certificates verified against ${ctx.pkiDir}/ca/ca-bundle.pem and every CA's CRL; Ctrl-C stops it`);
      await stopped;
      await gw.stop();
      ctx.out.info(`stopped after ${gw.stats.requests} requests, ${gw.stats.refusedHandshakes} refused handshakes`);
    });
}
