import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { type CaCerts, certOf, loadCaCerts, readCertFile } from "../ca/material.js";
import { conflictError, inputError, usageError } from "../errors.js";
import { attributeValueProblem } from "../identity/subject-policy.js";
import { validatePartnerId } from "../ids.js";
import { type San, sanProblem } from "../sans.js";
import type { Pki } from "../session.js";
import { readIndexOf, utf8 } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import type { CertRecord } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import type { Storage, StoreReader } from "../store/storage.js";
import { loadTemplate, renderTemplate, type TemplateScope, templateEntries } from "../templates.js";
import { ensureDir, exists, isDirectory, writeFileAtomic } from "../user-files.js";
import { exactCnDnRegex } from "./allowlist.js";
import { checkGatewayFlags, validOf } from "./server-flags.js";
import { readTlsMaterial } from "./tls-material.js";

/** templates/gateways/<kind>/descriptor.json: everything kind-specific that is not the template text. */
export interface GatewayDescriptor {
  kind: string;
  title: string;
  /** The documented schema the templates follow (cited in each template's header too). */
  schema: string;
  files: Array<{ template: string; output: string }>;
  /** Does the rendered config reference the CA bundle and CRL as files next to it? */
  usesFiles: boolean;
  /** The templates write file paths as bare words (no quoting): paths are then refused unless plain. */
  barePaths?: boolean;
  /** How the kind can express an identity allow-list: subject CN, SANs, consumers, or not at all. */
  allowlist: "subject-cn" | "san" | "consumer" | "none";
  /** "file": loads the CRL bundle; "cdp": fetches CRLs from the certificates' CRL Distribution Point; "none". */
  crl: "file" | "cdp" | "none";
  /**
   * OCSP for client certificates: "responder" is told the policy's OCSP URL, "aia" follows the
   * certificates' Authority Information Access, "none" cannot check OCSP.
   */
  ocsp?: "responder" | "aia" | "none";
  /** The command that makes the product re-read its files, for the `crl publish --then` advice. */
  reload?: string;
  warnings?: string[];
  /** Defaults for values the user did not give. */
  defaults?: { serverCert?: string; serverKey?: string; listen?: string; filesDir?: string };
}

export async function gatewayKinds(): Promise<GatewayDescriptor[]> {
  const kinds = await templateEntries("gateways");
  return Promise.all(kinds.map(async (k) => JSON.parse(await loadTemplate(`gateways/${k}/descriptor.json`)) as GatewayDescriptor));
}

export interface GatewayConfigParams {
  kind: string;
  /** Allow-list these partners' identities (subject CN / SANs of their valid certificates). */
  partners: string[];
  hostname?: string;
  upstream?: string;
  /** [host:]port the gateway listens on. */
  listen?: string;
  serverCert?: string;
  serverKey?: string;
  /** Take both from this server's newest certificate by `mtls server issue`. */
  server?: string;
  /** Where the CA bundle and CRL files will live on the gateway (default: next to --out). */
  filesDir?: string;
  /** A directory (all files, plus the CA bundle and CRL copies) or a single file; undefined: return the text. */
  out?: string;
  force?: boolean;
}

/** The parameters with the session's time, as the helpers below read them. */
type Rendering = GatewayConfigParams & { now: Date };

export interface GatewayConfigResult {
  kind: string;
  schema: string;
  files: Array<{ name: string; path?: string }>;
  /** The rendered configuration when not written to files. */
  text?: string;
  allowlist: { commonNames: string[]; uris: string[]; dnsNames: string[] };
  warnings: string[];
}

interface Identity {
  id: string;
  cn?: string;
  commonNames: Array<{ cn: string }>;
  uris: string[];
  dnsNames: string[];
}

/**
 * Gateway configs carry operator values too: each is checked to hold nothing that could change the
 * structure of an nginx, HAProxy, Apache or YAML file (quotes, spaces, `;`, `#`, `$`, `{}`, newlines).
 */
const SAFE_PATH = /^[A-Za-z0-9_./@+:=-]+$/;
const SAFE_UPSTREAM = /^https?:\/\/[A-Za-z0-9.\-[\]:]+(\/[A-Za-z0-9._~/-]*)?$/;

function checkPath(flag: string, path: string): string {
  if (!SAFE_PATH.test(path))
    throw usageError("ERR_USAGE", `invalid ${flag} path ${JSON.stringify(path)}: gateway configs take letters, digits and _ . / @ + : = - only`);
  return path;
}

/** A URL a template writes as a bare word (the policy's OCSP URL): the same plain shape as --upstream. */
function checkUrl(what: string, url: string): string {
  if (!SAFE_UPSTREAM.test(url))
    throw usageError("ERR_USAGE", `${what} ${JSON.stringify(url)} cannot be written into a gateway config: scheme, host, port and a plain path only`);
  return url;
}

function checkHostname(name: string): string {
  if (isIP(name) || !sanProblem({ type: "dns", value: name.replace(/^\*\./, "") })) return name;
  throw usageError("ERR_USAGE", `invalid --hostname ${JSON.stringify(name)}: a DNS name or IP address`);
}

/** The CA name appears in comments only; a control character could end the comment. */
const commentSafe = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, "?");

/** Identities from a store older than the subject policy are refused rather than rendered. */
function refuseUnsafeIdentities(partnerId: string, serial: string, cns: string[], sans: San[]): void {
  const problem =
    (cns.length > 1 ? "the subject has more than one CN" : undefined) ??
    cns.map((cn) => attributeValueProblem("CN", cn)).find(Boolean) ??
    sans.map((s) => sanProblem(s) && `SAN ${s.type}: ${sanProblem(s)}`).find(Boolean);
  if (problem)
    throw inputError(
      "ERR_IDENTITY_POLICY",
      `partner ${partnerId}'s certificate ${serial} cannot be allow-listed exactly: ${problem}`,
      `revoke it and issue one within the subject policy (mtls doctor lists every such certificate)`,
    );
}

/** A stable UUID from the root certificate, so re-rendering a Kong config does not churn entity ids. */
const stableUuid = (seed: string) => {
  const h = createHash("sha256").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
};

function parseListen(text: string | undefined, fallback: string): { listen: string; host: string; port: number; bind: string; vhost: string } {
  const v = text ?? fallback;
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65535) throw usageError("ERR_USAGE", `invalid --listen "${v}"`, "use PORT or HOST:PORT, e.g. 8443 or 127.0.0.1:8443");
  const host = m[1] ?? "";
  if (host && !isIP(host) && sanProblem({ type: "dns", value: host }))
    throw usageError("ERR_USAGE", `invalid --listen "${v}": the host must be an IP address or a DNS name`);
  const hostPart = host && isIP(host) === 6 ? `[${host}]` : host;
  return { listen: v, host: host || "0.0.0.0", port, bind: `${hostPart}:${port}`, vhost: `${hostPart || "*"}:${port}` };
}

function parseUpstream(text: string): { url: string; host: string; port: number; tls: boolean } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw usageError("ERR_USAGE", `invalid --upstream "${text}"`, "use a URL such as http://127.0.0.1:8080");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw usageError("ERR_USAGE", `invalid --upstream "${text}": http:// or https:// only`);
  if (!SAFE_UPSTREAM.test(u.toString()))
    throw usageError("ERR_USAGE", `invalid --upstream "${text}": scheme, host, port and a plain path only`, "e.g. http://127.0.0.1:8080/api");
  const tls = u.protocol === "https:";
  return { url: u.toString().replace(/\/$/, ""), host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || (tls ? 443 : 80)), tls };
}

/**
 * Renders the gateway side of onboarding from templates/gateways/<kind>: require a client
 * certificate, trust the PKI's root (verify depth covering leaf → intermediate → root), load
 * every CA's CRL where the gateway can, allow-list selected partners, TLS 1.2 minimum, forward
 * to the upstream. Nothing secret is ever rendered: server keys are referenced by path only.
 */
export async function renderGatewayConfig(pki: Pki, params: GatewayConfigParams): Promise<GatewayConfigResult> {
  const p: Rendering = { ...params, now: pki.now };
  const kinds = await gatewayKinds();
  const d = kinds.find((k) => k.kind === p.kind);
  if (!d) throw usageError("ERR_USAGE", `unknown gateway kind "${p.kind}"`, `use one of: ${kinds.map((k) => k.kind).join(", ")}`);
  const config = await pki.config();
  // Read once, and only when --server or an allow-listed partner needs it.
  let indexRead: Promise<CertRecord[]> | undefined;
  const index = () => (indexRead ??= readIndexOf(pki.storage).then((s) => s.records));
  const server = await checkGatewayFlags(p, d, index);
  const ca = await loadCaCerts(pki.storage, config);
  const warnings = [...(d.warnings ?? []), ...server.warnings];
  // A config whose CRL file lacks a CA's CRL would have the gateway admit that CA's revoked
  // certificates (or, for some products, none at all): refused, as `gateway serve` refuses it.
  const material = await readTlsMaterial(pki.storage, ca);
  const [caBundlePem, crlBundlePem] = [utf8(material.ca), utf8(material.crlBundle)];
  const identities = await allowListed(pki.storage, index, p, d, warnings);
  warnings.push(...revocationWarnings(d, config, p.partners.length > 0));
  const outIsDir = p.out !== undefined && (d.files.length > 1 || d.usesFiles || p.out.endsWith("/") || (await isDirectory(p.out)));
  const files = gatewayFilePaths(pki.storage, d, p.filesDir ?? (outIsDir && p.out ? resolve(p.out) : undefined));
  const values = templateValues({ p, d, config, ca, server, identities, files, caBundlePem, crlBundlePem });
  const rendered: Array<{ name: string; text: string }> = [];
  for (const f of d.files) rendered.push({ name: f.output, text: renderTemplate(await loadTemplate(`gateways/${d.kind}/${f.template}`), values) });
  const allowlist = {
    commonNames: (values.allowCns as Array<{ cn: string }>).map((c) => c.cn),
    uris: values.allowUris as string[],
    dnsNames: values.allowDnsNames as string[],
  };
  if (p.out === undefined)
    return { kind: d.kind, schema: d.schema, files: rendered.map((r) => ({ name: r.name })), text: rendered.map((r) => r.text).join(""), allowlist, warnings };
  const written = await writeGatewayFiles(p, d, outIsDir, rendered, { caBundlePem, crlBundlePem });
  return { kind: d.kind, schema: d.schema, files: written, allowlist, warnings };
}

/** Identities of the allow-listed partners, from their valid certificates. */
async function allowListed(
  store: StoreReader,
  index: () => Promise<CertRecord[]>,
  p: Rendering,
  d: GatewayDescriptor,
  warnings: string[],
): Promise<Identity[]> {
  const identities: Identity[] = [];
  for (const raw of p.partners) {
    const id = validatePartnerId(raw);
    const records = validOf(await index(), id, p.now);
    if (records.length === 0)
      throw inputError("ERR_NO_CERT", `partner ${id} has no valid certificate to allow-list`, `issue one first: mtls partner issue ${id} ...`);
    const identity = await identityOf(store, id, records);
    if (d.allowlist === "subject-cn" && identity.commonNames.length === 0)
      warnings.push(`partner ${id}'s certificates have no subject CN, which ${d.title} matches on: it would be refused`);
    if (d.allowlist === "san" && identity.uris.length + identity.dnsNames.length === 0)
      warnings.push(`partner ${id}'s certificates have no URI or DNS SAN, which ${d.title} matches on: it would be refused`);
    identities.push(identity);
  }
  return identities;
}

async function identityOf(store: StoreReader, id: string, records: CertRecord[]): Promise<Identity> {
  const cns = new Set<string>();
  const uris = new Set<string>();
  const dns = new Set<string>();
  for (const r of records) {
    const cert = await readCertFile(store, storeKeys.certFile(r.serial), `certificate ${r.serial}`);
    refuseUnsafeIdentities(id, r.serial, cert.commonNames, cert.sans);
    for (const cn of cert.commonNames) cns.add(cn);
    for (const s of cert.sans) {
      if (s.type === "uri") uris.add(s.value);
      if (s.type === "dns") dns.add(s.value);
    }
  }
  return {
    id,
    ...(cns.size ? { cn: [...cns][0] as string } : {}),
    commonNames: [...cns].map((cn) => ({ cn })),
    uris: [...uris],
    dnsNames: [...dns],
  };
}

/** What the kind cannot do about revocation and allow-listing, in the operator's terms. */
function revocationWarnings(d: GatewayDescriptor, config: StoreConfig, allowListing: boolean): string[] {
  const warnings: string[] = [];
  if (allowListing && d.allowlist === "none")
    warnings.push(`${d.title} cannot allow-list client identities in this configuration: every certificate the CA issued is accepted`);
  if (d.crl === "none")
    warnings.push(`${d.title} does not load CRLs here: revoked certificates keep working until they expire; keep partner certificates short-lived`);
  if (d.crl === "cdp" && !config.ca.crlUrl && !config.ca.ocspUrl)
    warnings.push(
      `${d.title} checks revocation at the URLs in the certificates, and this CA writes none: revocation is not checked (mtls ca policy set --ocsp-url or --crl-url, served by mtls revocation serve)`,
    );
  const ocsp = Boolean(config.ca.ocspUrl) && (d.ocsp ?? "none") !== "none";
  if (config.ca.ocspUrl && !ocsp && d.crl === "file") warnings.push(`${d.title} cannot check client certificates with OCSP: it relies on the CRL file`);
  if (d.crl === "file" && !ocsp && d.usesFiles)
    warnings.push(
      `${d.title} reads the CRL file at start and reload only: publish into the directory it reads (mtls ca policy set --crl-publish-dir <dir>) and reload it in the same step (mtls crl publish --then "${d.reload ?? "<reload command>"}")`,
    );
  if (d.crl === "file" && !d.usesFiles)
    warnings.push(
      `the CRLs are embedded in this configuration: render and apply it again after every mtls crl publish, well inside the CRL validity (${config.crl.validityDays} days)`,
    );
  return warnings;
}

/**
 * Where the CA bundle and CRL live on the gateway host: the files directory, or the store's own
 * files when the storage keeps them on local disk. A store with no such files (a database) needs
 * --out <dir> or --files-dir, which get the copies.
 */
function gatewayFilePaths(storage: Storage, d: GatewayDescriptor, filesDir: string | undefined): { caBundlePath: string; crlBundlePath: string } {
  if (filesDir) return { caBundlePath: join(filesDir, "ca-bundle.pem"), crlBundlePath: join(filesDir, "crl-bundle.pem") };
  const [ca, crl] = [storage.localPath(storeKeys.caBundle), storage.localPath(storeKeys.crlBundle)];
  if (ca !== undefined && crl !== undefined) return { caBundlePath: ca, crlBundlePath: crl };
  if (d.usesFiles)
    throw usageError(
      "ERR_USAGE",
      `${d.title} loads the CA bundle and CRL as files, and ${storage.location} keeps none a gateway could read`,
      "pass --out <dir> (the copies are written there) or --files-dir <dir>",
    );
  // Not referenced by this kind's templates: any plain name will do.
  return { caBundlePath: "ca-bundle.pem", crlBundlePath: "crl-bundle.pem" };
}

interface ValuesInput {
  p: Rendering;
  d: GatewayDescriptor;
  config: StoreConfig;
  ca: CaCerts;
  server: { serverCert?: string; serverKey?: string };
  identities: Identity[];
  files: { caBundlePath: string; crlBundlePath: string };
  caBundlePem: string;
  crlBundlePem: string;
}

/** Every value the templates may use. Over ~60 lines: one flat table of template variables, kept together. */
function templateValues(v: ValuesInput): TemplateScope {
  const { p, d, config, ca, server, identities } = v;
  const listen = parseListen(p.listen, d.defaults?.listen ?? "443");
  const upstream = parseUpstream(p.upstream ?? "http://127.0.0.1:8080");
  const all = <K extends keyof Identity>(k: K) => [...new Set(identities.flatMap((i) => i[k] as unknown as string[]))];
  const ocsp = Boolean(config.ca.ocspUrl) && (d.ocsp ?? "none") !== "none";
  const pathFor = d.barePaths ? checkPath : (_flag: string, path: string) => path;
  return {
    kind: d.kind,
    schema: d.schema,
    caName: commentSafe(config.ca.name),
    hostname: checkHostname(p.hostname ?? "api.example.com"),
    upstream: upstream.url,
    upstreamHost: upstream.host,
    upstreamPort: upstream.port,
    upstreamTls: upstream.tls,
    listen: listen.listen,
    listenHost: listen.host,
    listenPort: listen.port,
    listenBind: listen.bind,
    listenVhost: listen.vhost,
    serverCert: pathFor(
      server.serverCert ? "--server" : "--server-cert",
      server.serverCert ?? p.serverCert ?? d.defaults?.serverCert ?? "/etc/ssl/gateway/server.pem",
    ),
    serverKey: pathFor(
      server.serverKey ? "--server" : "--server-key",
      server.serverKey ?? p.serverKey ?? d.defaults?.serverKey ?? "/etc/ssl/gateway/server.key",
    ),
    caBundlePath: pathFor("--files-dir/--out", v.files.caBundlePath),
    crlBundlePath: pathFor("--files-dir/--out", v.files.crlBundlePath),
    caBundlePem: v.caBundlePem.trim(),
    caBundleText: v.caBundlePem,
    crlBundleText: v.crlBundlePem,
    rootPem: ca.root.pem.trim(),
    crlBundlePem: v.crlBundlePem.trim(),
    caUuid: stableUuid(ca.root.fingerprint),
    // Every trusted root: one during normal operation, both during a root rollover (#18).
    trustedRoots: ca.registry.trusted.map((id) => certOf(ca, id)).map((c) => ({ uuid: stableUuid(c.fingerprint), pem: c.pem.trim() })),
    caUuids: ca.registry.trusted.map((id) => stableUuid(certOf(ca, id).fingerprint)).join(", "),
    crlUrl: config.ca.crlUrl,
    hasOcsp: ocsp,
    ocspUrl: ocsp ? checkUrl("the OCSP URL (ca policy set --ocsp-url)", config.ca.ocspUrl as string) : undefined,
    reloadCommand: d.reload ?? "",
    listenStunnel: listen.bind.startsWith(":") ? String(listen.port) : listen.bind,
    partners: identities.map((i) => ({ id: i.id, cn: i.cn ?? i.id, commonNames: i.commonNames, uris: i.uris, dnsNames: i.dnsNames })),
    // Kong matches a consumer's username against the certificate's CN and SANs; the custom_id is
    // not matched (consumer_by: username), so a CN equal to some partner's id admits nobody.
    kongConsumers: identities.flatMap((i) => i.commonNames.map((c, n) => ({ username: c.cn, customId: n === 0 ? i.id : `${i.id}#${n + 1}` }))),
    hasAllowlist: identities.length > 0,
    allowCns: [...new Set(identities.flatMap((i) => i.commonNames.map((c) => c.cn)))].map((cn) => ({ cn, dnRegex: exactCnDnRegex(cn) })),
    allowUris: all("uris"),
    allowDnsNames: all("dnsNames"),
    hasSanAllowlist: all("uris").length + all("dnsNames").length > 0,
    hasAllowUris: all("uris").length > 0,
    hasAllowDnsNames: all("dnsNames").length > 0,
  };
}

/** Writes the rendered files (and, for kinds that load them, the CA bundle and CRL copies) where --out says. */
async function writeGatewayFiles(
  p: GatewayConfigParams,
  d: GatewayDescriptor,
  outIsDir: boolean,
  rendered: Array<{ name: string; text: string }>,
  bundles: { caBundlePem: string; crlBundlePem: string },
): Promise<GatewayConfigResult["files"]> {
  const files: GatewayConfigResult["files"] = [];
  const write = async (path: string, data: string) => {
    if (!p.force && (await exists(path))) throw conflictError("ERR_EXISTS", `${path} already exists`, "pass --force to overwrite it");
    await writeFileAtomic(path, data);
    files.push({ name: path.split("/").pop() as string, path });
  };
  const out = p.out as string;
  if (!outIsDir) {
    await write(resolve(out), rendered.map((r) => r.text).join(""));
    return files;
  }
  const dir = resolve(out);
  // Kinds that write the CA bundle and CRL next to their config take --out as a directory, always.
  if ((await exists(dir)) && !(await isDirectory(dir)))
    throw usageError(
      "ERR_OUT_NOT_DIRECTORY",
      `--out ${out} is a file, and ${d.title} writes a directory (${[...rendered.map((r) => r.name), ...(d.usesFiles ? ["ca-bundle.pem", "crl-bundle.pem"] : [])].join(", ")})`,
      "name a directory (it is created if missing), e.g. --out /etc/mtls/gateway/",
    );
  await ensureDir(dir);
  for (const r of rendered) await write(join(dir, r.name), r.text);
  if (d.usesFiles) {
    await write(join(dir, "ca-bundle.pem"), bundles.caBundlePem);
    await write(join(dir, "crl-bundle.pem"), bundles.crlBundlePem);
  }
  return files;
}
