import { createPrivateKey, createPublicKey } from "node:crypto";
import { type CaCerts, type CaEntry, type CaKey, loadCaCerts, loadIssuingKey, loadKeyOf, type PassphraseSource } from "../ca/material.js";
import { inputError } from "../errors.js";
import { randomSerial } from "../ids.js";
import { decryptKeyPemAsync, exportPkcs8, exportSpki, generateKeyPair } from "../keys.js";
import { decodePemBlocks, encodePem } from "../pem.js";
import { type CertInfo, createCertificate, type DistinguishedName, parseCertificate } from "../pki.js";
import { assertRsaKeySound } from "../rsa-key.js";
import { dedupeSans, type San } from "../sans.js";
import type { Pki } from "../session.js";
import { mustGet, utf8 } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import { DAY, HOUR, iso, MINUTE } from "../time.js";
import type { ClientCredential } from "./attempt.js";
import { recordProbeCerts } from "./record.js";
import type { ScenarioName } from "./scenarios.js";
import { spoofSubjects } from "./spoof.js";

export interface UserCredential {
  /** PEM: the leaf, optionally followed by its intermediates. */
  certPem: string;
  keyPem: string;
}

export interface ProbeCredentials {
  byScenario: Partial<Record<ScenarioName, ClientCredential | null>>;
  /** Scenarios made of several certificates (identity-spoof), each run as its own attempt. */
  variants: Partial<Record<ScenarioName, Array<{ variant: string; credential: ClientCredential }>>>;
  /** Why a scenario could not be prepared (it is then skipped). */
  skipped: Partial<Record<ScenarioName, string>>;
  identity: { subject: string; sans: string[] };
  /** A fresh one-hour certificate with the valid identity (with the CA key only), for --measure-revocation. */
  mintFresh?: () => Promise<{ serial: string; credential: ClientCredential }>;
}

const pemKey = async (k: CryptoKey) => encodePem("PRIVATE KEY", await exportPkcs8(k));

export interface CredentialParams {
  store?: { pki: Pki; config: StoreConfig };
  passphrase?: PassphraseSource;
  user?: UserCredential;
  wanted: Set<ScenarioName>;
  /** Also load the CA key to mint a certificate to revoke (--measure-revocation). */
  mintable?: boolean;
  now: Date;
}

/** What every step below shares: the CA (when the store is at hand), the identity, what was made so far. */
interface Making {
  p: CredentialParams;
  now: number;
  ca: CaCerts | undefined;
  caKey: CaKey | undefined;
  /** The issuing intermediate's PEM ("" for a single tier or no store): sent after each minted leaf. */
  intermediates: string;
  subject: DistinguishedName;
  sans: San[];
  identity: string;
  /** Why a scenario that needs the CA cannot run ("" when the store is there). */
  caReason: string;
  minted: Array<{ serial: string; issuer: CaCerts["issuerRole"]; notAfter: Date }>;
  out: Pick<ProbeCredentials, "byScenario" | "variants" | "skipped">;
}

interface MintOptions {
  notBefore: number;
  notAfter: number;
  eku?: string[];
  subject?: DistinguishedName;
  sans?: San[];
}

/**
 * Client credentials for every scenario. Minted certificates live one hour, are never recorded
 * in the index, and carry the identity of the `valid` certificate, so the defect under test is
 * the only difference the gateway can see.
 */
export async function prepareCredentials(p: CredentialParams): Promise<ProbeCredentials> {
  const { ca, caKey } = await loadProbeCa(p);
  const intermediates = ca?.intermediate ? ca.intermediate.pem : "";
  const user = p.user ? userCredential(p.user, ca, intermediates) : undefined;
  const m: Making = {
    p,
    now: p.now.getTime(),
    ca,
    caKey,
    intermediates,
    subject: user?.subject ?? {
      rdns: [
        ["O", "mtls probe"],
        ["CN", "mtls-probe"],
      ],
    },
    sans: user?.sans ?? [{ type: "uri", value: "spiffe://mtls.probe/valid" }],
    identity: user?.identity ?? "mtls-probe",
    caReason: p.store ? "" : "needs the CA key (probe from the home party's PKI with --pki)",
    minted: [],
    out: { byScenario: { "no-cert": null }, variants: {}, skipped: {} },
  };
  const valid = user?.valid ?? (await mintValid(m));
  m.out.byScenario.valid = valid.chain;
  m.out.byScenario["legacy-tls"] = valid.chain;
  m.out.byScenario["missing-intermediate"] = valid.leaf;
  if (p.wanted.has("self-signed") || p.wanted.has("untrusted-ca")) await addUntrusted(m);
  await addMintedDefects(m);
  if (p.wanted.has("previous-hierarchy")) await addPreviousHierarchy(m);
  if (p.wanted.has("identity-spoof")) await addSpoofs(m);
  await addCanaries(m);
  const store = p.store;
  if (store) await recordProbeCerts(store.pki, m.minted.splice(0));
  const mintFresh =
    caKey && store
      ? async () => {
          const c = await mint(m, { notBefore: m.now - 5 * MINUTE, notAfter: m.now + HOUR });
          await recordProbeCerts(store.pki, m.minted.splice(0));
          return { serial: c.cert.serial, credential: chainOf(m, c) };
        }
      : undefined;
  return {
    ...m.out,
    ...(mintFresh ? { mintFresh } : {}),
    identity: {
      subject: parseCertificate(decodePemBlocks(valid.chain.certPem)[0]?.der ?? Buffer.alloc(0)).subject,
      sans: m.sans.map((s) => `${s.type}:${s.value}`),
    },
  };
}

/** The CA certificates when the store is at hand, and the issuing key when a scenario needs it. */
async function loadProbeCa(p: CredentialParams): Promise<{ ca?: CaCerts; caKey?: CaKey }> {
  if (!p.store) return {};
  const ca = await loadCaCerts(p.store.pki.storage, p.store.config);
  const needsKey =
    [...p.wanted].some((s) => ["expired", "not-yet-valid", "wrong-eku", "other-identity", "identity-spoof", "revoked"].includes(s)) || !p.user || p.mintable;
  return { ca, ...(needsKey ? { caKey: await loadIssuingKey(p.store.pki.storage, ca, p.passphrase) } : {}) };
}

/** The user's own certificate and key (--cert/--key): checked, and its identity taken for every minted one. */
function userCredential(user: UserCredential, ca: CaCerts | undefined, intermediates: string) {
  const blocks = decodePemBlocks(user.certPem).filter((b) => b.label === "CERTIFICATE");
  const leafBlock = blocks[0];
  if (!leafBlock) throw inputError("ERR_CERT_PARSE", "--cert holds no PEM certificate");
  const leaf = parseCertificate(leafBlock.der, "--cert");
  assertRsaKeySound(leaf.spki, "--cert");
  let keySpki: Buffer;
  try {
    keySpki = createPublicKey(createPrivateKey(user.keyPem)).export({ format: "der", type: "spki" });
  } catch (err) {
    throw inputError("ERR_KEY_CORRUPT", "--key is not a readable, unencrypted private key (PEM)", undefined, err);
  }
  if (!keySpki.equals(leaf.spki)) throw inputError("ERR_KEY_MISMATCH", "--key does not belong to the certificate in --cert");
  // Send the user's chain; add our intermediate when their file holds only the leaf.
  const chain = blocks.length > 1 ? user.certPem : leaf.pem + (ca && leaf.issuer !== ca.root.subject ? intermediates : "");
  return {
    subject: { der: leaf.subjectDer } as DistinguishedName,
    sans: leaf.sans,
    identity: leaf.commonNames[0] ?? leaf.sans[0]?.value ?? "mtls-probe",
    valid: { chain: { certPem: chain, keyPem: user.keyPem }, leaf: { certPem: leaf.pem, keyPem: user.keyPem } },
  };
}

/**
 * A certificate's end capped at its issuer's: one that outlived its CA would test a chain no
 * partner can hold. Undefined when nothing is left of the window (the CA ends before it starts).
 */
function cappedEnd(issuer: CertInfo, o: Pick<MintOptions, "notBefore" | "notAfter">): number | undefined {
  const end = Math.min(o.notAfter, issuer.notAfter.getTime());
  return end > o.notBefore ? end : undefined;
}

/** The issuing CA cannot sign a certificate valid now: it has expired. */
function expiredCaError(ca: CertInfo, role: string) {
  return inputError(
    "ERR_CA_EXPIRED",
    `the issuing CA ${role} expired on ${iso(ca.notAfter)}: the probe's certificates would not be valid`,
    "roll it over (`mtls ca rollover intermediate`), or probe with --cert and --key",
  );
}

/** A one-hour certificate from the issuing CA with the probe's identity (or as `o` says). */
async function mint(m: Making, o: MintOptions): Promise<{ cert: CertInfo; keyPem: string }> {
  if (!m.ca || !m.caKey) throw new Error("CA unavailable");
  const end = cappedEnd(m.ca.issuer, o);
  if (end === undefined || m.ca.issuer.notAfter.getTime() <= m.now) throw expiredCaError(m.ca.issuer, m.ca.issuerRole);
  const keys = await generateKeyPair("ec-p256");
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: o.subject ?? m.subject,
    issuer: m.ca.issuer,
    notBefore: new Date(o.notBefore),
    notAfter: new Date(end),
    spki: await exportSpki(keys.publicKey),
    signer: m.caKey.signer,
    signingKeyType: m.caKey.keyType,
    profile: { kind: "leaf", extKeyUsage: o.eku ?? ["clientAuth"] },
    sans: o.sans ?? m.sans,
  });
  m.minted.push({ serial: cert.serial, issuer: m.ca.issuerRole, notAfter: cert.notAfter });
  return { cert, keyPem: await pemKey(keys.privateKey) };
}

const chainOf = (m: Making, c: { cert: CertInfo; keyPem: string }): ClientCredential => ({ certPem: c.cert.pem + m.intermediates, keyPem: c.keyPem });

/** Without --cert, the valid certificate is minted from the CA (which then must be at hand). */
async function mintValid(m: Making): Promise<{ chain: ClientCredential; leaf: ClientCredential }> {
  if (!m.caKey)
    throw inputError(
      "ERR_PROBE_CREDENTIAL",
      "no client certificate to probe with",
      "pass --cert <chain.pem> --key <key.pem>, or run where --pki points at the home party's PKI",
    );
  const c = await mint(m, { notBefore: m.now - 5 * MINUTE, notAfter: m.now + HOUR });
  return { chain: chainOf(m, c), leaf: { certPem: c.cert.pem, keyPem: c.keyPem } };
}

/** Untrusted: a self-signed certificate, and a chain from a throwaway CA, same identity. */
async function addUntrusted(m: Making): Promise<void> {
  const { subject, sans } = m;
  const rogueKeys = await generateKeyPair("ec-p256");
  const window = { notBefore: new Date(m.now - 5 * MINUTE), notAfter: new Date(m.now + HOUR) };
  const leafProfile = { kind: "leaf" as const, extKeyUsage: ["clientAuth"] };
  const selfSigned = await createCertificate({
    serial: randomSerial(),
    subject,
    ...window,
    spki: await exportSpki(rogueKeys.publicKey),
    signingKey: rogueKeys.privateKey,
    signingKeyType: "ec-p256",
    profile: leafProfile,
    sans,
  });
  m.out.byScenario["self-signed"] = { certPem: selfSigned.pem, keyPem: await pemKey(rogueKeys.privateKey) };
  const rogueCaKeys = await generateKeyPair("ec-p256");
  const rogueCa = await createCertificate({
    serial: randomSerial(),
    subject: {
      rdns: [
        ["O", "mtls probe"],
        ["CN", "untrusted probe CA"],
      ],
    },
    ...window,
    spki: await exportSpki(rogueCaKeys.publicKey),
    signingKey: rogueCaKeys.privateKey,
    signingKeyType: "ec-p256",
    profile: { kind: "root", pathLen: 0 },
  });
  const leafKeys = await generateKeyPair("ec-p256");
  const leaf = await createCertificate({
    serial: randomSerial(),
    subject,
    issuer: rogueCa,
    ...window,
    spki: await exportSpki(leafKeys.publicKey),
    signingKey: rogueCaKeys.privateKey,
    signingKeyType: "ec-p256",
    profile: leafProfile,
    sans,
  });
  m.out.byScenario["untrusted-ca"] = { certPem: leaf.pem + rogueCa.pem, keyPem: await pemKey(leafKeys.privateKey) };
}

/** Certificates from the real CA with one defect each: expired, not yet valid, wrong EKU, another identity. */
async function addMintedDefects(m: Making): Promise<void> {
  const now = m.now;
  const defects: Array<[ScenarioName, MintOptions]> = [
    ["expired", { notBefore: now - 2 * DAY, notAfter: now - DAY }],
    ["not-yet-valid", { notBefore: now + DAY, notAfter: now + 2 * DAY }],
    ["wrong-eku", { notBefore: now - 5 * MINUTE, notAfter: now + HOUR, eku: ["serverAuth"] }],
    [
      "other-identity",
      {
        notBefore: now - 5 * MINUTE,
        notAfter: now + HOUR,
        subject: {
          rdns: [
            ["O", "mtls probe"],
            ["CN", "mtls-probe-other"],
          ],
        },
        sans: dedupeSans([{ type: "uri", value: "spiffe://mtls.probe/other-identity" }]),
      },
    ],
  ];
  for (const [name, o] of defects) {
    if (!m.p.wanted.has(name)) continue;
    if (!m.caKey) m.out.skipped[name] = m.caReason || "needs the CA key";
    else if (m.ca && cappedEnd(m.ca.issuer, o) === undefined)
      m.out.skipped[name] = `the issuing CA ${m.ca.issuerRole} ends (${iso(m.ca.issuer.notAfter)}) before such a certificate would begin`;
    else m.out.byScenario[name] = chainOf(m, await mint(m, o));
  }
}

/** During a root rollover: a certificate from the hierarchy being replaced, which gateways must still accept. */
async function addPreviousHierarchy(m: Making): Promise<void> {
  const prev = m.ca && m.p.store ? previousIssuer(m.ca) : undefined;
  if (!prev || !m.p.store || !m.ca) {
    m.out.skipped["previous-hierarchy"] = m.caReason || "no root rollover in progress";
    return;
  }
  const end = cappedEnd(prev.cert, { notBefore: m.now - 5 * MINUTE, notAfter: m.now + HOUR });
  if (end === undefined || prev.cert.notAfter.getTime() <= m.now) {
    m.out.skipped["previous-hierarchy"] = `the previous hierarchy's ${prev.id} CA expired on ${iso(prev.cert.notAfter)}`;
    return;
  }
  const key = await loadKeyOf(m.p.store.pki.storage, m.ca, prev.id, m.p.passphrase);
  const keys = await generateKeyPair("ec-p256");
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: m.subject,
    issuer: prev.cert,
    notBefore: new Date(m.now - 5 * MINUTE),
    notAfter: new Date(end),
    spki: await exportSpki(keys.publicKey),
    signer: key.signer,
    signingKeyType: key.keyType,
    profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
    sans: m.sans,
  });
  m.minted.push({ serial: cert.serial, issuer: prev.id, notAfter: cert.notAfter });
  m.out.byScenario["previous-hierarchy"] = { certPem: cert.pem + prev.cert.pem, keyPem: await pemKey(keys.privateKey) };
}

/** Subjects that only look like the valid identity (see spoof.ts), each its own attempt. */
async function addSpoofs(m: Making): Promise<void> {
  if (!m.caKey) {
    m.out.skipped["identity-spoof"] = m.caReason || "needs the CA key";
    return;
  }
  const spoofSans = [{ type: "uri" as const, value: "spiffe://mtls.probe/identity-spoof" }];
  const made = [];
  for (const v of spoofSubjects(m.identity)) {
    const c = await mint(m, { notBefore: m.now - 5 * MINUTE, notAfter: m.now + HOUR, subject: v.subject, sans: spoofSans });
    made.push({ variant: v.variant, credential: chainOf(m, c) });
  }
  m.out.variants["identity-spoof"] = made;
  m.out.byScenario["identity-spoof"] = null;
}

/** The store's revoked canaries: on every CRL, and (the OCSP one) revoked at the responder only. */
async function addCanaries(m: Making): Promise<void> {
  const { p } = m;
  const canary = async (store: { pki: Pki }, certKey: string, keyKey: string, what: string): Promise<ClientCredential> => {
    const certPem = utf8(await mustGet(store.pki.storage, certKey));
    const keyPem = utf8(await mustGet(store.pki.storage, keyKey));
    const pkcs8 = await decryptKeyPemAsync(keyPem, keyPem.includes("ENCRYPTED") && p.passphrase ? await p.passphrase() : undefined, what);
    return { certPem: certPem + m.intermediates, keyPem: encodePem("PRIVATE KEY", pkcs8) };
  };
  if (p.wanted.has("revoked")) {
    if (!p.store || !p.store.config.canary) m.out.skipped.revoked = m.caReason || "this PKI has no revoked canary certificate";
    else m.out.byScenario.revoked = await canary(p.store, storeKeys.canaryCert, storeKeys.canaryKey, "the canary key");
  }
  if (p.wanted.has("ocsp-revoked")) {
    if (!p.store?.config.ocspCanary)
      m.out.skipped["ocsp-revoked"] = m.caReason || "this PKI has no OCSP canary yet: `mtls revocation serve` creates it when it first starts";
    else m.out.byScenario["ocsp-revoked"] = await canary(p.store, storeKeys.ocspCanaryCert, storeKeys.ocspCanaryKey, "the OCSP canary key");
  }
}

/** During a root rollover: the newest intermediate in service under the root being replaced. */
function previousIssuer(ca: CaCerts): CaEntry | undefined {
  const from = ca.registry.rootRollover?.from;
  if (!from) return undefined;
  return ca.all.filter((c) => c.kind === "intermediate" && c.parent === from && !c.retiredAt).at(-1);
}
