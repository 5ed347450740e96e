// One CA per test file, copied per test case: making a CA and issuing takes seconds, copying a
// directory milliseconds. The CA's keys are unencrypted so the many commands a crash or garbage
// test runs do not each pay the passphrase KDF.
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { parseCrl } from "../../src/core/crl/encode.js";
import { makeCsr } from "./csr.js";
import { genKey, gpgHome, haveGpg } from "./gpg.js";
import { json, mtls, tempDir } from "./run.js";

export interface Fixture {
  /** The directory holding pki/, pub/ (the CRL publish directory), CSRs and keys. */
  dir: string;
  /** Serials: alpha and beta valid, gamma revoked. */
  serials: { alpha: string; beta: string; gamma: string };
  /** A partner OpenPGP public key file, when gpg is installed. */
  pgpKey?: string;
}

/** Registers cleanups with the file's top-level `after` hook (see sharedFixture). */
interface Owner {
  after: (fn: () => Promise<void>) => void;
}

/**
 * The file's fixture, built on first use and removed when the file's tests are done. Call once
 * at module level: `const fixture = sharedFixture(after);`.
 */
export function sharedFixture(after: (fn: () => Promise<void>) => void): () => Promise<Fixture> {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups) await c();
  });
  let built: Promise<Fixture> | undefined;
  return () => {
    built ??= buildFixture({ after: (fn) => cleanups.push(fn) });
    return built;
  };
}

async function buildFixture(t: Owner): Promise<Fixture> {
  const dir = await tempDir(t as TestContext, "mtls-fixture-");
  const init = await mtls(["ca", "init", "--name", "Fixture", "--insecure-no-passphrase", "--crl-publish-dir", "pub", "--json"], { cwd: dir });
  if (init.exitCode !== 0) throw new Error(`ca init: ${init.stdout}${init.stderr}`);
  const issue = async (id: string) => {
    await makeCsr(dir, id);
    const r = await mtls(["partner", "issue", id, "--csr", `${id}.csr`, "--json"], { cwd: dir });
    if (r.exitCode !== 0) throw new Error(`issue ${id}: ${r.stdout}${r.stderr}`);
    return json(r).result.serial as string;
  };
  const serials = { alpha: await issue("alpha"), beta: await issue("beta"), gamma: await issue("gamma") };
  await makeCsr(dir, "delta"); // for onboarding a new partner: its own identity
  const rev = await mtls(["revoke", serials.gamma, "--yes", "--json"], { cwd: dir });
  if (rev.exitCode !== 0) throw new Error(`revoke: ${rev.stdout}${rev.stderr}`);
  let pgpKey: string | undefined;
  if (haveGpg()) {
    const g = await gpgHome(t as TestContext);
    const key = await genKey(g, "cv25519", { email: "pki@delta.example" });
    pgpKey = join(dir, "delta.asc");
    await writeFile(pgpKey, key.publicArmored);
  }
  return { dir, serials, ...(pgpKey ? { pgpKey } : {}) };
}

/** A private copy of the fixture, its config pointing at the copy's own publish directory. */
export async function cloneFixture(t: TestContext, f: Fixture): Promise<string> {
  const dir = await tempDir(t, "mtls-case-");
  await cp(f.dir, dir, { recursive: true });
  const configPath = join(dir, "pki/config.json");
  const config = JSON.parse(await readFile(configPath, "utf8"));
  config.crl.publishDir = join(dir, "pub");
  await writeFile(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return dir;
}

/** Number and serials of a DER CRL file, or undefined when it is missing or unreadable. */
export async function readCrl(path: string): Promise<{ number: number; serials: Set<string> } | undefined> {
  try {
    const crl = parseCrl(await readFile(path));
    return { number: Number(crl.number), serials: new Set(crl.entries.map((e) => e.serial)) };
  } catch {
    return undefined;
  }
}

/** Serials of the revocation journal's readable lines. */
export async function journalSerials(dir: string): Promise<Set<string>> {
  const text = await readFile(join(dir, "pki/revocations.jsonl"), "utf8").catch(() => "");
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    try {
      out.add(JSON.parse(line).serial);
    } catch {}
  }
  return out;
}

/** Serials the audit log records as revoked (readable lines only). */
export async function auditRevoked(dir: string): Promise<Set<string>> {
  const text = await readFile(join(dir, "pki/audit.log"), "utf8").catch(() => "");
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    try {
      const r = JSON.parse(line);
      if (r.action === "cert.revoke" && typeof r.serial === "string") out.add(r.serial);
    } catch {}
  }
  return out;
}

/** Every file under the PKI directory, relative. */
export async function storeFiles(dir: string): Promise<string[]> {
  return (await readdir(join(dir, "pki"), { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
