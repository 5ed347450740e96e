import { type Command, Option } from "commander";
import { usageError } from "../../../core/errors.js";
import type { ServerIssueResult } from "../../../core/index.js";
import { INPUT_LIMITS } from "../../../core/input.js";
import type { CliContext } from "../../context.js";
import { addPassphraseOptions, collect, examplesHelp, exitCodesHelp, type PassphraseOpts, parseDays } from "../../flags.js";
import { fields } from "../../output.js";
import { openSession } from "../../whole-core.js";

interface Opts extends PassphraseOpts {
  dns?: string[];
  ip?: string[];
  csr?: string;
  /** Default ec-p256, as on the command line. */
  keyType?: string;
  out: string;
  outKey?: string;
  days?: number;
  force?: boolean;
  /** --key-type was typed, not commander's default: a CSR brings its own key. */
  keyTypeGiven?: boolean;
}

export interface ServerIssueOptions extends Opts {
  /** The server's name in the index. */
  name: string;
}

/** `mtls server issue`, in-process: the gateway's serverAuth certificate (and key, unless from a CSR) written where asked. */
export async function runServerIssue(ctx: CliContext, opts: ServerIssueOptions): Promise<ServerIssueResult> {
  if (opts.csr && opts.keyTypeGiven)
    throw usageError("ERR_USAGE", "--csr and --key-type exclude each other", "the CSR brings its own key; --key-type is for a key mtls generates");
  const { core, pki } = await openSession(ctx, opts);
  return core.issueServerCert(pki, {
    name: opts.name,
    dnsNames: opts.dns ?? [],
    ips: opts.ip ?? [],
    ...(opts.csr
      ? { csr: await ctx.readInput(opts.csr, "CSR", INPUT_LIMITS.csr), csrSource: `CSR ${opts.csr}` }
      : { keyType: core.parseKeyType(opts.keyType ?? "ec-p256") }),
    outCert: ctx.resolvePath(opts.out),
    ...(opts.outKey ? { outKey: ctx.resolvePath(opts.outKey) } : {}),
    ...(opts.days !== undefined ? { days: opts.days } : {}),
    force: Boolean(opts.force),
  });
}

export function register(parent: Command, ctx: CliContext): void {
  const cmd = parent
    .command("issue")
    .description("issue the gateway's own TLS server certificate (serverAuth only) from the PKI's issuing CA")
    .argument("<name>", "the server's name in the index: lowercase letters, digits, . _ -")
    .option("--dns <name>", "DNS name the gateway answers to (repeatable); the first is also the CN", collect)
    .option("--ip <address>", "IP address the gateway answers on (repeatable)", collect)
    .option("--csr <file>", "sign this CSR instead of generating a key (its key stays where it was made)")
    .addOption(new Option("--key-type <type>", "generated key type").choices(["ec-p256", "ec-p384", "rsa-2048", "rsa-3072", "rsa-4096"]).default("ec-p256"))
    .requiredOption("--out <file>", "where to write the certificate followed by the intermediate (what the gateway serves)")
    .option("--out-key <file>", "where to write the generated private key (mode 0600)")
    .option("--days <n>", "validity in days (default: the CA's policy)", parseDays)
    .option("--force", "overwrite --out / --out-key");
  addPassphraseOptions(cmd)
    .addHelpText(
      "after",
      examplesHelp([
        "mtls server issue gw --dns api.example.com --ip 203.0.113.10 --out /etc/nginx/tls/server.pem --out-key /etc/nginx/tls/server.key",
        "mtls gateway config nginx --server gw --out /etc/nginx/mtls/",
      ]),
    )
    .addHelpText(
      "after",
      exitCodesHelp([
        "0  issued",
        "2  no --dns/--ip or an invalid one, no key destination, a bad --days, --csr with --key-type or --out-key",
        "3  invalid server name or CSR, a validity over the CA's maximum; wrong passphrase",
        "4  --out/--out-key exists (use --force)",
        "5  no PKI, lock held",
      ]),
    )
    .action(async (name: string, opts: Opts) => {
      const result = await runServerIssue(ctx, { ...opts, name, keyTypeGiven: cmd.getOptionValueSource("keyType") === "cli" });
      ctx.out.result(result, (r, s) =>
        fields(
          [
            ["serial", s.bold(r.serial)],
            ["server", r.name],
            ["subject", r.subject],
            ["SANs", r.sans.join(", ")],
            ["key", `${r.keyType} (${r.source === "csr" ? "from the CSR" : "generated"})`],
            ["valid", `${r.notBefore} → ${r.notAfter}`],
            ["certificate", r.outCert],
            ["private key", r.outKey],
          ],
          s,
        ),
      );
    });
}
