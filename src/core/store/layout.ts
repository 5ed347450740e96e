import { join, resolve, sep } from "node:path";

/** Every path of a PKI directory. The README's "Store layout" section documents the same tree. */
export function layoutOf(pkiDir: string) {
  const root = resolve(pkiDir);
  // The fixed paths are joined by hand: root is absolute and normalised (resolve), the parts
  // plain names, and ~45 calls of path.join were ~2 ms of every command's start (#21). A path
  // with a caller's id in it goes through join, as before.
  const base = root.endsWith(sep) ? root : root + sep;
  const at = (...parts: string[]) => base + parts.join(sep);
  return {
    root,
    config: at("config.json"),
    caDir: at("ca"),
    rootCert: at("ca", "root.pem"),
    intermediateCert: at("ca", "intermediate.pem"),
    /** Trust anchors for gateways (the root): partners send leaf + intermediate. */
    caBundle: at("ca", "ca-bundle.pem"),
    /** Issuing chain (intermediate, root) for partners and `openssl verify -untrusted`. */
    chain: at("ca", "chain.pem"),
    /** Any CA of the store by id (core/ca/registry.ts): root.pem and intermediate.pem are the first two. */
    caCert: (id: string) => join(root, "ca", `${id}.pem`),
    caKey: (id: string) => join(root, "private", `${id}.key`),
    /** Cross certificates of a root rollover (ca/cross-<subject>-by-<issuer>.pem), all of them in one file. */
    crossFile: (name: string) => join(root, "ca", name),
    crossBundle: at("ca", "cross-bundle.pem"),
    privateDir: at("private"),
    rootKey: at("private", "root.key"),
    intermediateKey: at("private", "intermediate.key"),
    certsDir: at("certs"),
    certFile: (serial: string) => join(root, "certs", `${serial}.pem`),
    chainFile: (serial: string) => join(root, "certs", `${serial}.chain.pem`),
    /** A revoked "canary" client certificate kept on every CRL, for `mtls probe`. */
    canaryCert: at("ca", "canary.pem"),
    canaryKey: at("private", "canary.key"),
    /** The delegated OCSP responder of each CA (short-lived, renewed by `mtls revocation serve`). */
    ocspCert: (issuer: string) => join(root, "ca", `ocsp-${issuer}.pem`),
    ocspKey: (issuer: string) => join(root, "private", `ocsp-${issuer}.key`),
    /** A client certificate revoked at the OCSP responder only (see core/ocsp/canary.ts). */
    ocspCanaryCert: at("ca", "ocsp-canary.pem"),
    ocspCanaryKey: at("private", "ocsp-canary.key"),
    crlDir: at("crl"),
    crlState: at("crl", "state.json"),
    crlPem: (issuer: string) => join(root, "crl", `${issuer}.crl.pem`),
    crlDer: (issuer: string) => join(root, "crl", `${issuer}.crl`),
    /** Every CA's CRL in one PEM file: what nginx ssl_crl, HAProxy crl-file and Apache load. */
    crlBundle: at("crl", "crl-bundle.pem"),
    /** OpenPGP: the home party's public signing key (give it to partners) and partners' keys. */
    pgpDir: at("pgp"),
    homePublicKey: at("pgp", "home-party.asc"),
    homePrivateKey: at("private", "home-party.pgp.asc"),
    partnerKeysDir: at("pgp", "partners"),
    partnerKey: (id: string) => join(root, "pgp", "partners", `${id}.asc`),
    index: at("index.jsonl"),
    revocations: at("revocations.jsonl"),
    /** Certificates `mtls probe` minted, until they expire (see core/probe/record.ts). */
    probeCerts: at("probe-certs.jsonl"),
    audit: at("audit.log"),
    partners: at("partners.json"),
    lock: at(".lock"),
    /** Held by `mtls notify` while it delivers, without the store lock (see Storage.lockAside). */
    notifyLock: at(".notify.lock"),
  };
}
export type Layout = ReturnType<typeof layoutOf>;
