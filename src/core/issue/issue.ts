import { join } from "node:path";
import type { AuditEntry } from "../audit/audit.js";
import { deliverBundle } from "../bundle/export.js";
import { checkGatewayUrl } from "../bundle/gateway-url.js";
import { type HomeSigningKey, loadSigningKey, prepareSigningKey, stageSigningKey } from "../bundle/home-key.js";
import { readPinnedPartnerKey } from "../bundle/partner-key.js";
import { type CaCerts, type CaKey, loadCaCerts, loadIssuingKey, loadIssuingKeyEarly } from "../ca/material.js";
import type { CertInfo } from "../cert.js";
import { parseCsr } from "../csr.js";
import { inputError, usageError } from "../errors.js";
import { assertIdentitiesAvailable, requestIdentities } from "../identity/registry.js";
import { checkSubjectPolicy } from "../identity/subject-policy.js";
import { randomSerial, validatePartnerId } from "../ids.js";
import { generateKeyPairDer, type KeyType } from "../keys.js";
import { type DistinguishedName, describeName, type NameInfo } from "../name.js";
import type { P12Profile } from "../p12/p12.js";
import { type PartnerRegistration, stagePartnerRegistration } from "../partners/partners.js";
import { encodePem, pemOrDer } from "../pem.js";
import { parallelIssueWarnings } from "../rotate/plan.js";
import { dedupeSans, formatSan, type San, sanProblem } from "../sans.js";
import type { Pki, Tx } from "../session.js";
import { readIndexOf, readPartnersOf } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { type CertRecord, stageIndex } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import { type PartnerRegistry, serializePartners } from "../store/partners.js";
import type { StoreReader } from "../store/storage.js";
import { BACKDATE_MS, DAY, iso } from "../time.js";
import { checkNewOutput, checkOutputDir } from "../user-files.js";
import { createLeaf, keyIdentifier } from "./leaf-encode.js";
import { checkKeyPolicy, subjectEncodingProblem } from "./policy.js";
import { checkCn, checkValidityDays } from "./validity.js";

/** What one partner certificate should be. Exactly one of `csr` and `generateKeyType`. */
export interface IssueRequest {
  partnerId: string;
  /** The partner's CSR, PEM or DER. */
  csr?: Uint8Array;
  /** Names the CSR in messages, e.g. "CSR acme.csr". */
  csrSource?: string;
  /** Generate the key pair here instead (Option B). */
  generateKeyType?: KeyType;
  /** Replaces the subject with CN=<cn>. */
  cn?: string;
  /** Replaces the CSR's SANs. */
  sans?: San[];
  /** Validity in days; the store's policy default when omitted. */
  days?: number;
  /** With generateKeyType: this exact subject instead of CN=<cn> (a rotation keeps the old one). */
  subject?: DistinguishedName;
}

/** A rotation (`partner rotate`): the request is checked against the certificate it replaces, under the lock. */
export interface SuccessorHook {
  /** Throws to refuse; otherwise the fields stamped on the new index record, its audit entry and warnings. */
  stamp(prepared: PreparedRequest, records: readonly CertRecord[]): { fields: Partial<CertRecord>; audit: AuditEntry; warnings: string[] };
}

export interface IssueParams extends IssueRequest {
  /** Also write the certificate here (PEM, the leaf alone). */
  outCert?: string;
  /** Also write what the partner presents here: the leaf followed by the intermediate (PEM). */
  outChain?: string;
  /** Where a generated private key goes (PEM, mode 0600). Required with generateKeyType. */
  outKey?: string;
  /** Overwrite outCert/outKey/bundle files when they exist. */
  force?: boolean;
  /**
   * Option B delivery: the generated key goes into an encrypted bundle for the partner (which
   * needs its OpenPGP key on file). Used by default when there is no outKey and the partner has
   * a key; `bundleOut` names the file, otherwise it is `<partner>-<serial prefix>.zip.pgp` in `bundleDir`.
   */
  bundleOut?: string;
  bundleDir?: string;
  bundleArmor?: boolean;
  gatewayUrl?: string;
  /** Also put a PKCS#12 of the generated key into the bundle, with a generated password. */
  p12Profile?: P12Profile;
  /** Where that password goes (0600); otherwise only into the result, for the terminal. */
  p12PasswordFile?: string;
  /**
   * Onboarding: register (or update) the partner in the same commit as the certificate, and
   * always deliver a bundle (with the generated key, or the certificate alone).
   */
  onboard?: PartnerRegistration;
  successor?: SuccessorHook;
}

/** What a result says of a certificate just issued, partner or server: its record's facts and where it is kept. */
export interface IssuedFacts {
  subject: string;
  sans: string[];
  keyType: string;
  source: "csr" | "generated";
  notBefore: string;
  notAfter: string;
  fingerprint: string;
  certPath: string;
}

export const issuedFacts = (record: CertRecord, where: (key: string) => string): IssuedFacts => ({
  subject: record.subject,
  sans: record.sans,
  keyType: record.keyType,
  source: record.source,
  notBefore: record.notBefore,
  notAfter: record.notAfter,
  fingerprint: record.fingerprint,
  certPath: where(storeKeys.certFile(record.serial)),
});

export interface IssueResult extends IssuedFacts {
  serial: string;
  partnerId: string;
  chainPath: string;
  outCert?: string;
  outChain?: string;
  outKey?: string;
  bundle?: { path: string; bytes: number; recipientFingerprint?: string; signerFingerprint?: string; signingKeyCreated: boolean };
  partnerRegistered: boolean;
  /** `password` is for the person at the terminal only: never stored, logged or bundled. */
  p12?: { profile: P12Profile; file: string; passwordFile?: string; password: string };
  warnings: string[];
}

/** A request checked against policy, ready to sign. */
export interface PreparedRequest {
  partnerId: string;
  subject: NameInfo;
  sans: San[];
  spki: Uint8Array;
  keyType: string;
  source: "csr" | "generated";
  days: number;
  /** The generated private key (PKCS#8 DER); only for source "generated". Never logged. */
  privateKey?: Buffer;
  warnings: string[];
}

export const MAX_CSR_BYTES = 64 * 1024;
/** A partner certificate names a client, not a fleet: more SANs than this is refused. */
export const MAX_SANS = 100;

/** The SANs a CSR asks for, when no --san replaces them: only types and values mtls issues. */
function csrSans(csr: Awaited<ReturnType<typeof parseCsr>>, what: string): San[] {
  if (csr.unsupportedSans.length)
    throw inputError(
      "ERR_SAN",
      `${what} asks for SANs of types mtls does not issue: ${csr.unsupportedSans.join(", ")}`,
      "pass --san to set the SANs explicitly",
    );
  for (const s of csr.sans) {
    const problem = sanProblem(s);
    if (problem) throw inputError("ERR_SAN", `${what} asks for an invalid SAN "${formatSan(s)}": ${problem}`, "pass --san to set the SANs explicitly");
  }
  return csr.sans;
}

/** Validates a request against the store's policy and, for Option B, generates the key pair. */
export async function prepareRequest(req: IssueRequest, config: StoreConfig, issuer: CertInfo, now: Date): Promise<PreparedRequest> {
  const partnerId = validatePartnerId(req.partnerId);
  const warnings: string[] = [];
  const days = req.days ?? config.policy.defaultDays;
  checkValidityDays(days, { maxDays: config.policy.maxDays, issuerNotAfter: issuer.notAfter, now });
  if ((req.sans?.length ?? 0) > MAX_SANS) throw inputError("ERR_SAN", `${req.sans?.length} SANs given; at most ${MAX_SANS} are issued`);
  for (const s of req.sans ?? []) {
    const problem = sanProblem(s);
    if (problem) throw inputError("ERR_SAN", `invalid SAN "${formatSan(s)}": ${problem}`);
  }
  if (req.cn !== undefined) checkCn(req.cn);

  if (req.generateKeyType) {
    if (req.csr) throw usageError("ERR_USAGE", "--csr and --generate exclude each other", "pass one of them");
    const keys = await generateKeyPairDer(req.generateKeyType);
    return {
      partnerId,
      subject: describeName(req.subject ?? { rdns: [["CN", req.cn ?? partnerId]] }),
      sans: dedupeSans(req.sans ?? []),
      spki: keys.spki,
      keyType: req.generateKeyType,
      source: "generated",
      days,
      privateKey: keys.pkcs8,
      warnings,
    };
  }
  if (!req.csr) throw usageError("ERR_USAGE", "no CSR given and --generate not set", "pass --csr <file> (the partner's request) or --generate");
  const what = req.csrSource ?? "the CSR";
  if (req.csr.length > MAX_CSR_BYTES)
    throw inputError("ERR_CSR_TOO_LARGE", `${what} is ${req.csr.length} bytes; a CSR is at most ${MAX_CSR_BYTES}`, "check that you passed the CSR file");
  if (req.csr.length === 0) throw inputError("ERR_CSR_PARSE", `${what} is empty`);
  const csr = await parseCsr(pemOrDer(req.csr, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"], what), what);
  // Policy first: for a key we refuse anyway (say, secp256k1) its reason is the useful message.
  const keyType = checkKeyPolicy(csr.spki, what);
  if (!csr.signatureValid)
    throw inputError(
      "ERR_CSR_SIGNATURE",
      `${what} has an invalid signature (the request was altered, or not signed by its key)`,
      "ask the partner for a fresh CSR",
    );
  const encoding = req.cn === undefined ? subjectEncodingProblem(csr.subjectDer) : undefined;
  if (encoding) throw inputError("ERR_CSR_SUBJECT", `${what} has a subject with ${encoding}`, "pass --cn to set the subject");
  if (req.cn === undefined) checkSubjectPolicy(csr.subjectDer, what);
  if (csr.requestedExtensions.length) {
    warnings.push(
      `${what} asked for ${csr.requestedExtensions.join(", ")}: not copied; partner certificates get the client profile (CA:false, digitalSignature, clientAuth)`,
    );
  }
  const sans = req.sans ?? csrSans(csr, what);
  let subject: DistinguishedName = req.cn !== undefined ? { rdns: [["CN", req.cn]] } : { der: csr.subjectDer };
  if (req.cn === undefined && csr.subjectEmpty && sans.length === 0) subject = { rdns: [["CN", partnerId]] };
  if (sans.length > MAX_SANS)
    throw inputError("ERR_SAN", `${what} asks for ${sans.length} SANs; at most ${MAX_SANS} are issued`, "pass --san with the names the client needs");
  return { partnerId, subject: describeName(subject), sans: dedupeSans(sans), spki: csr.spki, keyType, source: "csr", days, warnings };
}

/** Signs a prepared request. `serial` must be unique in the index (the caller holds the lock). */
export async function signRequest(r: PreparedRequest, ca: CaCerts, caKey: CaKey, serial: string, now: Date, config: StoreConfig): Promise<CertInfo> {
  return createLeaf({
    serial,
    subjectDer: r.subject.der,
    subjectEmpty: r.subject.empty,
    subjectText: r.subject.text,
    commonNames: r.subject.commonNames,
    issuerDer: ca.issuer.subjectDer,
    issuerText: ca.issuer.subject,
    issuerKeyId: ca.issuer.subjectKeyId ?? keyIdentifier(ca.issuer.spki).toString("hex"),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + r.days * DAY),
    spki: r.spki,
    sans: r.sans,
    extKeyUsage: ["clientAuth"],
    ...(config.ca.crlUrl ? { crlUrl: config.ca.crlUrl } : {}),
    ...(config.ca.ocspUrl ? { ocspUrl: config.ca.ocspUrl } : {}),
    signer: caKey.signer,
    ...(caKey.keyObject ? { signingKeyObject: caKey.keyObject } : {}),
    signingKeyType: caKey.keyType,
  });
}

export function recordFor(r: PreparedRequest, cert: CertInfo, ca: CaCerts, now: Date): CertRecord {
  return {
    serial: cert.serial,
    partnerId: r.partnerId,
    subject: cert.subject,
    commonNames: cert.commonNames,
    sans: cert.sans.map(formatSan),
    keyType: r.keyType,
    notBefore: iso(cert.notBefore),
    notAfter: iso(cert.notAfter),
    issuedAt: iso(now),
    fingerprint: cert.fingerprint,
    source: r.source,
    issuer: ca.issuerRole,
    certPath: storeKeys.certFile(cert.serial),
    status: "valid",
  };
}

/** A serial not yet in `taken` (128 random bits make a clash astronomically rare; we still check). */
export function uniqueSerial(taken: Set<string>): string {
  for (;;) {
    const s = randomSerial();
    if (!taken.has(s)) {
      taken.add(s);
      return s;
    }
  }
}

export const chainPemFor = (cert: CertInfo, ca: CaCerts): string => cert.pem + (ca.intermediate ? ca.intermediate.pem : "");

interface DeliveryStep {
  pki: Pki;
  tx: Tx;
  p: IssueParams;
  prepared: PreparedRequest;
  cert: CertInfo;
  ca: CaCerts;
  serial: string;
  registry: PartnerRegistry;
  newSigningKey: Awaited<ReturnType<typeof prepareSigningKey>> | undefined;
}

/** The encrypted bundle (and its PKCS#12) for a generated key or an onboarding, in the issue's transaction. */
async function stageDelivery(s: DeliveryStep): Promise<{ bundle: IssueResult["bundle"]; p12: IssueResult["p12"] }> {
  const { pki, tx, p, prepared, cert, ca, serial, registry, newSigningKey } = s;
  const now = pki.now;
  let p12: IssueResult["p12"];
  // The PKCS#12 writer loads the ASN.1 schemas: only when one is asked for (#21).
  const p12Module = p.p12Profile ? await import("../p12/p12.js") : undefined;
  const built =
    p12Module && p.p12Profile && prepared.privateKey
      ? await p12Module.p12ForBundle(p.p12Profile, prepared.privateKey, cert, ca, prepared.partnerId)
      : undefined;
  const path = p.bundleOut ?? join(p.bundleDir ?? ".", `${prepared.partnerId}-${serial.slice(0, 8)}.zip.pgp`);
  const partner = registry.partners[prepared.partnerId] ?? { id: prepared.partnerId, createdAt: iso(now), updatedAt: iso(now) };
  const created = newSigningKey ? await stageSigningKey(tx, newSigningKey) : false;
  const signer: HomeSigningKey =
    created && newSigningKey
      ? {
          privateArmored: newSigningKey.privateArmored,
          fingerprint: newSigningKey.info.fingerprint,
          userId: newSigningKey.info.userIds[0] ?? "",
          created,
        }
      : await loadSigningKey(tx, await tx.config());
  const d = await deliverBundle({
    pki,
    signer,
    partner,
    cert,
    ca,
    ...(prepared.privateKey ? { privateKeyPem: encodePem("PRIVATE KEY", prepared.privateKey) } : {}),
    ...(p.onboard?.key ? { recipientArmored: p.onboard.key.armored } : {}),
    out: path,
    stage: tx,
    encrypt: true,
    armor: p.bundleArmor ?? false,
    force: p.force ?? false,
    ...(p.gatewayUrl ? { gatewayUrl: p.gatewayUrl } : {}),
    ...(built ? { p12: { name: built.name, der: built.der, profile: built.profile } } : {}),
    now: now,
  });
  if (built && p.p12PasswordFile) tx.writeFile(p.p12PasswordFile, `${built.password}\n`, { mode: 0o600, exclusive: !p.force });
  if (built) p12 = { profile: built.profile, file: built.name, password: built.password, ...(p.p12PasswordFile ? { passwordFile: p.p12PasswordFile } : {}) };
  const bundle: NonNullable<IssueResult["bundle"]> = {
    path,
    bytes: d.bytes,
    signingKeyCreated: d.signingKeyCreated,
    ...(d.recipientFingerprint ? { recipientFingerprint: d.recipientFingerprint } : {}),
    ...(d.signerFingerprint ? { signerFingerprint: d.signerFingerprint } : {}),
  };
  return { bundle, p12 };
}

/**
 * --out-key, --out, --out-chain: the copies the user asked for, in the commit (Tx.writeFile), once
 * the store's certificate file is durable. The key first: a certificate file never lacks its key.
 */
function stageUserFiles(tx: Tx, p: IssueParams, prepared: PreparedRequest, cert: CertInfo, ca: CaCerts): void {
  if (p.outKey && prepared.privateKey) tx.writeFile(p.outKey, encodePem("PRIVATE KEY", prepared.privateKey), { mode: 0o600, exclusive: !p.force });
  if (p.outCert) tx.writeFile(p.outCert, cert.pem, { exclusive: !p.force });
  if (p.outChain) tx.writeFile(p.outChain, chainPemFor(cert, ca), { exclusive: !p.force });
}

/** What the command reports for one issued certificate. */
function issueResult(
  p: IssueParams,
  prepared: PreparedRequest,
  record: CertRecord,
  store: Pick<StoreReader, "where">,
  o: { bundle: IssueResult["bundle"]; p12: IssueResult["p12"]; partnerRegistered: boolean },
): IssueResult {
  const { bundle, p12, partnerRegistered } = o;
  const serial = record.serial;
  return {
    serial,
    partnerId: prepared.partnerId,
    ...issuedFacts(record, (k) => store.where(k)),
    chainPath: store.where(storeKeys.chainFile(serial)),
    ...(p.outCert ? { outCert: p.outCert } : {}),
    ...(p.outChain ? { outChain: p.outChain } : {}),
    ...(p.outKey ? { outKey: p.outKey } : {}),
    ...(bundle ? { bundle } : {}),
    ...(p12 ? { p12 } : {}),
    partnerRegistered,
    warnings: prepared.warnings,
  };
}

/**
 * Where the certificate and a generated key go, checked before any work: true when the key
 * travels in an encrypted bundle (which needs the partner's OpenPGP key).
 */
async function checkDestinations(p: IssueParams, hasPgp: boolean): Promise<boolean> {
  const deliver = Boolean(p.onboard) || Boolean(p.generateKeyType && (p.bundleOut || (!p.outKey && hasPgp)));
  if (p.gatewayUrl) checkGatewayUrl(p.gatewayUrl);
  // A CSR's private key stays with the partner: there is nothing to write, and the result must not say otherwise.
  if (p.outKey && !p.generateKeyType)
    throw usageError(
      "ERR_USAGE",
      "--out-key goes with --generate: a CSR's private key stays with the partner",
      "drop --out-key, or pass --generate instead of --csr",
    );
  if (p.generateKeyType && !p.outKey && !deliver) {
    throw usageError(
      "ERR_KEY_DESTINATION",
      "--generate needs a destination for the private key",
      `register the partner's OpenPGP key (mtls partner add ${p.partnerId} --pgp-key <file.asc>) so the key travels in an encrypted bundle, or pass --out-key <file>`,
    );
  }
  if (p.p12Profile && !deliver)
    throw usageError(
      "ERR_USAGE",
      "--p12 puts a PKCS#12 into the delivery bundle of a generated key",
      "use it with --generate and a bundle, or `mtls p12 create` for a key file",
    );
  if (deliver && !hasPgp)
    throw inputError("ERR_NO_PGP_KEY", `partner ${p.partnerId} has no OpenPGP key on file`, `run \`mtls partner add ${p.partnerId} --pgp-key <file.asc>\``);
  // Every destination checked before the transaction: a bad path fails with nothing changed.
  for (const out of [p.outCert, p.outChain, p.outKey, p.bundleOut, p.p12PasswordFile]) {
    if (out) await checkNewOutput(out, p.force);
  }
  if (deliver && !p.bundleOut) await checkOutputDir(p.bundleDir ?? ".");
  return deliver;
}

/**
 * Issues one partner certificate (Option A: from the partner's CSR; Option B: generated key
 * pair), archives it by serial, records it in the index and registers a new partner id.
 */
export async function issuePartnerCert(pki: Pki, p: IssueParams): Promise<IssueResult> {
  const config = await pki.config();
  const now = pki.now;
  const caCerts = loadCaCerts(pki.storage, config);
  // Decrypt the CA key before taking the lock: the KDF is the slow part and needs no lock. With a
  // passphrase nobody is asked for, it runs (in the thread pool) while the certificates are read
  // and the request is checked (#21). Both are awaited below; failing before that (a wrong
  // passphrase) is no unhandled rejection meanwhile.
  const early = pki.passphrase?.unattended ? loadIssuingKeyEarly(pki.storage, config, caCerts, pki.passphrase) : undefined;
  for (const started of [caCerts, early]) started?.catch(() => {});
  const known = (await readPartnersOf(pki.storage)).partners[validatePartnerId(p.partnerId)];
  const deliver = await checkDestinations(p, Boolean(p.onboard?.key || known?.pgp));
  const ca = await caCerts;
  const prepared = await prepareRequest(p, config, ca.issuer, now);
  const caKey = await (early ?? loadIssuingKey(pki.storage, ca, pki.passphrase));
  // The pinned recipient key is checked before anything is written (the signing key included).
  if (deliver && known?.pgp && !p.onboard?.key) await readPinnedPartnerKey(pki.storage, known, now);
  // A first delivery creates the home party's signing key, in this same transaction.
  const newSigningKey = deliver ? await prepareSigningKey(pki, now) : undefined;

  return pki.transact(
    "cert.issue",
    async (tx) => {
      const snap = await readIndexOf(tx);
      const registry = await readPartnersOf(tx);
      assertIdentitiesAvailable({ records: snap.records, registry, partnerId: prepared.partnerId, identities: requestIdentities(prepared) });
      const successor = p.successor?.stamp(prepared, snap.records);
      prepared.warnings.push(...(successor ? successor.warnings : parallelIssueWarnings(snap.records, prepared.partnerId, now)));
      const serial = uniqueSerial(new Set(snap.records.map((r) => r.serial)));
      const cert = await signRequest(prepared, ca, caKey, serial, now, config);
      const record = { ...recordFor(prepared, cert, ca, now), ...successor?.fields };
      const partnerRegistered = !registry.partners[prepared.partnerId];
      tx.put(storeKeys.certFile(serial), cert.pem, { exclusive: true }).put(storeKeys.chainFile(serial), chainPemFor(cert, ca), { exclusive: true });
      const onboarded = p.onboard ? await stagePartnerRegistration(tx, registry, p.onboard, now) : undefined;
      if (partnerRegistered && !onboarded) registry.partners[prepared.partnerId] = { id: prepared.partnerId, createdAt: iso(now), updatedAt: iso(now) };

      stageUserFiles(tx, p, prepared, cert, ca);
      let bundle: IssueResult["bundle"];
      let p12: IssueResult["p12"];
      if (deliver && (prepared.privateKey || p.onboard))
        ({ bundle, p12 } = await stageDelivery({ pki, tx, p, prepared, cert, ca, serial, registry, newSigningKey }));
      if (partnerRegistered || onboarded) tx.put(storeKeys.partners, serializePartners(registry));
      tx.audit(
        ...(onboarded ? [onboarded.audit] : []),
        {
          action: "cert.issue",
          outcome: "ok",
          serial,
          partner: prepared.partnerId,
          details: { source: prepared.source, notAfter: record.notAfter, ...(bundle ? { delivery: "bundle" } : {}), ...(p12 ? { p12: p12.profile } : {}) },
        },
        ...(successor ? [{ ...successor.audit, serial }] : []),
      );
      stageIndex(tx, snap, [record]);
      return issueResult(p, prepared, record, tx, { bundle, p12, partnerRegistered });
    },
    { purpose: "partner issue" },
  );
}
