import { envError } from "../errors.js";
import type { KeyType } from "../key-types.js";
import { configProblem } from "./config-check.js";
import { readText } from "./fs.js";
import { layoutOf } from "./layout.js";
import { fileInPathOf } from "./store-file.js";

/** The store format this release reads and writes. Bump it (and add a migration) on any change. */
export const FORMAT_VERSION = 1;
/**
 * The format of a store that went through a CA rollover: a CA registry (`cas`) and CA ids
 * beyond "root" and "intermediate" in its records, which an older mtls would misread as damage.
 * The rollover that adds the registry writes it (the migration from 1 is exactly that addition);
 * every other store stays at FORMAT_VERSION.
 */
export const ROLLOVER_FORMAT_VERSION = 2;
/**
 * The format of a directory store holding certificates only in packs (store/pack.ts, #21): an
 * mtls that knows no packs would find those certificates missing. The first batch that writes
 * such a pack raises it (no migration: older files stay readable as they are).
 */
export const PACK_FORMAT_VERSION = 3;
/**
 * The format of a store whose config.json names a token key for a CA beyond "root" and
 * "intermediate" (one a rollover made): an mtls that keeps only those two in a token would take
 * it for damage. The step that records such a key raises it (no migration).
 */
export const TOKEN_KEYS_FORMAT_VERSION = 4;
/** The newest format this release reads. */
const READABLE_FORMAT_VERSION = TOKEN_KEYS_FORMAT_VERSION;

/** config.json's format once `keyStore` is its key store: raised to TOKEN_KEYS_FORMAT_VERSION for a rollover CA's token key. */
export function keyStoreFormat(formatVersion: number, keyStore: Record<string, string> | undefined): number {
  const beyondFirst = Object.keys(keyStore ?? {}).some((id) => id !== "root" && id !== "intermediate");
  return beyondFirst ? Math.max(formatVersion, TOKEN_KEYS_FORMAT_VERSION) : formatVersion;
}

/** One CA of the store (see core/ca/registry.ts). */
export interface CaRecord {
  id: string;
  kind: "root" | "intermediate";
  /** The root that signed an intermediate. */
  parent?: string;
  createdAt: string;
  /** Set when its hierarchy left the trust bundle (`ca rollover root finish`): no more CRLs. */
  retiredAt?: string;
}

/** A cross certificate: `subject`'s name and key, signed by the root `issuer` (ca/<file>). */
export interface CrossRecord {
  subject: string;
  issuer: string;
  serial: string;
  file: string;
}

export interface CaRegistry {
  /** Every CA, oldest first. */
  list: CaRecord[];
  /** The CA that signs new certificates. */
  issuing: string;
  /** The roots in ca/ca-bundle.pem, the gateways' trust anchors. */
  trusted: string[];
  crosses?: CrossRecord[];
  /** A root rollover between `ca rollover root start` and `finish`. */
  rootRollover?: { from: string; to: string; startedAt: string };
  /** When each rollover step happened, for `ca rollover status`. */
  history?: Array<{ step: string; at: string; ca: string }>;
}

export interface StoreConfig {
  formatVersion: number;
  createdAt: string;
  ca: {
    name: string;
    org?: string;
    keyType: KeyType;
    /** False for a single-tier CA (`--no-intermediate`): the root signs partner certs. */
    intermediate: boolean;
    /** Written as the CRL Distribution Point of every certificate issued. */
    crlUrl?: string;
    /** Written as the OCSP responder (Authority Information Access) of every certificate issued. */
    ocspUrl?: string;
    /**
     * CA keys kept in a PKCS#11 token, by CA id ("root", "intermediate", after a rollover
     * "intermediate-2" …): the key's RFC 7512 URI (never a PIN). A CA without an entry keeps its
     * key in private/<id>.key.
     */
    keyStore?: Record<string, string>;
  };
  policy: {
    /** Partner certificate validity when --days is not given. */
    defaultDays: number;
    /** The longest validity `partner issue` accepts. */
    maxDays: number;
    /** Certificates expiring within this many days are "expiring". */
    warnDays: number;
    /** `partner rotate`: how long the old certificate stays valid next to its successor (default 14). */
    overlapDays?: number;
    /** `mtls notify`: days before expiry at which reminders go out (default 30, 14, 7, 1). */
    notifyDays?: number[];
    /** `mtls notify`: operators who receive a copy of every reminder and notice. */
    notifyOperators?: string[];
  };
  crl: {
    /** nextUpdate - thisUpdate of published CRLs, in days. */
    validityDays: number;
    /** Another directory that receives a copy of every published CRL (a web root, a gateway's). */
    publishDir?: string;
  };
  /** The home party's OpenPGP signing key for delivery bundles (created on first use). */
  delivery?: { signingKeyFingerprint: string; userId: string };
  /** The revoked canary certificate (see Layout.canaryCert). */
  canary?: { serial: string; revokedAt: string };
  /** The OCSP-only canary (revoked at the responder, on no CRL), created by `revocation serve`. */
  ocspCanary?: { serial: string; revokedAt: string };
  /** The CAs, once a rollover happened (format 2); absent: the hierarchy `ca init` made. */
  cas?: CaRegistry;
}

export async function readConfig(pkiDir: string): Promise<StoreConfig> {
  const path = layoutOf(pkiDir).config;
  let text: string;
  try {
    text = await readText(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const root = layoutOf(pkiDir).root;
    if (code === "ERR_NOT_FOUND") {
      throw envError("ERR_NO_PKI", `no PKI found at ${root}`, "run `mtls ca init` first, or point --pki (or MTLS_PKI) at your PKI directory");
    }
    if (code === "ERR_NOT_DIRECTORY") {
      const file = fileInPathOf(root) ?? root;
      throw envError(
        "ERR_NO_PKI",
        `no PKI found at ${root}: ${file === root ? "it" : file} is not a directory`,
        "point --pki (or MTLS_PKI) at your PKI directory",
        err,
      );
    }
    throw err;
  }
  return parseConfig(text, path);
}

/** config.json's text, checked; `path` names it in errors. */
export function parseConfig(text: string, path: string): StoreConfig {
  let config: StoreConfig;
  try {
    config = JSON.parse(text) as StoreConfig;
  } catch (err) {
    // JSON.parse's own text quotes the file's bytes back, which says nothing an operator can act on.
    throw envError("ERR_STORE_CORRUPT", `${path} is damaged: it is not valid JSON`, "restore it from your backup", err);
  }
  if (typeof (config as Partial<StoreConfig> | null)?.formatVersion !== "number")
    throw envError("ERR_STORE_CORRUPT", `${path} is not an mtls configuration`, "restore it from your backup");
  if (config.formatVersion > READABLE_FORMAT_VERSION) {
    throw envError("ERR_STORE_VERSION", `${path} has format ${config.formatVersion}; this mtls reads up to ${READABLE_FORMAT_VERSION}`, "upgrade mtls");
  }
  const bad = configProblem(config);
  if (bad) throw envError("ERR_STORE_CORRUPT", `${path} is damaged: ${bad}`, "restore it from your backup");
  return config;
}

export const serializeConfig = (c: StoreConfig): string => `${JSON.stringify(c, null, 2)}\n`;
