// The checks `mtls inspect` runs, each with the reason a gateway or a partner would trip over it.
import { type CertInfo, isSignedBy } from "../cert.js";
import { type ParsedCrl, type ParsedCrlEntry, verifyCrlSignature } from "../crl/decode.js";
import type { LoadedCrl } from "../crl/show.js";
import { ipVersion } from "../ip.js";
import { decodePemBlocks } from "../pem.js";
import { rsaSpkiProblem } from "../rsa-key.js";
import { DAY, iso } from "../time.js";
import type { Detected } from "./detect.js";
import type { CertificateFacts, InspectedObject, PublicKeyFacts } from "./objects.js";

export interface Lint {
  /** Stable id: no-client-auth, no-server-auth, chain-out-of-order, chain-incomplete, expired, not-yet-valid, expiring, weak-key, weak-signature, san-cn-mismatch, not-issued-by-this-pki, revoked, crl-stale, crl-not-signed-by-this-ca, csr-bad-signature. */
  id: string;
  /** Index into the inspected objects. */
  object: number;
  message: string;
}

/** The PKI the file is checked against, when there is one. */
export interface PkiContext {
  cas: CertInfo[];
  crls: LoadedCrl[];
}

export interface LintOptions {
  now: Date;
  expiringWithinMs: number;
  purpose: "client" | "server";
  pki?: PkiContext;
}

const WEAK_SIGNATURES = /sha1|md5|md2/i;

/** `spki`, when there is one, is also checked as mtls checks RSA keys it accepts (e=1 passes any bit count). */
export function weakKeyReason(k: PublicKeyFacts, spki?: Uint8Array): string | undefined {
  if ((k.type.startsWith("rsa") || k.type.startsWith("dsa")) && (k.bits ?? 0) < 2048) return `${k.type}: under 2048 bits, refused by current TLS libraries`;
  if (k.type.startsWith("dsa")) return "DSA: not usable for TLS 1.3 and deprecated";
  if (k.type.startsWith("ec-") && !["ec-p256", "ec-p384", "ec-p521"].includes(k.type)) return `${k.type}: a curve gateways do not offer for TLS`;
  if (k.type === "unknown") return "an unrecognised key algorithm";
  const rsa = spki ? rsaSpkiProblem(spki) : undefined;
  return rsa ? `${k.type}: ${rsa}; mtls and careful verifiers refuse the key` : undefined;
}

const looksLikeHost = (cn: string) => ipVersion(cn) !== 0 || /^(\*\.)?([a-z0-9-]+\.)+[a-z]{2,}$/i.test(cn);

/** A CN that names a host (or an IP) must be among the SANs: clients ignore the CN when SANs exist (RFC 6125 §6.4.4). */
function sanCnMismatch(subject: string, sans: string[]): string | undefined {
  const cn = /(?:^|, )CN=([^,]+)/.exec(subject)?.[1];
  if (!cn || sans.length === 0 || !looksLikeHost(cn)) return undefined;
  const values = sans.map((s) => s.slice(s.indexOf(":") + 1).toLowerCase());
  return values.includes(cn.toLowerCase()) ? undefined : `the CN ${cn} is not among the SANs (${sans.join(", ")}): verifiers use only the SANs`;
}

function certLints(f: CertificateFacts, spki: Uint8Array, i: number, o: LintOptions, out: Lint[]): void {
  const push = (id: string, message: string) => out.push({ id, object: i, message });
  const now = o.now.getTime();
  if (Date.parse(f.notAfter) <= now) push("expired", `expired at ${f.notAfter}`);
  else if (Date.parse(f.notAfter) - now <= o.expiringWithinMs)
    push("expiring", `expires within ${Math.round(o.expiringWithinMs / DAY)} days (at ${f.notAfter}): renew it now`);
  if (Date.parse(f.notBefore) > now) push("not-yet-valid", `not valid before ${f.notBefore} (check the issuer's clock)`);
  const weak = weakKeyReason(f.publicKey, spki);
  if (weak) push("weak-key", weak);
  if (WEAK_SIGNATURES.test(f.signatureAlgorithm) && !f.selfSigned) push("weak-signature", `signed with ${f.signatureAlgorithm}, which verifiers refuse`);
  if (f.isCa) return;
  const eku = o.purpose === "client" ? "clientAuth" : "serverAuth";
  if (f.extKeyUsage.length > 0 && !f.extKeyUsage.includes(eku))
    push(`no-${o.purpose}-auth`, `no ${eku} in the extended key usage (${f.extKeyUsage.join(", ")}): a gateway refuses it as a ${o.purpose} certificate`);
  else if (f.extKeyUsage.length === 0 && o.purpose === "client") push("no-client-auth", "no extended key usage at all: many gateways require clientAuth");
  const mismatch = sanCnMismatch(f.subject, f.sans);
  if (mismatch) push("san-cn-mismatch", mismatch);
}

/** Leaf first, each certificate followed by its issuer: what TLS peers send and gateways expect. */
function chainLints(certs: CertInfo[], certIndex: number[], o: LintOptions, out: Lint[]): void {
  if (certs.length < 2) return;
  // Indexed by subject: a file of 100,000 certificates searched pairwise took tens of minutes.
  const bySubject = new Map<string, number[]>();
  certs.forEach((c, k) => {
    const key = c.subjectDer.toString("latin1");
    const list = bySubject.get(key);
    if (list) list.push(k);
    else bySubject.set(key, [k]);
  });
  for (let k = 0; k < certs.length; k++) {
    const c = certs[k] as CertInfo;
    if (c.subjectDer.equals(c.issuerDer)) continue;
    // The first certificate named as its issuer, other than itself (a file may repeat a certificate).
    const at = bySubject.get(c.issuerDer.toString("latin1"))?.find((x) => certs[x] !== c) ?? -1;
    if (at === k + 1) continue;
    if (at < 0 && k === certs.length - 1) continue; // the end of the chain: checked below
    out.push({
      id: at >= 0 ? "chain-out-of-order" : "chain-incomplete",
      object: certIndex[k] as number,
      message:
        at >= 0
          ? `certificate ${k + 1} (${c.subject}) is not followed by its issuer ${c.issuer} (certificate ${at + 1}): order leaf → root`
          : `the issuer of certificate ${k + 1} (${c.issuer}) is not in the file`,
    });
  }
  const last = certs.at(-1) as CertInfo;
  const anchored = last.subjectDer.equals(last.issuerDer) || o.pki?.cas.some((ca) => ca.subjectDer.equals(last.issuerDer)) || !o.pki;
  if (!anchored)
    out.push({
      id: "chain-incomplete",
      object: certIndex.at(-1) as number,
      message: `the chain ends at ${last.subject}, whose issuer ${last.issuer} is neither in the file nor a CA of this PKI`,
    });
}

type RevokedIn = (l: LoadedCrl) => Map<string, ParsedCrlEntry>;

/** Each CRL's entries by serial, made when first asked for: a file may hold 100,000 certificates. */
function revokedIndex(): RevokedIn {
  const made = new Map<LoadedCrl, Map<string, ParsedCrlEntry>>();
  return (l) => {
    let m = made.get(l);
    if (!m) {
      m = new Map();
      // The first entry for a serial, as a search from the start finds it.
      for (const e of l.crl.entries) if (!m.has(e.serial)) m.set(e.serial, e);
      made.set(l, m);
    }
    return m;
  };
}

async function pkiCertLints(c: CertInfo, i: number, pki: PkiContext, revokedIn: RevokedIn, out: Lint[]): Promise<void> {
  if (pki.cas.some((ca) => ca.fingerprint === c.fingerprint)) return; // this PKI's own CA certificate
  const issuer = pki.cas.find((ca) => ca.subjectDer.equals(c.issuerDer));
  if (!issuer || !(await isSignedBy(c, issuer))) {
    out.push({ id: "not-issued-by-this-pki", object: i, message: `not signed by a CA of this PKI (issuer ${c.issuer})` });
    return;
  }
  for (const l of pki.crls) {
    if (!l.crl.issuerDer.equals(issuer.subjectDer)) continue;
    const entry = revokedIn(l).get(c.serial);
    if (entry) out.push({ id: "revoked", object: i, message: `revoked at ${iso(entry.revokedAt)} (${entry.reason}) on this PKI's CRL ${l.path}` });
  }
}

async function crlLints(crl: ParsedCrl, i: number, o: LintOptions, out: Lint[]): Promise<string | undefined> {
  if (!crl.nextUpdate) out.push({ id: "crl-stale", object: i, message: "no nextUpdate: verifiers cannot tell when it is stale" });
  else if (crl.nextUpdate.getTime() <= o.now.getTime())
    out.push({
      id: "crl-stale",
      object: i,
      message: `past its nextUpdate (${iso(crl.nextUpdate)}): gateways reject every client, or stop checking; publish a fresh one`,
    });
  if (!o.pki) return undefined;
  for (const ca of o.pki.cas) if (await verifyCrlSignature(crl, ca)) return ca.subject;
  out.push({
    id: "crl-not-signed-by-this-ca",
    object: i,
    message: "not signed by a CA of this PKI: a gateway loading it next to this PKI's CA bundle refuses it",
  });
  return undefined;
}

/** Every lint for the detected objects, in object order. */
export async function lintObjects(d: Detected, o: LintOptions): Promise<Lint[]> {
  const out: Lint[] = [];
  const certIndex: number[] = [];
  let crl = 0;
  let csr = 0;
  const revokedIn = revokedIndex();
  for (let i = 0; i < d.objects.length; i++) {
    const f = d.objects[i] as InspectedObject;
    if (f.type === "certificate") {
      const c = d.certs[certIndex.length] as CertInfo;
      certIndex.push(i);
      certLints(f, c.spki, i, o, out);
      if (o.pki) await pkiCertLints(c, i, o.pki, revokedIn, out);
    } else if (f.type === "crl") {
      const signedBy = await crlLints(d.crls[crl++] as ParsedCrl, i, o, out);
      if (signedBy) f.signedBy = signedBy;
    } else if (f.type === "csr") {
      if (!f.signatureValid)
        out.push({ id: "csr-bad-signature", object: i, message: "the request's signature does not verify: altered, or not signed by its key" });
      const weak = weakKeyReason(f.publicKey, d.csrKeys[csr++]);
      if (weak) out.push({ id: "weak-key", object: i, message: weak });
      const mismatch = sanCnMismatch(f.subject, f.sans);
      if (mismatch) out.push({ id: "san-cn-mismatch", object: i, message: mismatch });
    } else if (f.type === "private-key" && f.publicKey) {
      const weak = weakKeyReason(f.publicKey, f.publicKeyPem ? decodePemBlocks(f.publicKeyPem)[0]?.der : undefined);
      if (weak) out.push({ id: "weak-key", object: i, message: weak });
    }
  }
  chainLints(d.certs, certIndex, o, out);
  return out;
}
