// Which of `gateway config`'s options a kind's templates actually use. A flag the rendered output
// would silently drop (HAProxy has no separate key path: it reads the key from the `crt` file or
// `<crt>.key` next to it) is refused, so nobody believes a setting took effect when it did not.
import { inputError, usageError } from "../errors.js";
import { validatePartnerId } from "../ids.js";
import { SERVER_PREFIX } from "../server/prefix.js";
import type { CertRecord } from "../store/index-file.js";
import { loadTemplate } from "../templates.js";
import type { GatewayConfigParams, GatewayDescriptor } from "./config.js";

type FlagKey = "serverCert" | "serverKey" | "hostname" | "listen" | "upstream" | "filesDir";

const FLAGS: Array<[FlagKey, string, string[]]> = [
  ["serverCert", "--server-cert", ["serverCert"]],
  ["serverKey", "--server-key", ["serverKey"]],
  ["hostname", "--hostname", ["hostname"]],
  ["listen", "--listen", ["listen", "listenHost", "listenPort", "listenBind", "listenVhost", "listenStunnel"]],
  ["upstream", "--upstream", ["upstream", "upstreamHost", "upstreamPort", "upstreamTls"]],
  ["filesDir", "--files-dir", ["caBundlePath", "crlBundlePath"]],
];

const uses = (text: string, variable: string) => new RegExp(`\\{\\{[#^]?${variable}\\b`).test(text);

const WHY: Record<string, string> = {
  serverKey: "it reads the key from the --server-cert file (certificate, chain and key in one PEM) or from <server-cert>.key next to it",
};

export interface ServerPaths {
  serverCert?: string;
  serverKey?: string;
  warnings: string[];
}

/**
 * Refuses options the kind's templates never use (exit 2), and resolves `--server <name>` to the
 * paths `mtls server issue` wrote for that server's newest valid certificate (exit 3 when there
 * is none, as for an unknown partner).
 */
/** A partner's (or server's) certificates that are valid at `now`. */
export const validOf = (index: readonly CertRecord[], id: string, now: Date): CertRecord[] =>
  index.filter((r) => r.partnerId === id && r.status === "valid" && Date.parse(r.notAfter) > now.getTime());

export async function checkGatewayFlags(
  p: GatewayConfigParams & { now: Date },
  d: GatewayDescriptor,
  index: () => Promise<CertRecord[]>,
): Promise<ServerPaths> {
  const text = (await Promise.all(d.files.map((f) => loadTemplate(`gateways/${d.kind}/${f.template}`)))).join("\n");
  for (const [key, flag, vars] of FLAGS) {
    if (p[key] !== undefined && !vars.some((v) => uses(text, v)))
      throw usageError("ERR_FLAG_UNUSED", `${d.title} does not use ${flag}`, WHY[key] ? `${d.title}: ${WHY[key]}` : `drop ${flag} for ${d.kind}`);
  }
  if (p.server === undefined) return { warnings: [] };
  if (p.serverCert !== undefined || p.serverKey !== undefined)
    throw usageError("ERR_USAGE", "--server and --server-cert/--server-key exclude each other", "--server takes both paths from `mtls server issue`");
  if (!uses(text, "serverCert")) throw usageError("ERR_FLAG_UNUSED", `${d.title} does not use --server: its configuration names no server certificate`);
  const id = `${SERVER_PREFIX}${validatePartnerId(p.server, "server name")}`;
  const valid = validOf(await index(), id, p.now);
  const record = valid.sort((a, b) => a.notAfter.localeCompare(b.notAfter)).at(-1);
  if (!record?.serverCertPath)
    throw inputError(
      "ERR_NO_SERVER_CERT",
      `no valid server certificate named ${p.server}`,
      `issue one: mtls server issue ${p.server} --dns … --out … --out-key …`,
    );
  const warnings: string[] = [];
  const key = record.serverKeyPath;
  if (key && !uses(text, "serverKey") && key !== `${record.serverCertPath}.key`)
    warnings.push(
      `${d.title} reads the key from ${record.serverCertPath} or ${record.serverCertPath}.key; the key is at ${key}: append it to the certificate file or move it there`,
    );
  return { serverCert: record.serverCertPath, ...(key ? { serverKey: key } : {}), warnings };
}
