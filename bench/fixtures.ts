// Benchmark data: a PKI and a large index made directly on disk (the index format is ours).
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomSerial } from "../src/core/ids.js";
import type { CertRecord } from "../src/core/store/index-file.js";

export const ROOT = resolve(import.meta.dirname, "../..");
export const BIN = join(ROOT, "bin", "mtls.js");
export const PASSPHRASE = "benchmark passphrase";
// A machine may set NODE_EXTRA_CA_CERTS (the one BENCH.md was measured on sets it to the system
// bundle): every Node process then parses some 140 CA certificates as it starts, ~38 ms that would
// sit in the floor `node -e 0` and in every mtls run alike, and flatter each ratio. The
// benchmarks run without it, as most machines do; nothing they measure needs it.
delete process.env.NODE_EXTRA_CA_CERTS;
export const ENV = { ...process.env, MTLS_CA_PASSPHRASE: PASSPHRASE, NO_COLOR: "1" };

export function tempDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `mtls-bench-${tag}-`));
}

export function mtlsSync(args: string[], cwd: string, env: NodeJS.ProcessEnv = ENV): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: "utf8", maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`mtls ${args.join(" ")} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A CA plus an index of `n` certificates, `revokedShare` of them revoked. Returns the records. */
export function pkiWithIndex(dir: string, n: number, revokedShare: number, extraInit: string[] = []): CertRecord[] {
  mtlsSync(["ca", "init", "--pki", "pki", "-q", ...extraInit], dir);
  const now = Date.now();
  const records: CertRecord[] = [];
  for (let i = 0; i < n; i++) {
    const revoked = i < n * revokedShare;
    const serial = randomSerial();
    records.push({
      serial,
      partnerId: `partner-${i % 500}`,
      subject: `CN=workload-${i}`,
      sans: [`uri:spiffe://bench.example/workload/${i}`],
      keyType: "ec-p256",
      notBefore: new Date(now - 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      notAfter: new Date(now + (1 + (i % 365)) * 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      issuedAt: new Date(now - 86_400_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
      fingerprint: `sha256:${serial}${serial}`,
      source: "csr",
      issuer: "intermediate",
      certPath: `certs/${serial}.pem`,
      status: revoked ? "revoked" : "valid",
      ...(revoked ? { revokedAt: new Date(now - (i % 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z"), revocationReason: "keyCompromise" as const } : {}),
    });
  }
  writeFileSync(join(dir, "pki", "index.jsonl"), records.map((r) => `${JSON.stringify(r)}\n`).join(""));
  const revoked = records.filter((r) => r.status === "revoked");
  appendFileSync(
    join(dir, "pki", "revocations.jsonl"),
    revoked
      .map((r) => `${JSON.stringify({ serial: r.serial, issuer: r.issuer, revokedAt: r.revokedAt, reason: r.revocationReason, partnerId: r.partnerId })}\n`)
      .join(""),
  );
  return records;
}

/** A partner key and CSR made by the openssl CLI, as a partner would: returns the CSR path. */
export function opensslCsr(dir: string, name: string): string {
  const csr = join(dir, `${name}.csr`);
  spawnSync("openssl", [
    "req",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    join(dir, `${name}.key`),
    "-out",
    csr,
    "-subj",
    `/CN=${name}`,
  ]);
  return csr;
}
