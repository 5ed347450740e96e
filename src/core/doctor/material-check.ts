// Doctor check on the store's key material and derived PEM files: every certificate, key and
// OpenPGP file still holds what its name promises, and the files derived from others (the CA
// bundles, the CRL PEMs) still match their sources.
import { createPrivateKey, createPublicKey } from "node:crypto";
import { SEALED_PGP_LABEL } from "../bundle/pgp.js";
import { certOf, tokenUriOf } from "../ca/material.js";
import { caBundlePem, certChainPem, issuingChainPem } from "../ca/trust.js";
import { type CertInfo, isSignedBy, parseCertificate } from "../cert.js";
import { decodePemBlocks, encodePem } from "../pem.js";
import { storeKeys } from "../store/keys.js";
import { bytesOf, textOf } from "./blobs.js";
import { crossProblems } from "./cross-check.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem } from "./types.js";

type Kind = "certs" | "key" | "pgp-public" | "pgp-private";

/** A problem with the blob under `key`, named by its key in the message. */
const at = (ctx: DoctorContext, key: string) => ({ path: ctx.store.where(key), key });

const damaged = (ctx: DoctorContext, key: string, why: string): DoctorProblem => ({
  check: "material",
  message: `${key} is damaged: ${why}`,
  hint: "restore it from your backup",
  fixable: false,
  ...at(ctx, key),
});

/** An armored OpenPGP key as OpenPGP.js writes it: header, base64 body, footer, nothing else. */
function wrongArmor(text: string, label: "PUBLIC" | "PRIVATE"): string | undefined {
  const m = new RegExp(`^-----BEGIN PGP ${label} KEY BLOCK-----\\n(?:[A-Za-z]+: .*\\n)*\\n([A-Za-z0-9+/=\\n]+)-----END PGP ${label} KEY BLOCK-----\\n?$`).exec(
    text,
  );
  return m ? undefined : `not an armored OpenPGP ${label.toLowerCase()} key`;
}

/** Why `bytes` is not what `kind` files hold, or undefined when it is. */
function wrongContent(bytes: Buffer, kind: Kind, path: string): string | undefined {
  const text = bytes.toString("latin1");
  if (kind === "pgp-private" && text.startsWith(`-----BEGIN ${SEALED_PGP_LABEL}-----`)) {
    // The home key sealed in the CA keys' envelope (#13): one canonical PEM block.
    const [block, ...more] = decodePemBlocks(text);
    return block && !more.length && encodePem(block.label, block.der) === text ? undefined : "not a sealed OpenPGP private key";
  }
  if (kind === "pgp-public" || kind === "pgp-private") return wrongArmor(text, kind === "pgp-public" ? "PUBLIC" : "PRIVATE");
  const blocks = decodePemBlocks(text);
  // mtls writes every PEM file itself, canonically: anything else in it is damage.
  if (blocks.map((b) => encodePem(b.label, b.der)).join("") !== text) return "holds something besides its PEM blocks, or a broken one";
  if (kind === "key") {
    const ok = blocks.length === 1 && ["PRIVATE KEY", "ENCRYPTED PRIVATE KEY"].includes(blocks[0]?.label ?? "") && blocks[0]?.der[0] === 0x30;
    return ok ? undefined : "not a PKCS#8 private key";
  }
  if (blocks.length === 0 || blocks.some((b) => b.label !== "CERTIFICATE")) return "not a PEM certificate file";
  try {
    for (const b of blocks) parseCertificate(b.der, path);
  } catch {
    return "holds a certificate that does not parse";
  }
  return undefined;
}

export const materialCheck: DoctorCheckDef = {
  name: "material",
  async find(ctx) {
    return [
      ...(await contentProblems(ctx)),
      ...(await signatureProblems(ctx)),
      ...(await crossProblems(ctx)),
      ...(await derivedProblems(ctx)),
      ...(await chainFileProblems(ctx)),
      ...(await crlPemProblems(ctx)),
    ];
  },
  fix(ctx, tx) {
    const rewrite = new Map<string, string>([
      [storeKeys.caBundle, caBundlePem(ctx.ca)],
      [storeKeys.chain, issuingChainPem(ctx.ca)],
    ]);
    for (const p of ctx.problems) {
      const data = p.data ?? (p.key ? rewrite.get(p.key) : undefined);
      if (data !== undefined && p.key) tx.put(p.key, data);
      else tx.republish();
    }
  },
};

/** Every certificate, key and OpenPGP file holds what its name promises. */
async function contentProblems(ctx: DoctorContext): Promise<DoctorProblem[]> {
  const { ca } = ctx;
  const partnerKeys = (await ctx.store.list("pgp/partners/")).filter((k) => /^pgp\/partners\/[^/]+\.asc$/.test(k)).map((k) => [k, "pgp-public"] as const);
  const files: ReadonlyArray<readonly [string, Kind]> = [
    ...ca.all.map((c) => [storeKeys.caCert(c.id), "certs"] as const),
    [storeKeys.canaryCert, "certs"],
    ...(ctx.index?.records ?? []).map((r) => [storeKeys.certFile(r.serial), "certs"] as const),
    ...ca.all.map((c) => [storeKeys.caKey(c.id), "key"] as const),
    [storeKeys.canaryKey, "key"],
    // Until config.json names the home key, files there are a crashed creation's, which the
    // next creation replaces.
    ...(ctx.config.delivery
      ? ([
          [storeKeys.homePublicKey, "pgp-public"],
          [storeKeys.homePrivateKey, "pgp-private"],
        ] as const)
      : []),
    ...partnerKeys,
  ];
  const out: DoctorProblem[] = [];
  for (const [key, kind] of files) {
    // A planted link or a file mtls may not read is reported, not a reason to stop checking.
    const read = await bytesOf(ctx.store, key).then(
      (bytes) => ({ bytes }),
      (err: Error) => ({ unreadable: err.message }),
    );
    const why = "unreadable" in read ? `not readable (${read.unreadable})` : read.bytes && wrongContent(read.bytes, kind, ctx.store.where(key));
    if (why) out.push(damaged(ctx, key, why));
  }
  return out;
}

/** Derived from the CA certificates: rewritten from them when they differ. */
async function derivedProblems(ctx: DoctorContext): Promise<DoctorProblem[]> {
  const out: DoctorProblem[] = [];
  const derived: Array<[string, string]> = [
    [storeKeys.caBundle, caBundlePem(ctx.ca)],
    [storeKeys.chain, issuingChainPem(ctx.ca)],
  ];
  for (const [key, want] of derived) {
    const have = await textOf(ctx.store, key);
    // Missing is as wrong as different: gateway config and `cert show --chain` need them.
    if (have !== want)
      out.push({
        check: "material",
        message: have === undefined ? `${key} is missing` : `${key} does not match the CA certificates`,
        hint: "--fix writes it again from them",
        fixable: true,
        ...at(ctx, key),
      });
  }
  return out;
}

/** Each certificate's chain file is the certificate followed by the issuing chain. */
async function chainFileProblems(ctx: DoctorContext): Promise<DoctorProblem[]> {
  const out: DoctorProblem[] = [];
  for (const r of ctx.index?.records ?? []) {
    const [certKey, chainKey] = [storeKeys.certFile(r.serial), storeKeys.chainFile(r.serial)];
    const [cert, chain] = await Promise.all([bytesOf(ctx.store, certKey), bytesOf(ctx.store, chainKey)]);
    const want = cert && !wrongContent(cert, "certs", ctx.store.where(certKey)) ? certChainPem(cert.toString("utf8"), ctx.ca, r.issuer) : undefined;
    if (chain ? chain.toString("utf8") !== want : cert !== undefined)
      out.push({
        check: "material",
        message: chain ? `${chainKey} does not match the certificate and its issuer` : `${chainKey} is missing`,
        hint: want ? "--fix writes it again from them" : `restore ${certKey} from your backup first`,
        fixable: want !== undefined,
        ...at(ctx, chainKey),
        ...(want !== undefined ? { data: want } : {}),
      });
  }
  return out;
}

/** The CRL PEMs and bundle are the DER CRLs re-encoded: a difference means a republish. */
async function crlPemProblems(ctx: DoctorContext): Promise<DoctorProblem[]> {
  const out: DoctorProblem[] = [];
  const pems: string[] = [];
  const republish = (key: string, message: string): DoctorProblem => ({
    check: "material",
    message,
    hint: "--fix republishes the CRLs",
    fixable: true,
    ...at(ctx, key),
  });
  for (const s of ctx.history.seen.filter((x) => x.where === "store" && x.crl)) {
    const der = await bytesOf(ctx.store, storeKeys.crlDer(s.role));
    const pem = der ? encodePem("X509 CRL", der) : "";
    pems.push(pem);
    const pemKey = storeKeys.crlPem(s.role);
    if ((await textOf(ctx.store, pemKey)) !== pem) out.push(republish(pemKey, `${pemKey} does not match ${storeKeys.crlDer(s.role)}`));
  }
  const bundle = await textOf(ctx.store, storeKeys.crlBundle);
  if (pems.length && bundle !== pems.join("")) out.push(republish(storeKeys.crlBundle, `${storeKeys.crlBundle} does not match the CRLs`));
  return out;
}

/** The first certificate of a PEM file in the store; undefined when missing or unreadable (contentProblems names it). */
async function firstCertOf(ctx: DoctorContext, key: string): Promise<CertInfo | undefined> {
  const bytes = await bytesOf(ctx.store, key);
  if (!bytes) return undefined;
  try {
    return parseCertificate(decodePemBlocks(bytes.toString("latin1"))[0]?.der ?? Buffer.alloc(0), ctx.store.where(key));
  } catch {
    return undefined;
  }
}

/**
 * config.json names each canary by serial: the OCSP responder answers "revoked" for that serial
 * (the OCSP canary is on no CRL), and `status` asks the responder about it. A serial that is not
 * the certificate's would make the probes' revoked cases test another serial.
 */
function canarySerialProblems(ctx: DoctorContext, certKey: string, cert: CertInfo | undefined, field: "canary" | "ocspCanary"): DoctorProblem[] {
  const named = ctx.config[field]?.serial;
  if (!cert || named === undefined || named === cert.serial) return [];
  return [
    {
      check: "material",
      message: `${storeKeys.config} names ${field} serial ${named}, but ${certKey} holds serial ${cert.serial}`,
      hint: `restore ${storeKeys.config} or ${certKey} from your backup`,
      fixable: false,
      ...at(ctx, storeKeys.config),
    },
  ];
}

/** Certificates whose signatures do not verify, and unencrypted keys that do not match their certificate. */
async function signatureProblems(ctx: DoctorContext): Promise<DoctorProblem[]> {
  const { ca } = ctx;
  const out: DoctorProblem[] = [];
  const bad = (key: string, why: string) => out.push(damaged(ctx, key, why));
  for (const c of ca.all) {
    if (c.kind === "root" && !(await isSignedBy(c.cert, c.cert))) bad(storeKeys.caCert(c.id), "its self-signature does not verify");
    if (c.parent && !(await isSignedBy(c.cert, certOf(ca, c.parent)))) bad(storeKeys.caCert(c.id), `it is not signed by the ${c.parent} CA`);
  }
  const canaryCert = await firstCertOf(ctx, storeKeys.canaryCert);
  if (canaryCert && !(await isSignedBy(canaryCert, ca.issuer))) bad(storeKeys.canaryCert, "it is not signed by the issuing CA");
  // The probes present the canary: config.json naming one whose certificate is gone is damage.
  if (ctx.config.canary && (await bytesOf(ctx.store, storeKeys.canaryCert)) === undefined)
    out.push({ ...damaged(ctx, storeKeys.canaryCert, "it is missing"), message: `${storeKeys.canaryCert} is missing` });
  out.push(...canarySerialProblems(ctx, storeKeys.canaryCert, canaryCert, "canary"));
  const ocspCanary = ctx.config.ocspCanary ? await firstCertOf(ctx, storeKeys.ocspCanaryCert) : undefined;
  out.push(...canarySerialProblems(ctx, storeKeys.ocspCanaryCert, ocspCanary, "ocspCanary"));
  // Every key a command signs with: each CA still in service whose key is not in a token (a
  // retired CA's may be destroyed on purpose), and the canary's, which probes present.
  const pairs: Array<[string, CertInfo | undefined, boolean]> = [
    ...ca.all.map((c) => [storeKeys.caKey(c.id), c.cert, !c.retiredAt && tokenUriOf(ca.keyStore, c.id) === undefined] as [string, CertInfo, boolean]),
    [storeKeys.canaryKey, canaryCert, canaryCert !== undefined],
  ];
  for (const [key, cert, needed] of pairs) {
    const pem = cert ? (await bytesOf(ctx.store, key))?.toString("latin1") : undefined;
    if (needed && pem === undefined) out.push({ ...damaged(ctx, key, "it is missing"), message: `${key} is missing` });
    // An encrypted key can only be checked with the passphrase (every signing command does).
    if (!cert || !pem?.includes("-----BEGIN PRIVATE KEY-----")) continue;
    try {
      const spki = createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" });
      if (!spki.equals(cert.spki)) bad(key, "it does not match its certificate");
    } catch {
      bad(key, "not a readable private key");
    }
  }
  return out;
}
