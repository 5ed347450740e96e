import { join } from "node:path";
import { openssl } from "./run.js";

export interface CsrOptions {
  key?: "ec" | "ec-p384" | "rsa2048" | "rsa2560" | "rsa1024" | "ec-secp256k1";
  subj?: string;
  addext?: string[];
  /** Further `openssl req` flags, e.g. -multivalue-rdn or -utf8. */
  extra?: string[];
}

const NEWKEY: Record<NonNullable<CsrOptions["key"]>, string[]> = {
  ec: ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
  "ec-p384": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1"],
  "ec-secp256k1": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
  rsa2048: ["-newkey", "rsa:2048"],
  rsa2560: ["-newkey", "rsa:2560"],
  rsa1024: ["-newkey", "rsa:1024"],
};

/** Makes a key and CSR with the openssl CLI, as a partner would. Returns their paths. */
export async function makeCsr(dir: string, name: string, o: CsrOptions = {}): Promise<{ csr: string; key: string }> {
  const csr = join(dir, `${name}.csr`);
  const key = join(dir, `${name}.key`);
  const args = ["req", "-new", ...NEWKEY[o.key ?? "ec"], "-nodes", "-keyout", key, "-out", csr, "-subj", o.subj ?? `/O=Partner/CN=${name}.partner.example`];
  for (const e of o.addext ?? []) args.push("-addext", e);
  args.push(...(o.extra ?? []));
  const r = await openssl(args);
  if (r.exitCode !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { csr, key };
}
