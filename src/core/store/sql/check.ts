// `doctor` on a database store: besides every check it runs on the store's records (the same as
// on a directory), the database's own tables must agree with them. Certificates, revocations
// and audit rows are derived from the journal lines in the transaction that writes them, so a
// difference means someone edited the tables by hand (or a bug): reported, and with --fix the
// derived tables are rebuilt from the journals, which are the record.
import { createHash } from "node:crypto";
import type { SqlClient } from "./pg.js";

export interface DatabaseProblem {
  check: "database";
  message: string;
  hint: string;
  fixable: boolean;
  serial?: string;
}

const parse = (text: string): Record<string, unknown> | undefined => {
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
};

const problem = (message: string, serial?: string): DatabaseProblem => ({
  check: "database",
  message,
  hint: "`mtls doctor --fix` rebuilds the database's tables from the store's journals",
  fixable: true,
  ...(serial ? { serial } : {}),
});

async function lines(db: SqlClient, journal: string): Promise<Array<{ line: number; text: string }>> {
  return db.query<{ line: number; text: string }>("SELECT line::int AS line, text FROM mtls.journal_lines WHERE journal = $1 ORDER BY line", [journal]);
}

async function checkCertificates(db: SqlClient): Promise<DatabaseProblem[]> {
  const want = new Map<string, { fingerprint: string; status: string }>();
  for (const l of await lines(db, "index.jsonl")) {
    const r = parse(l.text);
    if (typeof r?.serial === "string" && typeof r.fingerprint === "string")
      want.set(r.serial, { fingerprint: r.fingerprint, status: r.status === "revoked" ? "revoked" : "valid" });
  }
  const rows = await db.query<{ serial: string; fingerprint: string; status: string; blob: boolean }>(
    "SELECT c.serial, c.fingerprint, c.status, f.path IS NOT NULL AS blob FROM mtls.certificates c LEFT JOIN mtls.files f ON f.path = 'certs/' || c.serial || '.pem'",
  );
  const out: DatabaseProblem[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    seen.add(r.serial);
    const w = want.get(r.serial);
    if (!w) out.push(problem(`certificate row ${r.serial} has no line in the index`, r.serial));
    else if (w.fingerprint !== r.fingerprint || w.status !== r.status)
      out.push(problem(`certificate row ${r.serial} says ${r.status}, the index ${w.status}`, r.serial));
    if (!r.blob)
      out.push({
        ...problem(`certificate row ${r.serial} has no certificate (certs/${r.serial}.pem)`, r.serial),
        hint: "restore the store from a backup (`mtls store migrate` of a directory copy)",
        fixable: false,
      });
  }
  for (const serial of want.keys()) if (!seen.has(serial)) out.push(problem(`index entry ${serial} has no certificate row`, serial));
  return out;
}

async function checkRevocations(db: SqlClient): Promise<DatabaseProblem[]> {
  const want = new Set<string>();
  for (const l of await lines(db, "revocations.jsonl")) {
    const r = parse(l.text);
    if (typeof r?.serial === "string" && typeof r.issuer === "string") want.add(`${r.issuer}/${r.serial}`);
  }
  const rows = await db.query<{ k: string }>("SELECT issuer || '/' || serial AS k FROM mtls.revocations");
  const have = new Set(rows.map((r) => r.k));
  const missing = [...want].filter((k) => !have.has(k));
  const extra = [...have].filter((k) => !want.has(k));
  return [
    ...missing.map((k) => problem(`revocation ${k} is in the journal but not in the revocations table`, k.split("/")[1])),
    ...extra.map((k) => problem(`revocation row ${k} is not in the journal`, k.split("/")[1])),
  ];
}

async function checkAudit(db: SqlClient): Promise<DatabaseProblem[]> {
  const rows = new Map((await db.query<{ line: number; hash: string }>("SELECT line::int AS line, hash FROM mtls.audit")).map((r) => [r.line, r.hash]));
  const out: DatabaseProblem[] = [];
  for (const l of await lines(db, "audit.log")) {
    const r = parse(l.text);
    if (!r || typeof r.seq !== "number") continue;
    const hash = createHash("sha256").update(l.text).digest("hex");
    if (rows.get(l.line) !== hash) out.push(problem(`audit line ${l.line} and its row in the audit table differ`));
    rows.delete(l.line);
  }
  for (const line of rows.keys()) out.push(problem(`audit row ${line} has no line in the audit log`));
  return out;
}

async function checkCrlNumbers(db: SqlClient): Promise<DatabaseProblem[]> {
  const [file] = await db.query<{ data: Buffer }>("SELECT data FROM mtls.files WHERE path = 'crl/state.json'");
  const state = file ? parse(file.data.toString("utf8")) : undefined;
  if (!state) return [];
  const out: DatabaseProblem[] = [];
  for (const issuer of ["root", "intermediate"]) {
    const n = (state[issuer] as { number?: unknown } | undefined)?.number;
    if (typeof n !== "number") continue;
    const [row] = await db.query<{ n: number | null }>("SELECT max(number)::int AS n FROM mtls.crl_numbers WHERE issuer = $1", [issuer]);
    if ((row?.n ?? 0) !== n) out.push(problem(`the ${issuer} CRL Number is ${n} in crl/state.json but ${row?.n ?? "none"} in the CRL number table`));
  }
  return out;
}

/** Every disagreement between the database's tables and the store's records. */
export async function checkDatabase(db: SqlClient): Promise<DatabaseProblem[]> {
  return [...(await checkCertificates(db)), ...(await checkRevocations(db)), ...(await checkAudit(db)), ...(await checkCrlNumbers(db))];
}

/**
 * Rebuilds the derived tables from the journal lines (doctor --fix). CRL numbers are only ever
 * added: the number in crl/state.json is recorded if it is higher than the last one.
 */
export async function rebuildDerived(db: SqlClient, record: (journal: string, first: number, lines: string[]) => Promise<void>): Promise<void> {
  await db.query("DELETE FROM mtls.certificates; DELETE FROM mtls.revocations; DELETE FROM mtls.audit");
  for (const journal of ["index.jsonl", "revocations.jsonl", "audit.log"]) {
    const all = await lines(db, journal);
    // Lines are numbered from 1 without gaps (saveTree writes them so).
    await record(
      journal,
      1,
      all.map((l) => l.text),
    );
  }
  const [file] = await db.query<{ data: Buffer }>("SELECT data FROM mtls.files WHERE path = 'crl/state.json'");
  const state = file ? parse(file.data.toString("utf8")) : undefined;
  for (const issuer of ["root", "intermediate"]) {
    const n = (state?.[issuer] as { number?: unknown } | undefined)?.number;
    if (typeof n === "number" && Number.isSafeInteger(n) && n > 0)
      await db.query(
        "INSERT INTO mtls.crl_numbers (issuer, number) SELECT $1, $2 WHERE $2 > (SELECT coalesce(max(number), 0) FROM mtls.crl_numbers WHERE issuer = $1)",
        [issuer, n],
      );
  }
}
