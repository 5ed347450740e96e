// The names of everything the store holds, as storage keys: "/"-separated, relative, stable.
// A directory store maps a key to the file of that name under the PKI directory (the README's
// "Store layout"); a database store uses it as a primary key. Nothing here is a path.
/** A CA id: "root", "intermediate", after a rollover "intermediate-2", "root-2" … (ca/registry.ts). */
export type Issuer = string;

export const storeKeys = {
  config: "config.json",
  rootCert: "ca/root.pem",
  intermediateCert: "ca/intermediate.pem",
  caBundle: "ca/ca-bundle.pem",
  chain: "ca/chain.pem",
  rootKey: "private/root.key",
  intermediateKey: "private/intermediate.key",
  certFile: (serial: string) => `certs/${serial}.pem`,
  chainFile: (serial: string) => `certs/${serial}.chain.pem`,
  /** Any CA by id: root.pem and intermediate.pem are the first two (#18). */
  caCert: (id: Issuer) => `ca/${id}.pem`,
  caKey: (id: Issuer) => `private/${id}.key`,
  crossFile: (name: string) => `ca/${name}`,
  crossBundle: "ca/cross-bundle.pem",
  canaryCert: "ca/canary.pem",
  canaryKey: "private/canary.key",
  ocspCert: (issuer: Issuer) => `ca/ocsp-${issuer}.pem`,
  ocspKey: (issuer: Issuer) => `private/ocsp-${issuer}.key`,
  ocspCanaryCert: "ca/ocsp-canary.pem",
  ocspCanaryKey: "private/ocsp-canary.key",
  crlState: "crl/state.json",
  crlPem: (issuer: Issuer) => `crl/${issuer}.crl.pem`,
  crlDer: (issuer: Issuer) => `crl/${issuer}.crl`,
  crlBundle: "crl/crl-bundle.pem",
  homePublicKey: "pgp/home-party.asc",
  homePrivateKey: "private/home-party.pgp.asc",
  partnerKey: (id: string) => `pgp/partners/${id}.asc`,
  partners: "partners.json",
} as const;

/** The append-only journals: one record per line. */
export const JOURNALS = ["index", "revocations", "probe-certs", "audit"] as const;
export type JournalName = (typeof JOURNALS)[number];

/** The key of each journal in a directory store (its file name). */
export const journalFile: Record<JournalName, string> = {
  index: "index.jsonl",
  revocations: "revocations.jsonl",
  "probe-certs": "probe-certs.jsonl",
  audit: "audit.log",
};

const KEY = /^(?:[A-Za-z0-9_][A-Za-z0-9._-]*\/)*[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** True for a well-formed key: relative, no "..", no empty or hidden segments. */
export const isStoreKey = (key: string): boolean => KEY.test(key) && !key.split("/").includes("..");
