import type { Command } from "commander";
import type { GatewayConfigParams, GatewayConfigResult } from "../../../core/index.js";
import type { CliContext } from "../../context.js";
import { collect, examplesHelp, exitCodesHelp, openReadSession } from "../../flags.js";
import { fields } from "../../output.js";
import { loadWholeCore } from "../../whole-core.js";

/** The render options as commander hands them over (`--partner` repeatable, paths as typed). */
type Opts = Pick<GatewayConfigParams, "hostname" | "upstream" | "listen" | "serverCert" | "serverKey" | "server" | "filesDir" | "out" | "force"> & {
  partner?: string[];
};

export interface GatewayConfigOptions extends Opts {
  /** nginx, haproxy, apache, kong, flex-gateway, envoy, gateway-api, k8s-secret. */
  kind: string;
}

/** `mtls gateway config <kind>`, in-process: the rendered text (no --out) or the files written. */
export async function runGatewayConfig(ctx: CliContext, opts: GatewayConfigOptions): Promise<GatewayConfigResult> {
  const core = await loadWholeCore();
  return core.renderGatewayConfig(await openReadSession(ctx), {
    kind: opts.kind,
    partners: opts.partner ?? [],
    ...(opts.hostname ? { hostname: opts.hostname } : {}),
    ...(opts.upstream ? { upstream: opts.upstream } : {}),
    ...(opts.listen ? { listen: opts.listen } : {}),
    ...(opts.serverCert ? { serverCert: opts.serverCert } : {}),
    ...(opts.serverKey ? { serverKey: opts.serverKey } : {}),
    ...(opts.server ? { server: opts.server } : {}),
    ...(opts.filesDir ? { filesDir: ctx.resolvePath(opts.filesDir) } : {}),
    ...(opts.out ? { out: ctx.resolvePath(opts.out) + (opts.out.endsWith("/") ? "/" : "") } : {}),
    force: Boolean(opts.force),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  parent
    .command("config")
    .description("render the gateway's mTLS configuration from the PKI: nginx, haproxy, apache, kong, flex-gateway, envoy, gateway-api, k8s-secret")
    .argument("<kind>", "gateway kind (templates/gateways/<kind>)")
    .option("--partner <id>", "allow-list this partner's identity (repeatable); without it any certificate from the CA is accepted", collect)
    .option("--hostname <name>", "the API's host name (server_name, route host)")
    .option("--upstream <url>", "where accepted requests go", "http://127.0.0.1:8080")
    .option("--listen <[host:]port>", "where the gateway listens")
    .option("--server-cert <path>", "the gateway's own certificate, by path (never embedded)")
    .option("--server-key <path>", "its private key, by path (never embedded)")
    .option("--server <name>", "take --server-cert/--server-key from `mtls server issue <name>`")
    .option("--files-dir <dir>", "where the CA bundle and CRL will live on the gateway host (default: the --out directory)")
    .option(
      "--out <path>",
      "write here; default: stdout. nginx, haproxy, apache, stunnel and envoy write a directory (created if missing) with their config, ca-bundle.pem and crl-bundle.pem; the other kinds write a file, or into a directory given as <dir>/ or one that exists",
    )
    .option("--force", "overwrite existing files")
    .addHelpText(
      "after",
      examplesHelp([
        "mtls gateway config nginx --partner acme --hostname api.example.com --out /etc/nginx/mtls/",
        "mtls gateway config k8s-secret | kubectl apply -f -",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  rendered",
        "2  unknown kind, bad option, an option this kind does not use, or a file as --out of a kind that writes a directory",
        "3  unknown partner or --server, or one without a valid certificate",
        "4  output exists (use --force)",
        "5  no PKI or no published CRL",
      ]),
    )
    .action(async (kind: string, { upstream, ...opts }: Opts, cmd: Command) => {
      // Only a typed --upstream reaches the per-kind check: the shown default applies where it is used.
      const typed = cmd.getOptionValueSource("upstream") === "cli" ? { upstream } : {};
      const result = await runGatewayConfig(ctx, { ...opts, ...typed, kind });
      for (const w of result.warnings) ctx.out.warn(w);
      ctx.out.result(
        result,
        (r, s) =>
          r.text ?? fields([["kind", r.kind], ...r.files.map((f) => ["wrote", f.path] as [string, string | undefined]), ["schema", s.dim(r.schema)]], s),
      );
    });
}
