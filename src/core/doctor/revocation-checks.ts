// Doctor checks on what the store says: certificates against the index, revocations against
// every place that records one (journal, index, signed CRLs, audit log), CRLs against the
// journal, the publish directory against the store, and the audit chain.
import { type CertInfo, isSignedBy, parseCertificate } from "../cert.js";
import { revocationOwners, unjournaled } from "../crl/history.js";
import { describePublicKey } from "../keys.js";
import { pemOrDer } from "../pem.js";
import { formatSan, parseSan } from "../sans.js";
import { type CertRecord, REVOCATION_REASONS, type RevocationReason } from "../store/index-file.js";
import { journalFile, storeKeys } from "../store/keys.js";
import { packHoldsWhole } from "../store/pack.js";
import { type Revocation, revocationOfRecord, revokedOnlyInIndex } from "../store/revocations.js";
import { iso } from "../time.js";
import { bytesOf } from "./blobs.js";
import { indexLoss, unrecordedFiles, unrecordedWords } from "./index-loss.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem } from "./types.js";

/** Where --fix moves an unrecorded certificate (and its chain file). */
const orphanKey = (name: string) => `certs/orphans/${name}`;
const journaled = (ctx: DoctorContext) => new Set(ctx.journal.entries.map((e) => e.serial));

/** A recorded SAN as the certificate's reader prints it: records before parseSan's canonical form kept an address as typed. */
function canonicalSanText(text: string): string {
  try {
    return formatSan(parseSan(text));
  } catch {
    return text;
  }
}

/** Every field an index entry may carry: one outside it is a damaged or hand-edited name. */
const RECORD_FIELDS = new Set([
  "serial",
  "partnerId",
  "subject",
  "commonNames",
  "sans",
  "keyType",
  "notBefore",
  "notAfter",
  "issuedAt",
  "fingerprint",
  "source",
  "issuer",
  "certPath",
  "status",
  "kind",
  "serverCertPath",
  "serverKeyPath",
  "revokedAt",
  "revocationReason",
  "supersedes",
  "overlapUntil",
]);

/**
 * Which of the facts an index entry copies from its certificate or from the store (and that
 * list, status, gateway config and the CRLs act on) no longer agree with it, if any: an entry
 * edited or damaged in place can still be well-formed.
 */
function recordDiffers(ctx: DoctorContext, r: CertRecord, cert: CertInfo): string | undefined {
  const unknown = Object.keys(r).find((k) => !RECORD_FIELDS.has(k));
  if (unknown !== undefined) return `unknown field ${JSON.stringify(unknown)}`;
  if (r.notAfter !== iso(cert.notAfter)) return "notAfter differs";
  if (r.notBefore !== iso(cert.notBefore)) return "notBefore differs";
  if (r.subject !== cert.subject) return "subject differs";
  if (r.commonNames !== undefined && r.commonNames.join("\n") !== cert.commonNames.join("\n")) return "commonNames differs";
  if (r.sans.map(canonicalSanText).join("\n") !== cert.sans.map(formatSan).join("\n")) return "SANs differ";
  if (r.keyType !== describePublicKey(cert.spki).label) return "keyType differs";
  if (r.certPath !== storeKeys.certFile(r.serial)) return "certPath differs";
  if (r.source !== "csr" && r.source !== "generated") return `source ${JSON.stringify(r.source)} is neither "csr" nor "generated"`;
  if (!ctx.ca.all.some((c) => c.id === r.issuer)) return `issuer ${JSON.stringify(r.issuer)} names no CA of this store`;
  const server = r.kind === "server";
  if (r.kind !== undefined && r.kind !== "client" && !server) return `kind ${JSON.stringify(r.kind)} is neither "client" nor "server"`;
  if (server !== r.partnerId.startsWith("server:")) return "partnerId differs from its kind";
  if (!server && ctx.partners && !Object.hasOwn(ctx.partners.partners, r.partnerId)) return "partnerId names no partner in partners.json";
  return undefined;
}

export const certificatesCheck: DoctorCheckDef = {
  name: "certificates",
  async find(ctx) {
    const out: DoctorProblem[] = [];
    for (const r of ctx.index?.records ?? []) {
      const key = storeKeys.certFile(r.serial);
      let problem: string | undefined;
      let hint = "restore certs/ from your backup; revoke the serial if the certificate may be in use";
      try {
        const bytes = await bytesOf(ctx.store, key);
        const cert = bytes && parseCertificate(pemOrDer(bytes, ["CERTIFICATE"], ctx.store.where(key)), ctx.store.where(key));
        if (!cert) problem = "is missing";
        else if (cert.serial !== r.serial) problem = `holds serial ${cert.serial}`;
        else if (cert.fingerprint !== r.fingerprint) problem = `does not match the fingerprint in ${journalFile.index}`;
        else {
          const differs = recordDiffers(ctx, r, cert);
          if (differs) {
            problem = `does not match its entry in ${journalFile.index} (${differs}): the entry was edited or damaged`;
            hint = `restore ${journalFile.index} from your backup: the certificate is what was signed`;
          } else if (!(await isSignedBy(cert, ctx.ca.all.find((c) => c.id === r.issuer)?.cert as CertInfo))) problem = "is not signed by this CA";
        }
      } catch {
        problem = "is not a readable certificate";
        // A batch's file cut short by a crash after its commit: the packs check restores it.
        if (await packHoldsWhole(ctx.store, key)) problem = undefined;
      }
      if (problem)
        out.push({
          check: "certificates",
          message: `${key}, the certificate of index entry ${r.serial} (${r.partnerId}), ${problem}`,
          hint,
          fixable: false,
          serial: r.serial,
          path: ctx.store.where(key),
          key,
        });
    }
    return out;
  },
};

/** Certificates signed but never recorded: a crash between writing them and the index append. */
export const orphansCheck: DoctorCheckDef = {
  name: "orphans",
  async find(ctx) {
    if (!ctx.index) return []; // without a readable index every certificate would look unrecorded
    const revoked = journaled(ctx);
    const loss = await indexLoss(ctx);
    const out: DoctorProblem[] = [];
    // Revoke what a file holds; its name is only where a crash left it.
    for (const { key, name, serial, bytes } of await unrecordedFiles(ctx)) {
      const at = { serial, path: ctx.store.where(key), key };
      if (revoked.has(serial)) {
        // Revoked and already copied aside, but still here: a move that a crash cut short.
        const copy = await bytesOf(ctx.store, orphanKey(`${name}.pem`));
        if (bytes && copy?.equals(bytes))
          out.push({
            check: "orphans",
            message: `${key} was moved to certs/orphans/ but is still here`,
            hint: "--fix finishes the move",
            fixable: true,
            ...at,
          });
        continue;
      }
      out.push({
        check: "orphans",
        ...unrecordedWords(ctx, serial, key, loss, "--fix revokes it and moves it to certs/orphans/"),
        ...at,
      });
    }
    return out;
  },
  fix(ctx, tx) {
    const revoked = journaled(ctx);
    for (const p of ctx.problems) {
      if (!p.serial || !p.key || !p.fixable) continue;
      if (!revoked.has(p.serial))
        tx.revoke({
          serial: p.serial,
          issuer: ctx.ca.issuerRole,
          revokedAt: iso(ctx.now),
          reason: "cessationOfOperation",
          partnerId: "(unrecorded)",
        });
      tx.move(p.key, orphanKey(p.key.slice("certs/".length)));
    }
  },
};

/** cert.revoke records of the audit log, as journal entries. */
function auditedRevocations(ctx: DoctorContext): Revocation[] {
  const byIndex = new Map((ctx.index?.records ?? []).map((r) => [r.serial, r]));
  return ctx.audit.records
    .filter((r) => r.action === "cert.revoke" && typeof r.serial === "string" && /^[0-9a-f]{1,40}$/.test(r.serial))
    .map((r) => {
      const reason = String(r.details?.reason ?? "unspecified");
      return {
        serial: r.serial as string,
        issuer: byIndex.get(r.serial as string)?.issuer ?? ctx.ca.issuerRole,
        revokedAt: r.time,
        reason: (REVOCATION_REASONS as readonly string[]).includes(reason) ? (reason as RevocationReason) : "unspecified",
        partnerId: r.partner ?? "(unrecorded)",
      };
    });
}

/**
 * A revocation names whose certificate it revoked (`crl show` and the OCSP log print it): the
 * index's partner for a serial it holds, "(canary)" for the canary. "(unrecorded)" is what
 * doctor --fix writes when only a CRL or an audit record without a partner remembers a serial.
 */
function ownerProblems(ctx: DoctorContext, byIndex: Map<string, CertRecord>): DoctorProblem[] {
  const out: DoctorProblem[] = [];
  for (const e of ctx.journal.entries) {
    const owner = e.serial === ctx.config.canary?.serial ? "(canary)" : byIndex.get(e.serial)?.partnerId;
    if (owner === undefined || e.partnerId === owner || e.partnerId === "(unrecorded)") continue;
    out.push({
      check: "revocations",
      message: `the revocation of ${e.serial} in ${journalFile.revocations} names ${JSON.stringify(e.partnerId)}, but the certificate is ${owner === "(canary)" ? "the canary" : `${JSON.stringify(owner)}'s in ${journalFile.index}`}`,
      hint: `restore ${journalFile.revocations} from your backup`,
      fixable: false,
      serial: e.serial,
    });
  }
  return out;
}

/**
 * Revocation is monotonic: whatever a signed CRL (store or publish directory), the audit log or
 * the index records as revoked must be in the journal, and the journal's revocations in the index.
 */
export const revocationsCheck: DoctorCheckDef = {
  name: "revocations",
  async find(ctx) {
    const out: DoctorProblem[] = [];
    const have = journaled(ctx);
    const owners = revocationOwners(ctx.config, ctx.index?.records);
    const fromCrl = await unjournaled(ctx.history, ctx.journal.entries, owners);
    for (const e of fromCrl)
      out.push({
        check: "revocations",
        message: `${e.serial} (${e.partnerId}) is on a published CRL but not in the revocation journal (a crash before the journal append, or a damaged journal)`,
        hint: "--fix puts it back in the journal; it stays on every CRL",
        fixable: true,
        serial: e.serial,
      });
    const seen = new Set([...have, ...fromCrl.map((e) => e.serial)]);
    for (const e of auditedRevocations(ctx)) {
      if (seen.has(e.serial)) continue;
      seen.add(e.serial);
      out.push({
        check: "revocations",
        message: `${e.serial} (${e.partnerId}) is revoked in the audit log but not in the revocation journal`,
        hint: "--fix puts it back in the journal and on the CRL",
        fixable: true,
        serial: e.serial,
      });
    }
    for (const r of revokedOnlyInIndex(ctx.index?.records ?? [], seen))
      out.push({
        check: "revocations",
        message: `${r.serial} (${r.partnerId}) is revoked in the index but not in the revocation journal`,
        hint: "--fix adds it to the journal and republishes the CRL",
        fixable: true,
        serial: r.serial,
      });
    const byIndex = new Map((ctx.index?.records ?? []).map((r) => [r.serial, r]));
    out.push(...ownerProblems(ctx, byIndex));
    for (const e of ctx.journal.entries) {
      const r = byIndex.get(e.serial);
      if (r && r.status !== "revoked")
        out.push({
          check: "revocations",
          message: `${e.serial} (${e.partnerId}) is revoked in the journal but valid in the index (a crash between the two appends)`,
          hint: "--fix records the revocation in the index",
          fixable: true,
          serial: e.serial,
        });
    }
    return out;
  },
  async fix(ctx, tx) {
    const want = new Set(ctx.problems.map((p) => p.serial));
    const have = journaled(ctx);
    const owners = revocationOwners(ctx.config, ctx.index?.records);
    const fromIndex = revokedOnlyInIndex(ctx.index?.records ?? [], have).map((r) => revocationOfRecord(r, iso(ctx.now)));
    const added = new Set<string>();
    for (const e of [...(await unjournaled(ctx.history, ctx.journal.entries, owners)), ...auditedRevocations(ctx), ...fromIndex]) {
      if (!want.has(e.serial) || have.has(e.serial) || added.has(e.serial)) continue;
      added.add(e.serial);
      tx.revoke(e);
    }
    const byIndex = new Map((ctx.index?.records ?? []).map((r) => [r.serial, r]));
    for (const e of [...ctx.journal.entries, ...tx.revoking]) {
      const r = byIndex.get(e.serial);
      if (r && r.status !== "revoked" && want.has(e.serial)) tx.appendIndex({ ...r, status: "revoked", revokedAt: e.revokedAt, revocationReason: e.reason });
    }
    if (tx.revoking.length) tx.republish();
  },
};

/** The store's CRLs list exactly the journal's revocations, are signed by the CA, and current. */
export const crlCheck: DoctorCheckDef = {
  name: "crl",
  find(ctx) {
    const out: DoctorProblem[] = [];
    for (const s of ctx.history.seen.filter((x) => x.where === "store")) {
      const why: string[] = [];
      if (!s.crl) why.push(s.damaged ?? "missing");
      else {
        const have = new Set(s.serials);
        const absent = ctx.journal.entries.filter((e) => e.issuer === s.role && !have.has(e.serial)).length;
        if (absent) why.push(`${absent} revocation(s) missing`);
        if (!s.signatureValid) why.push("a bad signature");
        if (!s.crl.nextUpdate || s.crl.nextUpdate.getTime() <= ctx.now.getTime()) why.push("past its nextUpdate");
      }
      if (why.length)
        out.push({
          check: "crl",
          message: `the ${s.role} CRL (${storeKeys.crlDer(s.role)}): ${why.join(", ")}`,
          hint: "--fix republishes the CRLs",
          fixable: true,
          path: ctx.store.where(storeKeys.crlDer(s.role)),
          key: storeKeys.crlDer(s.role),
        });
    }
    return out;
  },
  fix(_ctx, tx) {
    tx.republish();
  },
};

/** The publish directory serves the store's newest CRLs (gateways load them from there). */
export const publishDirCheck: DoctorCheckDef = {
  name: "publish",
  async find(ctx) {
    const dir = ctx.config.crl.publishDir;
    if (!dir) return [];
    return (await ctx.reads.publishDirLag(dir, ctx.history)).map((l) => ({
      check: "publish",
      message: `${l.path} in the publish directory is ${l.why}`,
      hint: "--fix republishes and copies the CRLs there",
      fixable: true,
      path: l.path,
    }));
  },
  fix(_ctx, tx) {
    tx.republish();
  },
};

export const auditCheck: DoctorCheckDef = {
  name: "audit",
  find(ctx) {
    const out: DoctorProblem[] = [];
    const tail = ctx.audit.damagedTail;
    const bad = ctx.audit.verification.firstBad;
    const at = { path: ctx.store.where(journalFile.audit), key: journalFile.audit };
    if (tail)
      out.push({
        check: "audit",
        message: `${at.path} lines ${tail.fromLine}-${tail.toLine} are not audit records (a torn or foreign write)`,
        hint: "--fix moves them to audit.log.quarantine-* and continues the chain with a record saying so",
        fixable: true,
        ...at,
        line: tail.fromLine,
      });
    if (bad && (!tail || bad.line < tail.fromLine))
      out.push({
        check: "audit",
        message: `${journalFile.audit}: the audit chain is broken at line ${bad.line}: ${bad.reason}`,
        hint: "compare audit.log with your backup; mtls does not rewrite history",
        fixable: false,
        ...at,
        line: bad.line,
      });
    return out;
  },
  // The doctor.fix record itself moves a damaged tail aside (see stageAudit): nothing to plan.
  fix() {},
};
