// The one adapter of the `pg` driver (node-postgres, pure JavaScript: pg-native is never loaded).
// Everything else talks to a SqlClient. Like libpq, the driver falls back to PGUSER, PGPASSWORD,
// PGPASSFILE / ~/.pgpass for what the URL and options leave out; that is the driver's documented
// behaviour and the one users of psql expect.
import { lstat, readFile } from "node:fs/promises";
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { envError, fsError, type MtlsError, usageError } from "../../errors.js";
import { BinaryCopyReader, binaryCopyPieces, type CopyRow } from "./copy-binary.js";

export interface SqlClient {
  query<R = Record<string, unknown>>(text: string, params?: unknown[]): Promise<R[]>;
  /**
   * The rows of `COPY (select) TO STDOUT (FORMAT binary)`, each field as its bytes: a bytea
   * arrives as it is stored, where query() would have it turned into text and back (#21). COPY
   * takes no parameters: `select` must hold only literals mtls made.
   */
  copyRows(select: string): Promise<CopyRow[]>;
  /**
   * `COPY target FROM STDIN (FORMAT binary)` of `rows`, each field in the binary form of its
   * column's type (a bytea as its bytes): bind parameters would send a bytea as hex text.
   */
  copyRowsIn(target: string, rows: Iterable<CopyRow>): Promise<void>;
  /** The server process serving this connection (pg_backend_pid()). */
  readonly backendPid: number;
  end(): Promise<void>;
}

export interface ConnectParams {
  /** postgres://user@host:port/db?sslmode=…&sslrootcert=…&sslcert=…&sslkey=… */
  url: string;
  /** What to print for the store: the URL without a password. */
  display: string;
  /** A password from --store-password-file; otherwise the URL's, PGPASSWORD or .pgpass. */
  password?: string;
}

const LOOPBACK = new Set(["localhost", "127.0.0.1", "::1", "[::1]"]);

async function readTlsFile(path: string, what: string, secret = false): Promise<Buffer> {
  if (secret) {
    // libpq's rule: a client key others can read is refused (they could be the database user).
    const st = await lstat(path).catch((err) => Promise.reject(fsError(err, path, `read ${what}`)));
    if ((st.mode & 0o077) !== 0)
      throw envError(
        "ERR_STORE_TLS",
        `the database client key ${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)})`,
        `chmod 600 ${path}`,
      );
  }
  return readFile(path).catch((err) => Promise.reject(fsError(err, path, `read ${what}`)));
}

/**
 * TLS options for an sslmode (libpq's names and meaning). Without sslmode, a loopback or socket
 * host connects in the clear and every other host with verify-full: mtls never falls back to
 * plaintext on its own, so `allow` and `prefer` are refused.
 */
export async function tlsOptions(url: URL, host: string): Promise<ConnectionOptions | false> {
  const q = url.searchParams;
  const mode = q.get("sslmode") ?? (LOOPBACK.has(host) || host.startsWith("/") ? "disable" : "verify-full");
  if (mode === "disable") return false;
  if (mode === "allow" || mode === "prefer")
    throw usageError("ERR_STORE_URL", `sslmode=${mode} may fall back to an unencrypted connection`, "use sslmode=disable, require, verify-ca or verify-full");
  if (!["require", "verify-ca", "verify-full"].includes(mode))
    throw usageError("ERR_STORE_URL", `unknown sslmode "${mode.replace(/[^\w-]/g, "?")}"`, "use sslmode=disable, require, verify-ca or verify-full");
  const opts: ConnectionOptions = {};
  const root = q.get("sslrootcert");
  if (root) opts.ca = await readTlsFile(root, "the database CA certificate (sslrootcert)");
  const cert = q.get("sslcert");
  const key = q.get("sslkey");
  if (cert || key) {
    if (!cert || !key) throw usageError("ERR_STORE_URL", "sslcert and sslkey go together", "name both the client certificate and its key");
    opts.cert = await readTlsFile(cert, "the database client certificate (sslcert)");
    opts.key = await readTlsFile(key, "the database client key (sslkey)", true);
  }
  // libpq: require with a root certificate behaves as verify-ca.
  const verify = mode !== "require" || Boolean(root);
  opts.rejectUnauthorized = verify;
  if (mode !== "verify-full") opts.checkServerIdentity = () => undefined;
  else if (!isIP(host.replace(/^\[|\]$/g, ""))) opts.servername = host;
  // An IP address is checked against the certificate's IP SANs: without `host`, Node would check
  // the name "localhost" on the driver's already-connected socket.
  else opts.host = host.replace(/^\[|\]$/g, "");
  return opts;
}

/** An error of mtls's own while it sent rows (not the database's: copyRowsIn passes it on as it is). */
class SendError {
  constructor(readonly cause: unknown) {}
}

type Sender = {
  sendCopyFromChunk(b: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(msg: string): void;
  stream: { writableNeedDrain: boolean; once(event: "drain" | "close", fn: () => void): void; off(event: "drain" | "close", fn: () => void): void };
};

/** Until the socket takes more (or is gone). */
function drained(stream: Sender["stream"]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.once("drain", done);
    stream.once("close", done);
  });
}

/** The password to log in with: --store-password-file's, else the URL's (`user:pw@` or libpq's `?password=`); none lets the driver read PGPASSWORD or .pgpass. */
function passwordOf(p: ConnectParams, url: URL): { password?: string } {
  if (p.password !== undefined) return { password: p.password };
  if (url.password) return { password: decodeURIComponent(url.password) };
  const q = url.searchParams.get("password");
  return q !== null ? { password: q } : {};
}

/** Opens one connection (no pool: a command is one transaction on one connection). */
export async function connectPg(p: ConnectParams): Promise<SqlClient> {
  const url = new URL(p.url);
  const q = url.searchParams;
  const host = q.get("host") ?? decodeURIComponent(url.hostname);
  const ssl = await tlsOptions(url, host);
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    host: host.replace(/^\[|\]$/g, ""),
    port: Number(url.port || q.get("port") || 5432),
    ...(url.username || q.get("user") ? { user: url.username ? decodeURIComponent(url.username) : (q.get("user") as string) } : {}),
    ...(url.pathname.length > 1 ? { database: decodeURIComponent(url.pathname.slice(1)) } : {}),
    ...passwordOf(p, url),
    ssl,
    application_name: "mtls",
    connectionTimeoutMillis: Number(q.get("connect_timeout") ?? 10) * 1000,
  });
  // A connection the server drops between queries emits 'error'; the next query reports it.
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw sqlError(err, p.display);
  }
  const backendPid = (client as unknown as { processID: number }).processID;
  return {
    backendPid,
    async query<R>(text: string, params?: unknown[]) {
      try {
        return (await client.query(text, params)).rows as R[];
      } catch (err) {
        throw sqlError(err, p.display);
      }
    },
    async copyRows(select: string) {
      try {
        return await new Promise<CopyRow[]>((resolve, reject) => {
          client.query(binaryCopyOut(`COPY (${select}) TO STDOUT (FORMAT binary)`, resolve, reject));
        });
      } catch (err) {
        throw sqlError(err, p.display);
      }
    },
    async copyRowsIn(target: string, rows: Iterable<CopyRow>) {
      try {
        await new Promise<void>((resolve, reject) => {
          client.query(binaryCopyIn(`COPY ${target} FROM STDIN (FORMAT binary)`, rows, resolve, reject));
        });
      } catch (err) {
        throw err instanceof SendError ? err.cause : sqlError(err, p.display);
      }
    },
    end: () => client.end().catch(() => {}),
  };
}

/**
 * The handlers a query the driver runs as it would its own (its Submittable interface) needs
 * besides the COPY messages: after an error the server's ReadyForQuery goes to no query, so an
 * error settles at once.
 */
function submittable(text: string, settle: () => void, reject: (err: unknown) => void) {
  return {
    submit(connection: { query(text: string): void }) {
      connection.query(text);
    },
    handleCommandComplete() {},
    handleRowDescription() {},
    handleDataRow() {},
    handleEmptyQuery() {},
    handleCopyData(_msg: { chunk: Buffer }) {},
    handleCopyInResponse(connection: { sendCopyFail(msg: string): void }) {
      connection.sendCopyFail("not a COPY FROM");
    },
    handleError(err: unknown) {
      reject(err);
    },
    handleReadyForQuery() {
      settle();
    },
  };
}

/** COPY … TO STDOUT: the CopyData messages the driver's own queries ignore, read as binary COPY. Data that is not is an error kept until the statement ends, so the connection stays in step. */
function binaryCopyOut(text: string, resolve: (rows: CopyRow[]) => void, reject: (err: unknown) => void) {
  const reader = new BinaryCopyReader();
  let failed: unknown;
  const settle = () => {
    if (failed) return reject(failed);
    try {
      resolve(reader.finish());
    } catch (err) {
      reject(err);
    }
  };
  return {
    ...submittable(text, settle, reject),
    handleCopyData(msg: { chunk: Buffer }) {
      if (failed) return;
      try {
        reader.push(msg.chunk);
      } catch (err) {
        failed = err;
      }
    },
  };
}

/** COPY … FROM STDIN: `rows` sent as binary COPY when the server asks for them, no faster than the socket takes them. */
function binaryCopyIn(text: string, rows: Iterable<CopyRow>, resolve: () => void, reject: (err: unknown) => void) {
  // After the server's error it drops what is still sent; nothing more need be.
  let refused = false;
  const fail = (err: unknown) => {
    refused = true;
    reject(err);
  };
  return {
    ...submittable(text, resolve, fail),
    handleCopyInResponse(connection: Sender) {
      (async () => {
        for (const piece of binaryCopyPieces(rows)) {
          if (refused) return;
          connection.sendCopyFromChunk(piece);
          if (connection.stream.writableNeedDrain) await drained(connection.stream);
        }
        connection.endCopyFrom();
      })().catch((err) => {
        // The server ends the COPY with an error, which settles nothing more: this is the cause.
        connection.sendCopyFail("the client could not send its rows");
        reject(new SendError(err));
      });
    },
  };
}

const NET: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "unknown host",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

/**
 * The exit-5 error for what went wrong with the database, with its cause and what to do. The
 * driver's and the server's messages name users, hosts and tables, never a password.
 */
export function sqlError(err: unknown, display: string): MtlsError {
  if (err && (err as { name?: string }).name === "MtlsError") return err as MtlsError;
  const e = err as { code?: string; message?: string };
  const msg = String(e?.message ?? err);
  const code = e?.code ?? "";
  const where = `the database store ${display}`;
  if (NET[code] || /timeout expired|Connection terminated due to connection timeout/i.test(msg))
    return envError(
      "ERR_STORE_UNREACHABLE",
      `cannot reach ${where}: ${NET[code] ?? "timed out"}`,
      "check that PostgreSQL runs there and accepts TCP connections (listen_addresses, firewall, port)",
      err,
    );
  if (code === "28P01" || /password must be a string|no password|SASL/i.test(msg))
    return envError(
      "ERR_STORE_AUTH",
      `${where} refused the login: ${code === "28P01" ? msg : "the server wants a password and none was given"}`,
      "set PGPASSWORD, use a .pgpass file or pass --store-password-file <file>",
      err,
    );
  if (code === "28000")
    return envError(
      "ERR_STORE_AUTH",
      `${where} refused the login: ${msg}`,
      "check pg_hba.conf and the user name (for certificate login: the client certificate's CN)",
      err,
    );
  const sqlState = /^[0-9A-Z]{5}$/.test(code);
  if (!sqlState && /\bSSL\b|\bTLS\b|certificate|self[- ]signed|CERT_|ERR_TLS|unable to verify|altname/i.test(`${code} ${msg}`))
    return envError(
      "ERR_STORE_TLS",
      `TLS to ${where} failed: ${msg}`,
      "check sslmode, sslrootcert (the CA that signed the server's certificate) and that the host name matches it",
      err,
    );
  if (code === "3D000") return envError("ERR_STORE_NO_DATABASE", `${where}: ${msg}`, "create the database (createdb) or fix the database name in the URL", err);
  if (code === "42P01" || code === "3F000")
    return envError("ERR_STORE_NO_SCHEMA", `${where} has no mtls schema: ${msg}`, "run `mtls store init --store <url>`", err);
  if (code === "42501")
    return envError(
      "ERR_STORE_PERMISSION",
      `${where}: ${msg}`,
      "grant the database user the rights on schema mtls, or let its owner run `mtls store init`",
      err,
    );
  if (code === "55P03") return envError("ERR_LOCKED", `${where} is locked by another mtls command`, "wait for it to finish and run the command again", err);
  if (
    code === "57P01" ||
    code === "57P02" ||
    code === "57P03" ||
    code === "ECONNRESET" ||
    code === "EPIPE" ||
    /terminat|Connection terminated|not queryable|closed/i.test(msg)
  )
    return envError(
      "ERR_STORE_CONNECTION_LOST",
      `the connection to ${where} was lost: ${msg}; nothing was committed`,
      "run the command again once the database is back",
      err,
    );
  return envError("ERR_STORE_SQL", `${where}: ${msg}`, "run `mtls doctor`; if it persists, restore the database from a backup", err);
}
