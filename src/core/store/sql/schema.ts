// The database store's schema (#16), created and upgraded by numbered migrations. Each migration
// runs once, in order, in the transaction that records it in mtls.schema_version; a database
// whose schema is newer than this release knows is refused rather than written.
import { envError, type MtlsError } from "../../errors.js";
import type { SqlClient } from "./pg.js";

interface Migration {
  version: number;
  description: string;
  sql: string;
}

/**
 * Version 1. The directory store's files, journals and directories are rows, byte for byte, so
 * that a store moves between a directory and the database without loss; the rows that carry
 * meaning also land in typed columns, where the database enforces what the directory store
 * enforces by its lock: one certificate per serial, one revocation per serial and CA, CRL numbers
 * that only grow, an audit chain without forks.
 */
const V1 = `
CREATE SCHEMA IF NOT EXISTS mtls;
CREATE TABLE mtls.store (
  id int PRIMARY KEY CHECK (id = 1),
  revision bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
-- Every file and directory of the store except the journals below: config, keys (encrypted
-- exactly as on disk), certificates, CRLs, OpenPGP keys, quarantine files.
CREATE TABLE mtls.files (
  path text PRIMARY KEY CHECK (path ~ '^[A-Za-z0-9._+@-]+(/[A-Za-z0-9._+@-]+)*$' AND path !~ '(^|/)\\.\\.?(/|$)'),
  is_dir boolean NOT NULL,
  mode int NOT NULL CHECK (mode BETWEEN 0 AND 4095),
  data bytea CHECK ((data IS NULL) = is_dir)
);
-- Lines of the append-only journals (index.jsonl, revocations.jsonl, probe-certs.jsonl,
-- audit.log), in file order. The typed tables below are derived from them in the same transaction.
CREATE TABLE mtls.journal_lines (
  journal text NOT NULL CHECK (journal IN ('index.jsonl', 'revocations.jsonl', 'probe-certs.jsonl', 'audit.log')),
  line bigint NOT NULL CHECK (line > 0),
  text text NOT NULL,
  PRIMARY KEY (journal, line)
);
CREATE TABLE mtls.journal_files (
  journal text PRIMARY KEY,
  mode int NOT NULL,
  -- A last line without its newline (a torn write in a migrated directory), kept verbatim.
  tail text NOT NULL DEFAULT ''
);
CREATE TABLE mtls.certificates (
  serial text PRIMARY KEY CHECK (serial ~ '^[0-9a-f]{1,40}$'),
  fingerprint text NOT NULL,
  partner_id text NOT NULL,
  issuer text NOT NULL,
  not_after timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('valid', 'revoked'))
);
CREATE INDEX certificates_partner ON mtls.certificates (partner_id);
CREATE TABLE mtls.revocations (
  line bigint PRIMARY KEY,
  serial text NOT NULL,
  issuer text NOT NULL,
  revoked_at timestamptz NOT NULL,
  reason text NOT NULL,
  UNIQUE (issuer, serial)
);
CREATE TABLE mtls.crl_numbers (
  issuer text NOT NULL,
  number bigint NOT NULL CHECK (number > 0),
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (issuer, number)
);
CREATE FUNCTION mtls.crl_number_grows() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.number <= (SELECT coalesce(max(number), 0) FROM mtls.crl_numbers WHERE issuer = NEW.issuer) THEN
    RAISE EXCEPTION 'CRL number % of % does not exceed the last one', NEW.number, NEW.issuer USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER crl_number_grows BEFORE INSERT ON mtls.crl_numbers FOR EACH ROW EXECUTE FUNCTION mtls.crl_number_grows();
-- The audit records (lines of audit.log that are records): two records chaining onto the same
-- predecessor would be a fork, which the unique constraint makes impossible.
CREATE TABLE mtls.audit (
  line bigint PRIMARY KEY,
  seq bigint NOT NULL,
  prev text NOT NULL,
  hash text NOT NULL,
  action text NOT NULL,
  UNIQUE (prev)
);
INSERT INTO mtls.store (id, revision, updated_at) VALUES (1, 0, now());
`;

/**
 * Version 2 (#21). The index's summary (index-summary.ts), kept for the next reader as the
 * directory store keeps index.jsonl.summary: `list` and `status` over many certificates read the
 * parts of it they use instead of the whole journal. It is stored in chunks of 1 MiB, without
 * compression, so that a reader fetches only the chunks it needs and neither side holds the whole
 * of it twice. It is keyed by the index journal's generation, which triggers raise with every
 * statement that changes the journal's lines, so no writer (nor a hand-made statement) can change
 * the journal and leave a summary that still looks current. The trigger functions run as the
 * schema's owner: a role granted the journal's tables and not the generation's still writes.
 */
const V2 = `
CREATE TABLE mtls.index_generation (
  id int PRIMARY KEY CHECK (id = 1),
  generation bigint NOT NULL
);
INSERT INTO mtls.index_generation (id, generation) VALUES (1, 0);
CREATE TABLE mtls.index_summaries (
  generation bigint PRIMARY KEY,
  size bigint NOT NULL CHECK (size >= 0),
  chunk int NOT NULL CHECK (chunk > 0)
);
CREATE TABLE mtls.index_summary_chunks (
  generation bigint NOT NULL REFERENCES mtls.index_summaries ON DELETE CASCADE,
  seq int NOT NULL CHECK (seq >= 0),
  data bytea NOT NULL,
  PRIMARY KEY (generation, seq)
);
ALTER TABLE mtls.index_summary_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE FUNCTION mtls.index_lines_changed() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM changed WHERE journal = 'index.jsonl') THEN
    UPDATE mtls.index_generation SET generation = generation + 1 WHERE id = 1;
  END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION mtls.index_lines_updated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM old_rows WHERE journal = 'index.jsonl') OR EXISTS (SELECT 1 FROM new_rows WHERE journal = 'index.jsonl') THEN
    UPDATE mtls.index_generation SET generation = generation + 1 WHERE id = 1;
  END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION mtls.index_lines_truncated() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  UPDATE mtls.index_generation SET generation = generation + 1 WHERE id = 1;
  RETURN NULL;
END $$;
CREATE TRIGGER index_lines_inserted AFTER INSERT ON mtls.journal_lines
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION mtls.index_lines_changed();
CREATE TRIGGER index_lines_updated AFTER UPDATE ON mtls.journal_lines
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION mtls.index_lines_updated();
CREATE TRIGGER index_lines_deleted AFTER DELETE ON mtls.journal_lines
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION mtls.index_lines_changed();
CREATE TRIGGER index_lines_truncated AFTER TRUNCATE ON mtls.journal_lines
  FOR EACH STATEMENT EXECUTE FUNCTION mtls.index_lines_truncated();
`;

export const MIGRATIONS: readonly Migration[] = [
  { version: 1, description: "files, journals, certificates, revocations, CRL numbers, audit", sql: V1 },
  { version: 2, description: "the index summary, keyed by the index journal's generation", sql: V2 },
];

/** The schema version this release reads and writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Serialises schema changes between processes (an arbitrary, fixed advisory-lock key). */
const SCHEMA_LOCK = 0x6d746c73_00;

export interface SchemaState {
  /** The version found before any migration ran (0: none). */
  from: number;
  to: number;
  applied: Array<{ version: number; description: string }>;
  /** Seen with the version: the CHECK on mtls.files' paths is in place (see SqlStorage.refusePlantedRows). */
  pathsChecked?: boolean;
}

/**
 * Whether the schema's CHECK on mtls.files' paths is in place and holds for every row (validated):
 * read from pg_catalog by name, so that no schema on the search path can stand in for it.
 */
export const PATHS_CHECKED =
  "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conname = 'files_path_check' AND conrelid = 'mtls.files'::regclass AND convalidated)";

/**
 * The version and whether the CHECK on paths is in place, in the one round trip every command
 * makes when the schema is there; undefined when it is not (a first use). Outside a transaction
 * only: the statement fails when the schema is missing, which would abort the transaction.
 */
async function quickState(db: SqlClient): Promise<{ version: number; pathsChecked: boolean } | undefined> {
  try {
    const [row] = await db.query<{ v: number; checked: boolean }>(
      `SELECT coalesce(max(version), 0) AS v, ${PATHS_CHECKED} AS checked FROM mtls.schema_version`,
    );
    return { version: row?.v ?? 0, pathsChecked: row?.checked === true };
  } catch (err) {
    if ((err as MtlsError).code === "ERR_STORE_NO_SCHEMA") return undefined;
    throw err;
  }
}

async function currentVersion(db: SqlClient): Promise<number> {
  // pg_class rather than to_regclass(): a name lookup may answer from a cache that an advisory
  // lock does not refresh, and miss a schema another session created meanwhile.
  const [t] = await db.query<{ e: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'mtls' AND c.relname = 'schema_version') AS e",
  );
  if (!t?.e) return 0;
  const [row] = await db.query<{ v: number }>("SELECT coalesce(max(version), 0) AS v FROM mtls.schema_version");
  return row?.v ?? 0;
}

/**
 * Brings the schema to SCHEMA_VERSION, outside any transaction of the caller's: creates it on
 * first use, applies the missing migrations in order (each run in one transaction with its
 * version row), refuses a newer one. Concurrent first uses wait on one advisory lock, and the
 * one that waited starts a fresh transaction, which sees what the first one created.
 */
export async function ensureSchema(db: SqlClient, display: string): Promise<SchemaState> {
  const quick = await quickState(db);
  const seen = quick?.version ?? (await currentVersion(db));
  if (seen > SCHEMA_VERSION) throw newerSchema(display, seen);
  if (seen === SCHEMA_VERSION) return { from: seen, to: seen, applied: [], ...(quick ? { pathsChecked: quick.pathsChecked } : {}) };
  await db.query("SELECT pg_advisory_lock($1)", [SCHEMA_LOCK]);
  try {
    await db.query("BEGIN");
    const from = await currentVersion(db);
    if (from > SCHEMA_VERSION) throw newerSchema(display, from);
    const applied: SchemaState["applied"] = [];
    if (from === 0)
      await db.query(
        "CREATE SCHEMA IF NOT EXISTS mtls; CREATE TABLE IF NOT EXISTS mtls.schema_version (version int PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
      );
    for (const m of MIGRATIONS.filter((m) => m.version > from)) {
      await db.query(m.sql);
      await db.query("INSERT INTO mtls.schema_version (version, description) VALUES ($1, $2)", [m.version, m.description]);
      applied.push({ version: m.version, description: m.description });
    }
    await db.query("COMMIT");
    return { from, to: SCHEMA_VERSION, applied };
  } catch (err) {
    await db.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    await db.query("SELECT pg_advisory_unlock($1)", [SCHEMA_LOCK]).catch(() => {});
  }
}

function newerSchema(display: string, version: number) {
  return envError(
    "ERR_STORE_VERSION",
    `the database store ${display} has schema version ${version}; this mtls knows up to ${SCHEMA_VERSION}`,
    "upgrade mtls on this machine (every machine sharing the store needs the newer release)",
  );
}
