import { join, resolve } from "node:path";

/** Every path of a PKI directory. The README's "Store layout" section documents the same tree. */
export function layoutOf(pkiDir: string) {
  const root = resolve(pkiDir);
  return {
    root,
    config: join(root, "config.json"),
    caDir: join(root, "ca"),
    rootCert: join(root, "ca", "root.pem"),
    intermediateCert: join(root, "ca", "intermediate.pem"),
    /** Trust anchors for gateways (the root): partners send leaf + intermediate. */
    caBundle: join(root, "ca", "ca-bundle.pem"),
    /** Issuing chain (intermediate, root) for partners and `openssl verify -untrusted`. */
    chain: join(root, "ca", "chain.pem"),
    /** Any CA of the store by id (core/ca/registry.ts): root.pem and intermediate.pem are the first two. */
    caCert: (id: string) => join(root, "ca", `${id}.pem`),
    caKey: (id: string) => join(root, "private", `${id}.key`),
    /** Cross certificates of a root rollover (ca/cross-<subject>-by-<issuer>.pem), all of them in one file. */
    crossFile: (name: string) => join(root, "ca", name),
    crossBundle: join(root, "ca", "cross-bundle.pem"),
    privateDir: join(root, "private"),
    rootKey: join(root, "private", "root.key"),
    intermediateKey: join(root, "private", "intermediate.key"),
    certsDir: join(root, "certs"),
    certFile: (serial: string) => join(root, "certs", `${serial}.pem`),
    chainFile: (serial: string) => join(root, "certs", `${serial}.chain.pem`),
    /** A revoked "canary" client certificate kept on every CRL, for `mtls probe`. */
    canaryCert: join(root, "ca", "canary.pem"),
    canaryKey: join(root, "private", "canary.key"),
    /** The delegated OCSP responder of each CA (short-lived, renewed by `mtls revocation serve`). */
    ocspCert: (issuer: string) => join(root, "ca", `ocsp-${issuer}.pem`),
    ocspKey: (issuer: string) => join(root, "private", `ocsp-${issuer}.key`),
    /** A client certificate revoked at the OCSP responder only (see core/ocsp/canary.ts). */
    ocspCanaryCert: join(root, "ca", "ocsp-canary.pem"),
    ocspCanaryKey: join(root, "private", "ocsp-canary.key"),
    crlDir: join(root, "crl"),
    crlState: join(root, "crl", "state.json"),
    crlPem: (issuer: string) => join(root, "crl", `${issuer}.crl.pem`),
    crlDer: (issuer: string) => join(root, "crl", `${issuer}.crl`),
    /** Every CA's CRL in one PEM file: what nginx ssl_crl, HAProxy crl-file and Apache load. */
    crlBundle: join(root, "crl", "crl-bundle.pem"),
    /** OpenPGP: the home party's public signing key (give it to partners) and partners' keys. */
    pgpDir: join(root, "pgp"),
    homePublicKey: join(root, "pgp", "home-party.asc"),
    homePrivateKey: join(root, "private", "home-party.pgp.asc"),
    partnerKeysDir: join(root, "pgp", "partners"),
    partnerKey: (id: string) => join(root, "pgp", "partners", `${id}.asc`),
    index: join(root, "index.jsonl"),
    revocations: join(root, "revocations.jsonl"),
    /** Certificates `mtls probe` minted, until they expire (see core/probe/record.ts). */
    probeCerts: join(root, "probe-certs.jsonl"),
    audit: join(root, "audit.log"),
    partners: join(root, "partners.json"),
    lock: join(root, ".lock"),
  };
}
export type Layout = ReturnType<typeof layoutOf>;
