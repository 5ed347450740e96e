// `mtls doctor`: the store checked against itself, and the safe repairs.
import { chmod, readdir, readFile, rename, rm, stat, truncate } from "node:fs/promises";
import { hostname } from "node:os";
import { join, relative } from "node:path";
import { readAuditLog, stageAudit } from "../audit/audit.js";
import { loadCaCerts, loadCaKeys, type PassphraseSource } from "../ca/material.js";
import { readCrlState, stageCrls } from "../crl/publish.js";
import { loadPublishedCrls } from "../crl/show.js";
import { pemOrDer } from "../pem.js";
import { isSignedBy, parseCertificate } from "../pki.js";
import { ensureDir, StoreWriter } from "../store/fs.js";
import { type CertRecord, readIndexSnapshot, stageIndex } from "../store/index-file.js";
import type { Layout } from "../store/layout.js";
import { withLock } from "../store/lock.js";
import { type Revocation, readRevocations, serializeRevocations } from "../store/revocations.js";
import { openStore } from "../store/store.js";
import { iso } from "../time.js";
import { identityProblems } from "./identity-check.js";

export type DoctorCheck = "lock" | "leftovers" | "journal" | "certificates" | "orphans" | "revocations" | "crl" | "modes" | "audit" | "identities";

export interface DoctorProblem {
  check: DoctorCheck;
  message: string;
  hint: string;
  fixable: boolean;
  fixed?: boolean;
}

export interface DoctorResult {
  healthy: boolean;
  problems: DoctorProblem[];
  checked: { certificates: number; revocations: number; auditRecords: number };
}

export interface DoctorParams {
  pkiDir: string;
  fix: boolean;
  /** Needed by --fix when the CRLs must be republished. */
  passphrase?: PassphraseSource;
  now: Date;
}

const LEFTOVER = /\.(tmp|bak|stale|open|init)-\d+/;

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

async function tornTail(path: string): Promise<number | undefined> {
  const buf = await readFile(path).catch(() => undefined);
  if (!buf || buf.length === 0 || buf[buf.length - 1] === 0x0a) return undefined;
  return buf.lastIndexOf(0x0a) + 1;
}

async function lockProblem(layout: Layout): Promise<DoctorProblem | undefined> {
  const text = await readFile(layout.lock, "utf8").catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const info = JSON.parse(text) as { pid: number; host: string; purpose: string; since: string };
    if (info.host !== hostname()) return undefined;
    try {
      process.kill(info.pid, 0);
      return undefined; // a command is running
    } catch {
      return {
        check: "lock",
        message: `a stale lock from pid ${info.pid} (${info.purpose}, since ${info.since}), a process that no longer runs`,
        hint: "any command takes it over safely; --fix removes it",
        fixable: true,
      };
    }
  } catch {
    return {
      check: "lock",
      message: "an unreadable lock file (a crash while taking the lock)",
      hint: "--fix removes it once it is older than 10 s",
      fixable: true,
    };
  }
}

/** Runs every check; with `fix`, repairs what is safe and checks again. */
export async function runDoctor(p: DoctorParams): Promise<DoctorResult> {
  const { layout, config } = await openStore(p.pkiDir);
  const problems: DoctorProblem[] = [];
  const stale = await lockProblem(layout);
  if (stale) problems.push(stale);
  const ca = await loadCaCerts(layout, config);

  return withLock(
    layout.lock,
    async () => {
      // Leftovers of interrupted writes.
      const files = await walk(layout.root);
      const leftovers = files.filter((f) => LEFTOVER.test(f));
      for (const f of leftovers)
        problems.push({
          check: "leftovers",
          message: `${relative(layout.root, f)} is left over from an interrupted write`,
          hint: "--fix deletes it",
          fixable: true,
        });

      // Journals with a torn last line.
      for (const j of [layout.index, layout.revocations, layout.audit]) {
        const at = await tornTail(j);
        if (at !== undefined)
          problems.push({
            check: "journal",
            message: `${relative(layout.root, j)} ends with a partial line (an append cut short by a crash)`,
            hint: "--fix trims it; the next write would too",
            fixable: true,
          });
      }

      // Index against certificate files.
      const snap = await readIndexSnapshot(layout.index);
      const journal = await readRevocations(layout.revocations);
      const indexed = new Set(snap.records.map((r) => r.serial));
      for (const r of snap.records) {
        const path = layout.certFile(r.serial);
        let problem: string | undefined;
        try {
          const cert = parseCertificate(pemOrDer(await readFile(path), ["CERTIFICATE"], path), path);
          if (cert.serial !== r.serial) problem = `holds serial ${cert.serial}`;
          else if (cert.fingerprint !== r.fingerprint) problem = "does not match the fingerprint in the index";
          else if (!(await isSignedBy(cert, r.issuer === "root" ? ca.root : ca.issuer))) problem = "is not signed by this CA";
        } catch (err) {
          problem =
            (err as NodeJS.ErrnoException).code === "ENOENT" || /no such file/.test((err as Error).message) ? "is missing" : "is not a readable certificate";
        }
        if (problem)
          problems.push({
            check: "certificates",
            message: `the certificate of index entry ${r.serial} (${r.partnerId}) ${problem}`,
            hint: "restore certs/ from your backup; revoke the serial if the certificate may be in use",
            fixable: false,
          });
      }

      // Certificates signed but never recorded: a crash between writing them and the index append.
      const revokedSerials = new Set(journal.entries.map((e) => e.serial));
      const orphans: Array<{ serial: string; path: string }> = [];
      for (const f of files) {
        const m = /certs\/([0-9a-f]+)\.pem$/.exec(f);
        if (!m || indexed.has(m[1] as string) || LEFTOVER.test(f)) continue;
        // Revoke what the file holds; its name is only where a crash left it.
        let serial = m[1] as string;
        try {
          serial = parseCertificate(pemOrDer(await readFile(f), ["CERTIFICATE"], f), f).serial;
        } catch {}
        if (indexed.has(serial)) continue;
        orphans.push({ serial, path: f });
        if (!revokedSerials.has(serial)) {
          problems.push({
            check: "orphans",
            message: `certificate ${serial} (${relative(layout.root, f)}) was signed but never recorded (a crash before the index append)`,
            hint: "--fix revokes it and moves it to certs/orphans/",
            fixable: true,
          });
        }
      }

      problems.push(...(await identityProblems(layout, snap.records)));

      // The revocation journal and the index must agree.
      const byIndex = new Map(snap.records.map((r) => [r.serial, r]));
      const missingInIndex: Revocation[] = journal.entries.filter((e) => byIndex.has(e.serial) && byIndex.get(e.serial)?.status !== "revoked");
      const missingInJournal: CertRecord[] = snap.records.filter((r) => r.status === "revoked" && !revokedSerials.has(r.serial));
      for (const e of missingInIndex)
        problems.push({
          check: "revocations",
          message: `${e.serial} (${e.partnerId}) is revoked in the journal but valid in the index (a crash between the two appends)`,
          hint: "--fix records the revocation in the index",
          fixable: true,
        });
      for (const r of missingInJournal)
        problems.push({
          check: "revocations",
          message: `${r.serial} (${r.partnerId}) is revoked in the index but not in the revocation journal`,
          hint: "--fix adds it to the journal and republishes the CRL",
          fixable: true,
        });

      // The published CRLs must list exactly the journal's revocations, and be valid.
      let crlNeedsPublish = missingInJournal.length > 0 || orphans.some((o) => !revokedSerials.has(o.serial));
      for (const l of await loadPublishedCrls(layout, config, ca)) {
        if ("missing" in l) {
          problems.push({ check: "crl", message: `no CRL published for the ${l.role} CA`, hint: "--fix publishes it", fixable: true });
          crlNeedsPublish = true;
          continue;
        }
        const want = new Set(journal.entries.filter((e) => e.issuer === l.role).map((e) => e.serial));
        const have = new Set(l.crl.entries.map((e) => e.serial));
        const absent = [...want].filter((s) => !have.has(s));
        const extra = [...have].filter((s) => !want.has(s));
        const expired = !l.crl.nextUpdate || l.crl.nextUpdate.getTime() <= p.now.getTime();
        if (absent.length || extra.length || !l.signatureValid || expired) {
          const why = [
            absent.length && `${absent.length} revocation(s) missing`,
            extra.length && `${extra.length} serial(s) not in the journal`,
            !l.signatureValid && "a bad signature",
            expired && "past its nextUpdate",
          ]
            .filter(Boolean)
            .join(", ");
          problems.push({
            check: "crl",
            message: `the ${l.role} CRL does not match the revocations: ${why}`,
            hint: "--fix republishes the CRLs",
            fixable: true,
          });
          crlNeedsPublish = true;
        }
      }

      // Private files stay private.
      for (const [path, want] of [
        [layout.privateDir, 0o700],
        ...(await readdir(layout.privateDir).catch(() => [])).map((f) => [join(layout.privateDir, f), 0o600] as [string, number]),
      ] as Array<[string, number]>) {
        const mode = (await stat(path).catch(() => undefined))?.mode;
        if (mode !== undefined && (mode & 0o077) !== 0)
          problems.push({
            check: "modes",
            message: `${relative(layout.root, path)} is mode ${(mode & 0o777).toString(8)}: other users can read it`,
            hint: `--fix sets ${want.toString(8)}`,
            fixable: true,
          });
      }

      // The audit chain.
      const auditLog = await readAuditLog(layout.audit).catch(() => undefined);
      if (auditLog && !auditLog.verification.ok) {
        problems.push({
          check: "audit",
          message: `the audit chain is broken at line ${auditLog.verification.firstBad?.line}: ${auditLog.verification.firstBad?.reason}`,
          hint: "compare audit.log with your backup; mtls does not rewrite history",
          fixable: false,
        });
      }

      if (p.fix && problems.some((x) => x.fixable)) {
        for (const f of leftovers) await rm(f, { force: true });
        for (const j of [layout.index, layout.revocations, layout.audit]) {
          const at = await tornTail(j);
          if (at !== undefined) await truncate(j, at);
        }
        for (const x of problems.filter((y) => y.check === "modes")) {
          const path = join(layout.root, x.message.split(" is mode")[0] as string);
          await chmod(path, path === layout.privateDir ? 0o700 : 0o600);
        }
        const tx = new StoreWriter();
        const added: Revocation[] = [];
        const orphanMoves: Array<[string, string]> = [];
        for (const o of orphans.filter((x) => !revokedSerials.has(x.serial))) {
          added.push({
            serial: o.serial,
            issuer: config.ca.intermediate ? "intermediate" : "root",
            revokedAt: iso(p.now),
            reason: "cessationOfOperation",
            partnerId: "(unrecorded)",
          });
          orphanMoves.push([o.path, join(layout.certsDir, "orphans", o.path.split("/").pop() as string)]);
        }
        for (const r of missingInJournal)
          added.push({
            serial: r.serial,
            issuer: r.issuer,
            revokedAt: r.revokedAt ?? iso(p.now),
            reason: r.revocationReason ?? "unspecified",
            partnerId: r.partnerId,
          });
        const indexFixes: CertRecord[] = missingInIndex.map((e) => ({
          ...(byIndex.get(e.serial) as CertRecord),
          status: "revoked" as const,
          revokedAt: e.revokedAt,
          revocationReason: e.reason,
        }));
        if (crlNeedsPublish || added.length) {
          const keys = await loadCaKeys(layout, ca, p.passphrase);
          await ensureDir(layout.crlDir);
          await stageCrls({ layout, config, ca, keys, revocations: [...journal.entries, ...added], state: await readCrlState(layout), now: p.now }, tx);
        }
        const fixedCount = problems.filter((x) => x.fixable).length;
        await stageAudit(tx, layout, [{ action: "doctor.fix", outcome: "ok", details: { problems: fixedCount, revokedOrphans: orphanMoves.length } }], p.now);
        const journalAfter = await readRevocations(layout.revocations);
        tx.append(layout.revocations, serializeRevocations(added), journalAfter.validBytes);
        if (indexFixes.length) stageIndex(tx, layout.index, await readIndexSnapshot(layout.index), indexFixes);
        await tx.commit();
        if (orphanMoves.length) await ensureDir(join(layout.certsDir, "orphans"));
        for (const [from, to] of orphanMoves) {
          await rename(from, to);
          await rename(from.replace(/\.pem$/, ".chain.pem"), to.replace(/\.pem$/, ".chain.pem")).catch(() => {});
        }
        for (const x of problems) if (x.fixable) x.fixed = true;
      }
      if (p.fix && stale) stale.fixed = true; // taking the lock above replaced it
      return {
        healthy: problems.every((x) => x.fixed),
        problems,
        checked: { certificates: snap.records.length, revocations: journal.entries.length, auditRecords: auditLog?.records.length ?? 0 },
      };
    },
    { purpose: "doctor" },
  );
}
