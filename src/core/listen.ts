// How mtls's servers (gateway serve, revocation serve) start listening: a port checked first, and
// a socket that cannot be bound reported as the machine's business (exit 5, naming the address),
// never as a crash.
import type { Server } from "node:net";
import { envError, type MtlsError, usageError } from "./errors.js";

/** Listens on `host`:`port` and returns the port (the one picked when `port` is 0). */
export async function listenOn(server: Server, port: number, host: string): Promise<number> {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError("ERR_USAGE", `invalid port ${port}: expected 0 to 65535`, "0 picks a free one");
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, port, host)));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return typeof address === "object" && address ? address.port : port;
}

function listenError(err: NodeJS.ErrnoException, port: number, host: string): MtlsError {
  if (err.code === "EADDRINUSE") return envError("ERR_PORT_IN_USE", `port ${port} on ${host} is in use`, "pick another --port, or 0 for a free one", err);
  if (err.code === "EACCES")
    return envError("ERR_PORT_DENIED", `cannot listen on port ${port} on ${host}: permission denied`, "use a port above 1023, or 0 for a free one", err);
  if (err.code === "EADDRNOTAVAIL")
    return envError("ERR_LISTEN", `cannot listen on ${host}: not an address of this machine`, "use --host 127.0.0.1, or an address this machine has", err);
  if (err.code === "ENOTFOUND" || err.code === "EAI_AGAIN")
    return envError("ERR_LISTEN", `cannot listen on ${host}: the name does not resolve`, "use --host 127.0.0.1, or an address this machine has", err);
  return envError("ERR_LISTEN", `cannot listen on ${host} port ${port}: ${err.message}`, undefined, err);
}
