import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type CaCerts, type CaEntry, loadCaCerts, loadIssuingKey, loadKeyOf, type PassphraseSource } from "../ca/material.js";
import { inputError } from "../errors.js";
import { randomSerial } from "../ids.js";
import { decryptKeyPemAsync, exportPkcs8, exportSpki, generateKeyPair } from "../keys.js";
import { decodePemBlocks, encodePem } from "../pem.js";
import { type CertInfo, createCertificate, type DistinguishedName, parseCertificate } from "../pki.js";
import { assertRsaKeySound } from "../rsa-key.js";
import { dedupeSans, type San } from "../sans.js";
import type { Pki } from "../session.js";
import type { Store } from "../store/store.js";
import { DAY, HOUR, MINUTE } from "../time.js";
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

/**
 * Client credentials for every scenario. Minted certificates live one hour, are never recorded
 * in the index, and carry the identity of the `valid` certificate, so the defect under test is
 * the only difference the gateway can see.
 */
export async function prepareCredentials(p: {
  store?: Store & { pki: Pki };
  passphrase?: PassphraseSource;
  user?: UserCredential;
  wanted: Set<ScenarioName>;
  /** Also load the CA key to mint a certificate to revoke (--measure-revocation). */
  mintable?: boolean;
  now: Date;
}): Promise<ProbeCredentials> {
  const byScenario: ProbeCredentials["byScenario"] = { "no-cert": null };
  const variants: ProbeCredentials["variants"] = {};
  const skipped: ProbeCredentials["skipped"] = {};
  const now = p.now.getTime();

  let ca: CaCerts | undefined;
  let caKey: Awaited<ReturnType<typeof loadIssuingKey>> | undefined;
  if (p.store) {
    ca = await loadCaCerts(p.store.layout, p.store.config);
    const needsKey =
      [...p.wanted].some((s) => ["expired", "not-yet-valid", "wrong-eku", "other-identity", "identity-spoof", "revoked"].includes(s)) || !p.user || p.mintable;
    if (needsKey) caKey = await loadIssuingKey(p.store.layout, ca, p.passphrase);
  }
  const intermediates = ca?.intermediate ? ca.intermediate.pem : "";

  // The identity every certificate carries.
  let subject: DistinguishedName = {
    rdns: [
      ["O", "mtls probe"],
      ["CN", "mtls-probe"],
    ],
  };
  let sans: San[] = [{ type: "uri", value: "spiffe://mtls.probe/valid" }];
  let identity = "mtls-probe";
  let valid: ClientCredential | undefined;
  let validLeaf: { certPem: string; keyPem: string } | undefined;
  if (p.user) {
    const blocks = decodePemBlocks(p.user.certPem).filter((b) => b.label === "CERTIFICATE");
    const leafBlock = blocks[0];
    if (!leafBlock) throw inputError("ERR_CERT_PARSE", "--cert holds no PEM certificate");
    const leaf = parseCertificate(leafBlock.der, "--cert");
    assertRsaKeySound(leaf.spki, "--cert");
    const keySpki = (() => {
      try {
        return createPublicKey(createPrivateKey(p.user.keyPem)).export({ format: "der", type: "spki" });
      } catch (err) {
        throw inputError("ERR_KEY_CORRUPT", "--key is not a readable, unencrypted private key (PEM)", undefined, err);
      }
    })();
    if (!keySpki.equals(leaf.spki)) throw inputError("ERR_KEY_MISMATCH", "--key does not belong to the certificate in --cert");
    subject = { der: leaf.subjectDer };
    sans = leaf.sans;
    identity = leaf.commonNames[0] ?? leaf.sans[0]?.value ?? identity;
    // Send the user's chain; add our intermediate when their file holds only the leaf.
    const chain = blocks.length > 1 ? p.user.certPem : leaf.pem + (ca && leaf.issuer !== ca.root.subject ? intermediates : "");
    valid = { certPem: chain, keyPem: p.user.keyPem };
    validLeaf = { certPem: leaf.pem, keyPem: p.user.keyPem };
  }

  const minted: Array<{ serial: string; issuer: CaCerts["issuerRole"]; notAfter: Date }> = [];
  const mint = async (o: {
    notBefore: number;
    notAfter: number;
    eku?: string[];
    subject?: DistinguishedName;
    sans?: San[];
  }): Promise<{ cert: CertInfo; keyPem: string }> => {
    if (!ca || !caKey) throw new Error("CA unavailable");
    const keys = await generateKeyPair("ec-p256");
    const cert = await createCertificate({
      serial: randomSerial(),
      subject: o.subject ?? subject,
      issuer: ca.issuer,
      notBefore: new Date(o.notBefore),
      notAfter: new Date(o.notAfter),
      spki: await exportSpki(keys.publicKey),
      signer: caKey.signer,
      signingKeyType: caKey.keyType,
      profile: { kind: "leaf", extKeyUsage: o.eku ?? ["clientAuth"] },
      sans: o.sans ?? sans,
    });
    minted.push({ serial: cert.serial, issuer: ca.issuerRole, notAfter: cert.notAfter });
    return { cert, keyPem: await pemKey(keys.privateKey) };
  };
  const chainOf = (c: { cert: CertInfo; keyPem: string }): ClientCredential => ({ certPem: c.cert.pem + intermediates, keyPem: c.keyPem });

  if (!valid) {
    if (!caKey)
      throw inputError(
        "ERR_PROBE_CREDENTIAL",
        "no client certificate to probe with",
        "pass --cert <chain.pem> --key <key.pem>, or run where --pki points at the home party's PKI",
      );
    const c = await mint({ notBefore: now - 5 * MINUTE, notAfter: now + HOUR });
    valid = chainOf(c);
    validLeaf = { certPem: c.cert.pem, keyPem: c.keyPem };
  }
  byScenario.valid = valid;
  byScenario["legacy-tls"] = valid;
  byScenario["missing-intermediate"] = validLeaf ?? null;

  // Untrusted: a self-signed certificate, and a chain from a throwaway CA, same identity.
  if (p.wanted.has("self-signed") || p.wanted.has("untrusted-ca")) {
    const rogueKeys = await generateKeyPair("ec-p256");
    const rogueSpki = await exportSpki(rogueKeys.publicKey);
    const window = { notBefore: new Date(now - 5 * MINUTE), notAfter: new Date(now + HOUR) };
    const selfSigned = await createCertificate({
      serial: randomSerial(),
      subject,
      ...window,
      spki: rogueSpki,
      signingKey: rogueKeys.privateKey,
      signingKeyType: "ec-p256",
      profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
      sans,
    });
    byScenario["self-signed"] = { certPem: selfSigned.pem, keyPem: await pemKey(rogueKeys.privateKey) };
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
      profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
      sans,
    });
    byScenario["untrusted-ca"] = { certPem: leaf.pem + rogueCa.pem, keyPem: await pemKey(leafKeys.privateKey) };
  }

  const caReason = p.store ? "" : "needs the CA key (probe from the home party's PKI with --pki)";
  for (const [name, make] of [
    ["expired", () => mint({ notBefore: now - 2 * DAY, notAfter: now - DAY })],
    ["not-yet-valid", () => mint({ notBefore: now + DAY, notAfter: now + 2 * DAY })],
    ["wrong-eku", () => mint({ notBefore: now - 5 * MINUTE, notAfter: now + HOUR, eku: ["serverAuth"] })],
    [
      "other-identity",
      () =>
        mint({
          notBefore: now - 5 * MINUTE,
          notAfter: now + HOUR,
          subject: {
            rdns: [
              ["O", "mtls probe"],
              ["CN", "mtls-probe-other"],
            ],
          },
          sans: dedupeSans([{ type: "uri", value: "spiffe://mtls.probe/other-identity" }]),
        }),
    ],
  ] as const) {
    if (!p.wanted.has(name)) continue;
    if (!caKey) skipped[name] = caReason || "needs the CA key";
    else byScenario[name] = chainOf(await make());
  }
  if (p.wanted.has("previous-hierarchy")) {
    const prev = ca && p.store ? previousIssuer(ca) : undefined;
    if (!prev || !p.store) skipped["previous-hierarchy"] = caReason || "no root rollover in progress";
    else {
      const key = await loadKeyOf(p.store.layout, ca as CaCerts, prev.id, p.passphrase);
      const keys = await generateKeyPair("ec-p256");
      const cert = await createCertificate({
        serial: randomSerial(),
        subject,
        issuer: prev.cert,
        notBefore: new Date(now - 5 * MINUTE),
        notAfter: new Date(now + HOUR),
        spki: await exportSpki(keys.publicKey),
        signer: key.signer,
        signingKeyType: key.keyType,
        profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
        sans,
      });
      minted.push({ serial: cert.serial, issuer: prev.id, notAfter: cert.notAfter });
      byScenario["previous-hierarchy"] = { certPem: cert.pem + prev.cert.pem, keyPem: await pemKey(keys.privateKey) };
    }
  }
  if (p.wanted.has("identity-spoof")) {
    if (!caKey) skipped["identity-spoof"] = caReason || "needs the CA key";
    else {
      const spoofSans = [{ type: "uri" as const, value: "spiffe://mtls.probe/identity-spoof" }];
      const made = [];
      for (const v of spoofSubjects(identity)) {
        const c = await mint({ notBefore: now - 5 * MINUTE, notAfter: now + HOUR, subject: v.subject, sans: spoofSans });
        made.push({ variant: v.variant, credential: chainOf(c) });
      }
      variants["identity-spoof"] = made;
      byScenario["identity-spoof"] = null;
    }
  }
  const canary = async (certPath: string, keyPath: string, what: string): Promise<ClientCredential> => {
    const certPem = await readFile(certPath, "utf8");
    const keyPem = await readFile(keyPath, "utf8");
    const pkcs8 = await decryptKeyPemAsync(keyPem, keyPem.includes("ENCRYPTED") && p.passphrase ? await p.passphrase() : undefined, what);
    return { certPem: certPem + intermediates, keyPem: encodePem("PRIVATE KEY", pkcs8) };
  };
  if (p.wanted.has("revoked")) {
    if (!p.store || !p.store.config.canary) skipped.revoked = caReason || "this PKI has no revoked canary certificate";
    else byScenario.revoked = await canary(p.store.layout.canaryCert, p.store.layout.canaryKey, "the canary key");
  }
  if (p.wanted.has("ocsp-revoked")) {
    if (!p.store?.config.ocspCanary)
      skipped["ocsp-revoked"] = caReason || "this PKI has no OCSP canary yet: `mtls revocation serve` creates it when it first starts";
    else byScenario["ocsp-revoked"] = await canary(p.store.layout.ocspCanaryCert, p.store.layout.ocspCanaryKey, "the OCSP canary key");
  }
  const store = p.store;
  if (store) await recordProbeCerts(store.pki, minted.splice(0));
  const mintFresh =
    caKey && store
      ? async () => {
          const c = await mint({ notBefore: now - 5 * MINUTE, notAfter: now + HOUR });
          await recordProbeCerts(store.pki, minted.splice(0));
          return { serial: c.cert.serial, credential: chainOf(c) };
        }
      : undefined;
  return {
    byScenario,
    variants,
    skipped,
    ...(mintFresh ? { mintFresh } : {}),
    identity: { subject: parseCertificate(decodePemBlocks(valid.certPem)[0]?.der ?? Buffer.alloc(0)).subject, sans: sans.map((s) => `${s.type}:${s.value}`) },
  };
}

/** During a root rollover: the newest intermediate in service under the root being replaced. */
function previousIssuer(ca: CaCerts): CaEntry | undefined {
  const from = ca.registry.rootRollover?.from;
  if (!from) return undefined;
  return ca.all.filter((c) => c.kind === "intermediate" && c.parent === from && !c.retiredAt).at(-1);
}
