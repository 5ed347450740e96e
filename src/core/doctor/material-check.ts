// Doctor check on the store's key material and derived PEM files: every certificate, key and
// OpenPGP file still holds what its name promises, and the files derived from others (the CA
// bundles, the CRL PEMs) still match their sources.
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { SEALED_PGP_LABEL } from "../bundle/pgp.js";
import { certOf } from "../ca/material.js";
import { caBundlePem, certChainPem, issuingChainPem } from "../ca/trust.js";
import { type CertInfo, isSignedBy, parseCertificate } from "../cert.js";
import { decodePemBlocks, encodePem } from "../pem.js";
import { crossProblems } from "./cross-check.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem } from "./types.js";

const rel = (ctx: DoctorContext, p: string) => relative(ctx.layout.root, p);

async function read(path: string): Promise<Buffer | undefined> {
  return readFile(path).catch((err) => {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  });
}

/** An armored OpenPGP key as OpenPGP.js writes it: header, base64 body, footer, nothing else. */
function wrongArmor(text: string, label: "PUBLIC" | "PRIVATE"): string | undefined {
  const m = new RegExp(`^-----BEGIN PGP ${label} KEY BLOCK-----\\n(?:[A-Za-z]+: .*\\n)*\\n([A-Za-z0-9+/=\\n]+)-----END PGP ${label} KEY BLOCK-----\\n?$`).exec(
    text,
  );
  return m ? undefined : `not an armored OpenPGP ${label.toLowerCase()} key`;
}

/** Why `bytes` is not what `kind` files hold, or undefined when it is. */
function wrongContent(bytes: Buffer, kind: "certs" | "key" | "pgp-public" | "pgp-private", path: string): string | undefined {
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
    const { layout, ca } = ctx;
    const out: DoctorProblem[] = [];
    const partnerKeys = (await readdir(join(layout.pgpDir, "partners")).catch(() => [] as string[]))
      .filter((n) => n.endsWith(".asc"))
      .map((n) => [join(layout.pgpDir, "partners", n), "pgp-public"] as const);
    const files = [
      ...ca.all.map((c) => [layout.caCert(c.id), "certs"] as const),
      [layout.canaryCert, "certs"],
      ...(ctx.index?.records ?? []).map((r) => [layout.certFile(r.serial), "certs"] as const),
      ...ca.all.map((c) => [layout.caKey(c.id), "key"] as const),
      [layout.canaryKey, "key"],
      // Until config.json names the home key, files there are a crashed creation's, which the
      // next creation replaces.
      ...(ctx.config.delivery
        ? ([
            [layout.homePublicKey, "pgp-public"],
            [layout.homePrivateKey, "pgp-private"],
          ] as const)
        : []),
      ...partnerKeys,
    ] as const;
    for (const [path, kind] of files) {
      const bytes = await read(path);
      const why = bytes && wrongContent(bytes, kind, path);
      if (why) out.push({ check: "material", message: `${rel(ctx, path)} is damaged: ${why}`, hint: "restore it from your backup", fixable: false, path });
    }
    out.push(...(await signatureProblems(ctx)), ...(await crossProblems(ctx, async (path) => (await read(path))?.toString("utf8"))));
    // Derived from the CA certificates: rewritten from them when they differ.
    const derived: Array<[string, string]> = [
      [layout.caBundle, caBundlePem(ca)],
      [layout.chain, issuingChainPem(ca)],
    ];
    for (const [path, want] of derived) {
      const have = await read(path);
      if (have && have.toString("utf8") !== want)
        out.push({
          check: "material",
          message: `${rel(ctx, path)} does not match the CA certificates`,
          hint: "--fix writes it again from them",
          fixable: true,
          path,
        });
    }
    // Each certificate's chain file is the certificate followed by the issuing chain.
    for (const r of ctx.index?.records ?? []) {
      const [cert, chain] = await Promise.all([read(layout.certFile(r.serial)), read(layout.chainFile(r.serial))]);
      const want = cert && !wrongContent(cert, "certs", layout.certFile(r.serial)) ? certChainPem(cert.toString("utf8"), ca, r.issuer) : undefined;
      if (chain && chain.toString("utf8") !== want)
        out.push({
          check: "material",
          message: `${rel(ctx, layout.chainFile(r.serial))} does not match the certificate and its issuer`,
          hint: want ? "--fix writes it again from them" : `restore ${rel(ctx, layout.certFile(r.serial))} from your backup first`,
          fixable: want !== undefined,
          path: layout.chainFile(r.serial),
          ...(want !== undefined ? { data: want } : {}),
        });
    }
    // The CRL PEMs and bundle are the DER CRLs re-encoded: a difference means a republish.
    const pems: string[] = [];
    for (const s of ctx.history.seen.filter((x) => x.where === "store" && x.crl)) {
      const der = await read(s.path);
      const pem = der ? encodePem("X509 CRL", der) : "";
      pems.push(pem);
      const have = await read(layout.crlPem(s.role));
      if (have?.toString("utf8") !== pem)
        out.push({
          check: "material",
          message: `${rel(ctx, layout.crlPem(s.role))} does not match ${rel(ctx, s.path)}`,
          hint: "--fix republishes the CRLs",
          fixable: true,
          path: layout.crlPem(s.role),
        });
    }
    const bundle = await read(layout.crlBundle);
    if (pems.length && bundle?.toString("utf8") !== pems.join(""))
      out.push({
        check: "material",
        message: `${rel(ctx, layout.crlBundle)} does not match the CRLs`,
        hint: "--fix republishes the CRLs",
        fixable: true,
        path: layout.crlBundle,
      });
    return out;
  },
  fix(ctx, tx) {
    const rewrite = new Map<string, string>([
      [ctx.layout.caBundle, caBundlePem(ctx.ca)],
      [ctx.layout.chain, issuingChainPem(ctx.ca)],
    ]);
    for (const p of ctx.problems) {
      const data = p.data ?? (p.path ? rewrite.get(p.path) : undefined);
      if (data !== undefined && p.path) tx.put(p.path, data);
      else tx.republish();
    }
  },
};

/** Certificates whose signatures do not verify, and unencrypted keys that do not match their certificate. */
async function signatureProblems(ctx: DoctorContext): Promise<DoctorProblem[]> {
  const { layout, ca } = ctx;
  const out: DoctorProblem[] = [];
  const bad = (path: string, why: string) =>
    out.push({ check: "material", message: `${rel(ctx, path)} is damaged: ${why}`, hint: "restore it from your backup", fixable: false, path });
  for (const c of ca.all) {
    if (c.kind === "root" && !(await isSignedBy(c.cert, c.cert))) bad(layout.caCert(c.id), "its self-signature does not verify");
    if (c.parent && !(await isSignedBy(c.cert, certOf(ca, c.parent)))) bad(layout.caCert(c.id), `it is not signed by the ${c.parent} CA`);
  }
  const canary = await read(layout.canaryCert);
  let canaryCert: CertInfo | undefined;
  try {
    canaryCert = canary ? parseCertificate(decodePemBlocks(canary.toString("latin1"))[0]?.der ?? Buffer.alloc(0), layout.canaryCert) : undefined;
  } catch {}
  if (canaryCert && !(await isSignedBy(canaryCert, ca.issuer))) bad(layout.canaryCert, "it is not signed by the issuing CA");
  const pairs: Array<[string, CertInfo | undefined]> = [
    ...ca.all.map((c) => [layout.caKey(c.id), c.cert] as [string, CertInfo]),
    [layout.canaryKey, canaryCert],
  ];
  for (const [path, cert] of pairs) {
    const pem = cert ? (await read(path))?.toString("latin1") : undefined;
    // An encrypted key can only be checked with the passphrase (every signing command does).
    if (!cert || !pem?.includes("-----BEGIN PRIVATE KEY-----")) continue;
    try {
      const spki = createPublicKey(createPrivateKey(pem)).export({ type: "spki", format: "der" });
      if (!spki.equals(cert.spki)) bad(path, "it does not match its certificate");
    } catch {
      bad(path, "not a readable private key");
    }
  }
  return out;
}
