import { run } from "./run.js";

export interface CurlResult {
  exitCode: number;
  /** HTTP status, or 0 when no response arrived (handshake refused, connection reset). */
  status: number;
  body: string;
  stderr: string;
}

/** One HTTPS request with a client certificate, made by curl (a client we did not write). */
export async function curlWithCert(port: number, o: { cert?: string; key?: string; cacert: string; tls?: "1.2" | "1.3" }): Promise<CurlResult> {
  const args = ["-sS", "--max-time", "5", "--cacert", o.cacert, "-w", "\n%{http_code}"];
  if (o.cert) args.push("--cert", o.cert);
  if (o.key) args.push("--key", o.key);
  if (o.tls) args.push(`--tlsv${o.tls}`, "--tls-max", o.tls);
  args.push(`https://localhost:${port}/`);
  const r = await run("curl", args);
  const lines = r.stdout.split("\n");
  const status = Number(lines.pop() || 0);
  return { exitCode: r.exitCode, status, body: lines.join("\n"), stderr: r.stderr };
}
