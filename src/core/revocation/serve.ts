// `mtls revocation serve`: the CRLs over HTTP at the distribution point written into
// certificates, and an OCSP responder (RFC 6960, RFC 5019 profile), both answering from the
// store as it is at each request. Gateways that check client certificates online (nginx
// ssl_ocsp, Apache SSLOCSPEnable, stunnel, Kong) then see a revocation without a reload.
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { liveCas, registryOf } from "../ca/registry.js";
import { parseCrl } from "../crl/decode.js";
import type { CaRole } from "../crl/publish.js";
import { inputError } from "../errors.js";
import { listenOn } from "../listen.js";
import { respondOcsp } from "../ocsp/respond.js";
import { type LoadedResponders, loadResponders, nextRenewalCheck, type Responder } from "../ocsp/responder-cert.js";
import { type StatusSource, storeStatusSource } from "../ocsp/status-source.js";
import type { Pki } from "../session.js";
import { getText, mustGet } from "../store/blobs.js";
import { parseConfig } from "../store/config.js";
import { journalFile, storeKeys } from "../store/keys.js";
import type { Storage } from "../store/storage.js";
import { HOUR, iso, MINUTE, SECOND } from "../time.js";

export interface RevocationServeParams {
  /** The PKI, opened with a clock (`now: () => new Date()`): responder renewals are transactions. */
  pki: Pki;
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Validity of each OCSP answer (nextUpdate - thisUpdate). */
  ocspValidityMs?: number;
  /** Upper bound of HTTP caching of CRLs and OCSP answers; never past nextUpdate. */
  maxAgeMs?: number;
  /** The clock (tests move it); defaults to the real one at each request. */
  clock?: () => Date;
  log: (line: string) => void;
}

export interface RunningRevocationServer {
  url: string;
  port: number;
  /** Where certificates should point: the OCSP URL and the issuing CA's CRL URL on this server. */
  ocspUrl: string;
  crlUrls: Record<string, string>;
  stats: { requests: number; ocsp: number; crl: number };
  close(): Promise<void>;
}

/** A request body larger than this is not an OCSP request (one asks about at most 16 certificates). */
const MAX_BODY = 16 * 1024;
const OCSP_PATH = "/ocsp";

/** Request paths come from anyone who can connect: logged percent-encoded and cut short. */
const logSafe = (s: string) => s.slice(0, 200).replace(/[^\x21-\x7e]/g, (c) => encodeURIComponent(c));

interface CrlRoute {
  /** The store key served. */
  key: string;
  contentType: string;
  /** The CRL whose nextUpdate bounds caching (the bundle's first, the issuing CA's). */
  der: string;
}

function crlRoutes(roles: CaRole[], configuredUrl: string | undefined): Map<string, CrlRoute> {
  const routes = new Map<string, CrlRoute>();
  for (const role of roles) {
    routes.set(`/crl/${role}.crl`, { key: storeKeys.crlDer(role), contentType: "application/pkix-crl", der: storeKeys.crlDer(role) });
    routes.set(`/crl/${role}.crl.pem`, { key: storeKeys.crlPem(role), contentType: "application/x-pem-file", der: storeKeys.crlDer(role) });
  }
  const issuing = roles[0] as CaRole;
  routes.set("/crl/crl-bundle.pem", { key: storeKeys.crlBundle, contentType: "application/x-pem-file", der: storeKeys.crlDer(issuing) });
  // The distribution point written into partner certificates names the issuing CA's CRL.
  if (configuredUrl) {
    try {
      const path = new URL(configuredUrl).pathname;
      if (!routes.has(path)) routes.set(path, { key: storeKeys.crlDer(issuing), contentType: "application/pkix-crl", der: storeKeys.crlDer(issuing) });
    } catch {}
  }
  return routes;
}

/** A blob's version where the storage can tell one cheaply; undefined means "read it again". */
const versionOf = (storage: Storage, key: string): string | undefined => storage.version?.(key);

/**
 * The CRL routes of what the responders were last loaded from: a miss asks for a load when
 * config.json changed (a rollover's new CA, `ca policy set --crl-url` moving the distribution
 * point), and a stream of random paths costs no more than that check.
 */
function routeFinder(state: ResponderState): (path: string) => Promise<CrlRoute | undefined> {
  let builtFrom = state.loaded;
  let routes = crlRoutes(rolesOf(state), builtFrom.crlUrl);
  return async (path) => {
    await state.sync();
    if (state.loaded === builtFrom && !routes.has(path)) await state.refresh();
    if (state.loaded !== builtFrom) {
      builtFrom = state.loaded;
      routes = crlRoutes(rolesOf(state), builtFrom.crlUrl);
    }
    return routes.get(path);
  };
}

const rolesOf = (state: ResponderState): CaRole[] => state.loaded.responders.map((r) => r.role);

interface CachedCrl {
  version: string | undefined;
  data: Buffer;
  etag: string;
  thisUpdate: Date;
  nextUpdate?: Date;
  number?: string;
}

/**
 * A published CRL, read and parsed once per version of its blob: a 100,000-entry CRL is
 * megabytes, and parsing it for every download would make each request expensive.
 */
function crlLoader(storage: Storage): (route: CrlRoute) => Promise<CachedCrl> {
  const cache = new Map<string, CachedCrl>();
  const must = async (key: string) => Buffer.from(await mustGet(storage, key));
  return async (route) => {
    const [a, b] = [versionOf(storage, route.key), versionOf(storage, route.der)];
    const version = a === undefined || b === undefined ? undefined : `${a}|${b}`;
    const hit = cache.get(route.key);
    if (version !== undefined && hit?.version === version) return hit;
    const [data, der] = await Promise.all([must(route.key), route.der === route.key ? undefined : must(route.der)]);
    const crl = parseCrl(der ?? data);
    const entry: CachedCrl = {
      version,
      data,
      etag: `"${createHash("sha256").update(data).digest("hex").slice(0, 32)}"`,
      thisUpdate: crl.thisUpdate,
      ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate } : {}),
      ...(crl.number ? { number: crl.number } : {}),
    };
    cache.set(route.key, entry);
    return entry;
  };
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (d: Buffer) => {
      size += d.length;
      if (size > MAX_BODY) {
        // Stop keeping it but drain the rest, so the client reads our 413 (requestTimeout bounds a slow one).
        req.removeAllListeners("data");
        req.resume();
        resolve(undefined);
        return;
      }
      parts.push(d);
    });
    req.on("end", () => resolve(Buffer.concat(parts)));
    req.on("error", reject);
  });
}

/** The base64 of an RFC 5019 GET, URL-decoded; undefined when it is not base64 at all. */
function getRequestBytes(path: string): Buffer | undefined {
  let text: string;
  try {
    text = decodeURIComponent(path.slice(OCSP_PATH.length + 1));
  } catch {
    return undefined;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text) || text.length > (MAX_BODY * 4) / 3) return undefined;
  return Buffer.from(text, "base64");
}

export async function startRevocationServer(p: RevocationServeParams): Promise<RunningRevocationServer> {
  await p.pki.config(); // opens and checks the store before anything else
  const clock = p.clock ?? (() => new Date());
  const validityMs = p.ocspValidityMs ?? HOUR;
  const maxAgeMs = p.maxAgeMs ?? MINUTE;
  if (validityMs < MINUTE) throw inputError("ERR_OCSP_VALIDITY", "OCSP answers must be valid for at least a minute", "pass --ocsp-validity 1h");
  const stats = { requests: 0, ocsp: 0, crl: 0 };
  // The port is taken before a first start issues responder certificates: a server that
  // cannot start leaves the store as it was. Requests wait until the responders are loaded.
  const { server, serve } = await listen(p, stats, clock);
  let state: ResponderState;
  try {
    state = await startResponders(p, clock);
  } catch (err) {
    await closeServer(server);
    throw err;
  }
  // Read the store now, so a damaged one is reported at start rather than at the first request
  // (an unreadable one still fails each request, as it would after starting).
  await state.source.problem().catch(() => undefined);
  const roles = rolesOf(state);
  const routeFor = routeFinder(state);
  const loadCrl = crlLoader(p.pki.storage);
  serve(requestHandler({ state, routeFor, loadCrl, stats, clock, validityMs, maxAgeMs }));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${p.host.includes(":") ? `[${p.host}]` : p.host}:${port}`;
  return {
    url,
    port,
    ocspUrl: `${url}${OCSP_PATH}`,
    crlUrls: Object.fromEntries(roles.map((r) => [r, `${url}/crl/${r}.crl`])),
    stats,
    close: () => {
      state.stop();
      return closeServer(server);
    },
  };
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * The responders and the status source they answer from, renewed in the background as they come
 * due, and loaded again when config.json changed (a rollover's new CA, `ca policy set`).
 */
interface ResponderState {
  loaded: LoadedResponders;
  source: StatusSource;
  /**
   * Looks whether config.json changed since the last load and, if it did, stops answering at
   * once for the CAs it retired (no key or lock needed: every replica then agrees with a
   * freshly started one) and starts loading the responders again behind the request.
   */
  sync(): Promise<void>;
  /**
   * sync(), then waits for a load it started, at most REFRESH_WAIT_MS (a held store lock must
   * not hold up answers); true when what is answered for changed.
   */
  refresh(): Promise<boolean>;
  stop(): void;
}

/** How long a request waits for a reload it started; the reload goes on behind it. */
const REFRESH_WAIT_MS = 2 * SECOND;
/** After a failed reload (the store locked, a token absent), the next try waits this long. */
const RETRY_MS = 10 * SECOND;
/** How often a storage without versions has config.json read to look for a change. */
const CONFIG_CHECK_MS = SECOND;

/**
 * Whether config.json changed since the responders were loaded. The storage's version of it is
 * only a hint (the database store's changes with every commit): the text decides.
 */
class ConfigWatch {
  /** What the last load was made from, read before it: a change during a load is seen next time. */
  loadedText: string | undefined;
  private seenVersion: string | undefined;
  private checkedAt = 0;
  private retryAt = 0;

  constructor(readonly storage: Storage) {
    this.seenVersion = versionOf(storage, storeKeys.config);
  }

  text(): Promise<string | undefined> {
    return getText(this.storage, storeKeys.config).catch(() => undefined);
  }

  /** config.json's text when it differs from what was loaded; undefined when it does not (or was not read now). */
  async changed(): Promise<string | undefined> {
    const version = versionOf(this.storage, storeKeys.config);
    const now = Date.now();
    if (version === undefined ? now - this.checkedAt < CONFIG_CHECK_MS : version === this.seenVersion) return undefined;
    this.checkedAt = now;
    this.seenVersion = version;
    const text = await this.text();
    return text === undefined || text === this.loadedText ? undefined : text;
  }

  /** Whether a load may be tried now; a change not acted on yet is looked at again by the next request. */
  loadDue(): boolean {
    if (Date.now() >= this.retryAt) return true;
    this.seenVersion = undefined;
    return false;
  }

  /** A load ran: a change made while it read the store is looked for at the next request. */
  recheck(): void {
    this.seenVersion = undefined;
  }

  /** A load failed: the next try waits RETRY_MS. */
  failed(): void {
    this.retryAt = Date.now() + RETRY_MS;
    this.seenVersion = undefined;
  }
}

/** Waits for `work`, or `ms`, whichever ends first; the work goes on either way. */
async function waitAtMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * Drops the responders of CAs that config.json `text` retired (`ca rollover root finish`);
 * `dropped` hears which, when any. A config that does not parse changes nothing here: the load
 * that follows reports it.
 */
function withdrawRetired(state: ResponderState, text: string, storage: Storage, dropped: (roles: CaRole[]) => void): void {
  let live: Set<string>;
  try {
    live = new Set(liveCas(registryOf(parseConfig(text, storage.where(storeKeys.config)))).map((c) => c.id));
  } catch {
    return;
  }
  const gone = state.loaded.responders.filter((r) => !live.has(r.role)).map((r) => r.role);
  if (gone.length === 0) return;
  state.loaded = {
    ...state.loaded,
    responders: state.loaded.responders.filter((r) => live.has(r.role)),
    expired: state.loaded.expired.filter((e) => live.has(e.role)),
  };
  dropped(gone);
}

/**
 * How the responders follow config.json: a change withdraws the CAs it retired at once and
 * reloads the responders behind the request (see ResponderState).
 */
function followConfig(
  state: ResponderState,
  watch: ConfigWatch,
  c: { load: (what: string) => Promise<void>; say: (line: string) => void; retarget: () => void },
): Pick<ResponderState, "sync" | "refresh"> {
  const reload = async () => {
    try {
      await c.load("issued");
      c.say(`config.json changed: answering for ${rolesOf(state).join(", ")}`);
    } catch (err) {
      watch.failed();
      c.say(`loading the responders again failed (next try in ${RETRY_MS / SECOND} s): ${(err as Error).message}`);
    }
  };
  let reloading: Promise<void> | undefined;
  const check = async () => {
    const text = await watch.changed();
    if (text === undefined) return;
    withdrawRetired(state, text, watch.storage, (gone) => {
      c.retarget();
      c.say(`config.json changed: no longer answering for ${gone.join(", ")} (retired)`);
    });
    if (watch.loadDue())
      reloading ??= reload().finally(() => {
        reloading = undefined;
        watch.recheck();
      });
  };
  let checking: Promise<void> | undefined;
  const sync = () =>
    (checking ??= check().finally(() => {
      checking = undefined;
    }));
  const refresh = async () => {
    const before = state.loaded;
    await sync();
    if (reloading) await waitAtMost(reloading, REFRESH_WAIT_MS);
    return state.loaded !== before;
  };
  return { sync, refresh };
}

async function startResponders(p: RevocationServeParams, clock: () => Date): Promise<ResponderState> {
  const storage = p.pki.storage;
  const watch = new ConfigWatch(storage);
  const text = await watch.text();
  const loaded = await loadResponders(p.pki, { now: clock() });
  // A first start writes config.json itself (the OCSP canary): what it left is what was loaded.
  watch.loadedText = loaded.issued.length ? await watch.text() : text;
  for (const role of loaded.issued) p.log(`${iso(clock())} issued the ${role} CA's OCSP responder certificate`);
  // Logged when it changes, across reloads of the responders: not at every read of the store.
  let reported: string | undefined;
  const report = (problem: string | undefined) => {
    if (problem === reported) return;
    reported = problem;
    p.log(`${iso(clock())} ${problem ?? `${storage.where(journalFile.revocations)} holds every revocation the store records again`}`);
  };
  let timer: NodeJS.Timeout | undefined;
  let loading: Promise<void> | undefined;
  // One load at a time, whoever asks (the renewal timer, a request): a slower, older load never
  // lands after a newer one.
  const load = (what: string) => {
    loading ??= (async () => {
      const text = await watch.text();
      state.loaded = await loadResponders(p.pki, { now: clock() });
      state.source = sourceFor(storage, state.loaded, report);
      // A load that issued wrote config.json itself (the OCSP canary): what it left is what was loaded.
      watch.loadedText = state.loaded.issued.length ? await watch.text() : text;
      for (const role of state.loaded.issued) p.log(`${iso(clock())} ${what} the ${role} CA's OCSP responder certificate`);
    })().finally(() => {
      loading = undefined;
    });
    return loading;
  };
  const state: ResponderState = {
    loaded,
    source: sourceFor(storage, loaded, report),
    sync: async () => {},
    refresh: async () => false,
    stop: () => {
      if (timer) clearTimeout(timer);
    },
  };
  const say = (line: string) => p.log(`${iso(clock())} ${line}`);
  Object.assign(state, followConfig(state, watch, { load, say, retarget: () => (state.source = sourceFor(storage, state.loaded, report)) }));
  const scheduleRenewal = () => {
    timer = setTimeout(
      async () => {
        try {
          await load("renewed");
        } catch (err) {
          p.log(`${iso(clock())} OCSP responder renewal failed: ${(err as Error).message}`);
        }
        scheduleRenewal();
      },
      nextRenewalCheck(state.loaded.responders, clock()),
    );
    timer.unref();
  };
  scheduleRenewal();
  return state;
}

interface HandlerContext {
  state: ResponderState;
  routeFor: (path: string) => Promise<CrlRoute | undefined>;
  loadCrl: (route: CrlRoute) => Promise<CachedCrl>;
  stats: RunningRevocationServer["stats"];
  clock: () => Date;
  validityMs: number;
  maxAgeMs: number;
}

/** Answers one request; resolves to the summary the access log shows. */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: its four answers (dispatch, OCSP, CRL, health) share one closure
function requestHandler(c: HandlerContext): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<string> {
  const { state, routeFor, loadCrl, stats, clock, validityMs, maxAgeMs } = c;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<string> => {
    const path = (req.url ?? "/").split("?")[0] as string;
    const method = req.method ?? "GET";
    if (method === "POST" && (path === OCSP_PATH || path === "/")) {
      const body = await readBody(req);
      if (!body) return send(res, 413, "text/plain", "request too large\n");
      return answerOcsp(res, body, false);
    }
    if (method !== "GET" && method !== "HEAD") return send(res, 405, "text/plain", "method not allowed\n", { allow: "GET, HEAD, POST" });
    if (path === "/health") return health(res);
    if (path.startsWith(`${OCSP_PATH}/`)) {
      const bytes = getRequestBytes(path);
      return answerOcsp(res, bytes ?? Buffer.alloc(0), true);
    }
    const route = await routeFor(path);
    if (route) return serveCrl(req, res, route);
    return send(res, 404, "text/plain", "not found\n");
  };

  async function answerOcsp(res: http.ServerResponse, request: Buffer, cacheable: boolean): Promise<string> {
    stats.ocsp++;
    const now = clock();
    await state.sync();
    const ask = () => respondOcsp({ request, responders: state.loaded.responders, source: state.source, now, validityMs });
    let out = await ask();
    // A CA this server does not answer for may be one a rollover added since it loaded.
    if (out.responseStatus === "unauthorized" && (await state.refresh())) out = await ask();
    const headers: http.OutgoingHttpHeaders = {};
    // RFC 5019 §6.2: GET answers without a nonce may be cached, never past nextUpdate.
    if (cacheable && out.nextUpdate && !out.nonce) {
      const maxAge = Math.max(0, Math.floor(Math.min(maxAgeMs, out.nextUpdate.getTime() - now.getTime()) / SECOND));
      Object.assign(headers, {
        "cache-control": `max-age=${maxAge}, public, no-transform, must-revalidate`,
        "last-modified": now.toUTCString(),
        expires: out.nextUpdate.toUTCString(),
        etag: `"${createHash("sha256").update(out.der).digest("hex").slice(0, 32)}"`,
      });
    } else headers["cache-control"] = "no-store";
    send(res, 200, "application/ocsp-response", out.der, headers);
    const answers = out.answers.map((a) => `${a.serial}:${a.status}`).join(",") || "-";
    return `200 ocsp=${out.responseStatus} ${answers}${out.nonce ? " nonce" : ""}${out.detail ? ` (${logSafe(out.detail)})` : ""}`;
  }

  async function serveCrl(req: http.IncomingMessage, res: http.ServerResponse, route: CrlRoute): Promise<string> {
    stats.crl++;
    let crl: Awaited<ReturnType<typeof loadCrl>>;
    try {
      crl = await loadCrl(route);
    } catch {
      return send(res, 503, "text/plain", "no readable CRL published: run `mtls crl publish`\n");
    }
    const { data, etag } = crl;
    const now = clock();
    const untilNext = crl.nextUpdate ? crl.nextUpdate.getTime() - now.getTime() : 0;
    const headers: http.OutgoingHttpHeaders = {
      etag,
      "last-modified": crl.thisUpdate.toUTCString(),
      "cache-control": `max-age=${Math.max(0, Math.floor(Math.min(maxAgeMs, untilNext) / SECOND))}, public, no-transform`,
      ...(crl.nextUpdate ? { expires: crl.nextUpdate.toUTCString() } : {}),
    };
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, headers).end();
      return "304 crl";
    }
    send(res, 200, route.contentType, req.method === "HEAD" ? undefined : data, { ...headers, "content-length": String(data.length) });
    return `200 crl number=${crl.number ?? "-"}`;
  }

  async function health(res: http.ServerResponse): Promise<string> {
    // A change since the last load is waited for (bounded), so the first health check after a
    // rollover step already reports the CAs answered for.
    await state.refresh();
    const now = clock();
    const responders = state.loaded.responders.map((r: Responder) => ({
      ca: r.role,
      responderNotAfter: iso(r.cert.notAfter),
      expired: r.cert.notAfter <= now,
    }));
    const problem = await state.source.problem();
    const ok = responders.every((r) => !r.expired) && problem === undefined;
    const body = { ok, responders, certificatesKnown: await state.source.size(), ...(problem ? { problem } : {}) };
    send(res, ok ? 200 : 503, "application/json", `${JSON.stringify(body)}\n`);
    return `${ok ? 200 : 503} health`;
  }

  return handle;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<string>;

/**
 * The HTTP server, listening: every request logged, none able to take the responder down. It
 * answers once `serve` hands it the handler; until then requests wait.
 */
async function listen(
  p: RevocationServeParams,
  stats: RunningRevocationServer["stats"],
  clock: () => Date,
): Promise<{ server: http.Server; serve: (h: Handler) => void }> {
  let serve: (h: Handler) => void = () => {};
  const ready = new Promise<Handler>((resolve) => (serve = resolve));
  const server = http.createServer((req, res) => {
    stats.requests++;
    const started = Date.now();
    ready
      .then((handle) => handle(req, res))
      .then(
        (summary) => p.log(`${iso(clock())} ${req.method} ${logSafe(req.url ?? "/")} ${summary} ${Date.now() - started}ms`),
        (err: Error) => {
          // Never let one request take the responder down: gateways fail closed without it.
          p.log(`${iso(clock())} ${req.method} ${logSafe(req.url ?? "/")} 500 internal error: ${logSafe(err.message)}`);
          if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" }).end("internal error\n");
          else res.destroy();
        },
      );
  });
  server.headersTimeout = 10 * SECOND;
  server.requestTimeout = 30 * SECOND;
  await listenOn(server, p.port, p.host);
  return { server, serve };
}

function sourceFor(storage: Storage, loaded: LoadedResponders, report: (problem: string | undefined) => void): StatusSource {
  // The intermediate is the root's to answer for; each responder certificate is its CA's.
  const extra = loaded.responders.map((r) => ({ role: r.role, cert: r.cert }));
  for (const r of [...loaded.responders, ...loaded.expired]) if (r.parent) extra.push({ role: r.parent, cert: r.ca });
  // The canary comes from the issuing CA: the first responder (intermediate, or the root alone).
  const issuing = loaded.responders[0]?.role ?? "root";
  return storeStatusSource({
    store: storage,
    extra,
    ocspOnly: loaded.ocspCanary ? [{ role: issuing, ...loaded.ocspCanary }] : [],
    ...(loaded.canarySerial ? { journaled: loaded.canarySerial } : {}),
    report,
  });
}

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer | undefined, headers: http.OutgoingHttpHeaders = {}): string {
  res.writeHead(status, { "content-type": type, ...headers });
  res.end(body);
  return String(status);
}
