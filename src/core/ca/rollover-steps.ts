// `mtls ca rollover intermediate | root start | root finish`: plan (rollover-plan.ts), sign,
// commit (rollover.ts). Each step is one audited transaction.
import { conflictError } from "../errors.js";
import type { TokenAccess } from "../keystore/access.js";
import type { CertInfo } from "../pki.js";
import type { Pki } from "../session.js";
import { getText, mustGet, readIndexOf, utf8 } from "../store/blobs.js";
import { keyStoreFormat, type StoreConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import { iso } from "../time.js";
import { checkTokenKeyType, parseTokenFlag } from "./init-keys.js";
import { type CaKey, type CaKeys, certOf } from "./material.js";
import { commitStep, describeCa, discardMinted, mintCa, mintCross, newKeyToken, nextCaCerts, openForRollover, type RolloverResult } from "./rollover.js";
import { type CrossSpec, crossBundleMembers, planIntermediateRollover, planRootFinish, planRootStart } from "./rollover-plan.js";

/** The distribution point names one CA's CRL: after a rollover it names the wrong one for some certificates. */
function crlUrlWarning(config: StoreConfig): string[] {
  return config.ca.crlUrl
    ? [
        `new certificates still name ${config.ca.crlUrl} as their CRL Distribution Point, which serves the issuing CA's CRL: point it at the new CA's CRL with \`mtls ca policy set --crl-url …/<new CA>.crl\` (\`mtls revocation serve\` serves /crl/<ca>.crl for every CA)`,
      ]
    : [];
}

/** The key file of a new CA, or nothing for a key that a token holds. */
async function keyFile(id: string, minted: { privateKey?: CryptoKey }, protect: (key: CryptoKey) => Promise<string>) {
  return minted.privateKey ? [{ key: storeKeys.caKey(id), data: await protect(minted.privateKey), secret: true }] : [];
}

/** config.json with the token URIs of new CA keys (a file key has none). */
function withTokenKeys(config: StoreConfig, minted: Array<[string, { uri?: string }]>): StoreConfig {
  const uris = minted.filter(([, m]) => m.uri !== undefined);
  if (uris.length === 0) return config;
  const keyStore = { ...config.ca.keyStore, ...Object.fromEntries(uris.map(([id, m]) => [id, m.uri as string])) };
  return { ...config, formatVersion: keyStoreFormat(config.formatVersion, keyStore), ca: { ...config.ca, keyStore } };
}

/** Where a new key is, for the audit record: a token key's URI. */
const keyUriDetails = (name: string, minted: { uri?: string }) => (minted.uri ? { [name]: minted.uri } : {});

/** Where new CA keys go (#20): `keyStore` is --key-store, `rootKeyStore` --root-key-store (root start only). */
export interface NewKeyOptions {
  keyStore?: string;
  rootKeyStore?: string;
}

/** Bad token flags are refused before the CA keys are unlocked; tokens hold EC keys only. */
async function checkKeyFlags(pki: Pki, p: NewKeyOptions): Promise<void> {
  if (p.keyStore !== undefined) parseTokenFlag(p.keyStore, "--key-store");
  if (p.rootKeyStore !== undefined) parseTokenFlag(p.rootKeyStore, "--root-key-store");
  if (p.keyStore === undefined && p.rootKeyStore === undefined) return;
  const { keyType } = (await pki.config()).ca;
  checkTokenKeyType(keyType, `this CA's keys are ${keyType}, which stay in files: leave out --key-store and --root-key-store`);
}

/** `ca rollover intermediate`: a new issuing intermediate under the same root; gateways keep their CA bundle and reload the CRLs. */
export async function rolloverIntermediate(pki: Pki, p: { days: number } & NewKeyOptions): Promise<RolloverResult> {
  await checkKeyFlags(pki, p);
  const s = await openForRollover(pki);
  const plan = planIntermediateRollover(s.config, s.ca, s.now, p.days, s.taken);
  const parent = plan.newCa.parent as string;
  const access = pki.passphrase?.tokens;
  const token = newKeyToken(s.config, plan.previous, p.keyStore, "--key-store", access);
  const minted = await mintCa(plan.newCa, s.config.ca.keyType, { cert: certOf(s.ca, parent), key: s.keys[parent] as CaKey }, token);
  const r = await committing(pki, [minted], access, (onCommitted) => commitIntermediate(pki, s, plan, minted, onCommitted));
  // A gateway that checks the CRL of every CA in a chain (nginx, HAProxy, Apache) refuses the
  // new intermediate's certificates until it has loaded the bundle that holds its CRL.
  r.warnings.push(
    `the CRL bundle now holds ${plan.newCa.id}'s CRL: reload it at every gateway that checks CRLs before partners use certificates from ${plan.newCa.id}, which are refused until then ("unable to get certificate CRL"); the CA bundle is unchanged`,
  );
  return r;
}

/**
 * Runs a step's commit. The token keys it made are removed when it fails before the store
 * recorded them; once recorded, a key is its new CA's, whatever fails after.
 */
async function committing<T>(
  pki: Pki,
  minted: Array<{ uri?: string }>,
  access: TokenAccess | undefined,
  run: (onCommitted: () => void) => Promise<T>,
): Promise<T> {
  let committed = false;
  try {
    return await run(() => {
      committed = true;
    });
  } catch (err) {
    // A commit whose outcome is unknown (a lost reply from the database) may have recorded a
    // key: config.json as stored now decides, and a key it names stays.
    const recorded = committed ? undefined : await getText(pki.storage, storeKeys.config).catch(() => undefined);
    if (recorded !== undefined)
      await discardMinted(
        minted.filter((m) => m.uri !== undefined && !recorded.includes(JSON.stringify(m.uri))),
        access,
      );
    throw err;
  }
}

/** The store as a step found it, and a CA it made. */
type Opened = Awaited<ReturnType<typeof openForRollover>>;
type Minted = Awaited<ReturnType<typeof mintCa>>;

async function commitIntermediate(
  pki: Pki,
  s: Opened,
  plan: ReturnType<typeof planIntermediateRollover>,
  minted: Minted,
  onCommitted: () => void,
): Promise<RolloverResult> {
  const next: StoreConfig = withTokenKeys({ ...s.config, cas: plan.registry }, [[plan.newCa.id, minted]]);
  const ca = nextCaCerts(next, s.ca, [{ id: plan.newCa.id, cert: minted.cert }]);
  const keys = { ...s.keys, [plan.newCa.id]: minted.key };
  const done = await commitStep(pki, {
    before: s.config,
    next,
    ca,
    keys,
    protect: s.protect,
    creates: [...(await keyFile(plan.newCa.id, minted, s.protect)), { key: storeKeys.caCert(plan.newCa.id), data: minted.cert.pem }],
    canary: true,
    audit: {
      action: "ca.rollover",
      outcome: "ok",
      serial: minted.cert.serial,
      details: { step: "intermediate", ca: plan.newCa.id, previous: plan.previous, ...keyUriDetails("keyUri", minted) },
    },
    purpose: "ca rollover intermediate",
    onCommitted,
  });
  return {
    step: "intermediate",
    created: [describeCa(plan.newCa.id, minted.cert, s.store.where(storeKeys.caCert(plan.newCa.id)))],
    crosses: [],
    issuing: plan.newCa.id,
    trusted: plan.registry.trusted,
    caBundlePath: s.store.where(storeKeys.caBundle),
    ...done,
    warnings: [...crlUrlWarning(s.config), ...done.warnings],
  };
}

/** `ca rollover root start`: new root and intermediate, cross certificates, the dual trust bundle. */
export async function startRootRollover(pki: Pki, p: { rootDays: number; intermediateDays: number } & NewKeyOptions): Promise<RolloverResult> {
  await checkKeyFlags(pki, p);
  const s = await openForRollover(pki);
  const plan = planRootStart(s.config, s.ca, s.now, p.rootDays, p.intermediateDays, s.taken);
  const keyType = s.config.ca.keyType;
  const access = pki.passphrase?.tokens;
  // Unlike `ca init`, --key-store does not take the root along: a new root goes where the old
  // one is (an offline token stays offline) unless --root-key-store says otherwise.
  const rootToken = newKeyToken(s.config, plan.previousRoot, p.rootKeyStore, "--root-key-store", access);
  const intToken = newKeyToken(s.config, s.ca.issuerRole, p.keyStore, "--key-store", access);
  const root = await mintCa(plan.newRoot, keyType, undefined, rootToken);
  const int = await mintCa(plan.newIntermediate, keyType, { cert: root.cert, key: root.key }, intToken).catch(async (err) => {
    await discardMinted([root], access);
    throw err;
  });
  return committing(pki, [root, int], access, (onCommitted) => commitRootStart(pki, s, plan, root, int, onCommitted));
}

/** The cross certificates a root rollover plans, each signed by its issuer's key. */
async function mintCrosses(specs: CrossSpec[], cas: Array<{ id: string; cert: CertInfo }>, keys: CaKeys) {
  const certs = new Map(cas.map((c) => [c.id, c.cert] as const));
  const crosses: Array<{ spec: CrossSpec; cert: CertInfo }> = [];
  for (const x of specs) {
    const cert = await mintCross(x, certs.get(x.subject) as CertInfo, { cert: certs.get(x.issuer) as CertInfo, key: keys[x.issuer] as CaKey });
    crosses.push({ spec: x, cert });
  }
  return crosses;
}

async function commitRootStart(
  pki: Pki,
  s: Opened,
  plan: ReturnType<typeof planRootStart>,
  root: Minted,
  int: Minted,
  onCommitted: () => void,
): Promise<RolloverResult> {
  const added = [
    { id: plan.newRoot.id, cert: root.cert },
    { id: plan.newIntermediate.id, cert: int.cert },
  ];
  const keys = { ...s.keys, [plan.newRoot.id]: root.key, [plan.newIntermediate.id]: int.key };
  const crosses = await mintCrosses(plan.crosses, [...s.ca.all, ...added], keys);
  const registry = {
    ...plan.registry,
    crosses: [
      ...(plan.registry.crosses ?? []),
      ...crosses.map((c) => ({ subject: c.spec.subject, issuer: c.spec.issuer, serial: c.cert.serial, file: c.spec.file })),
    ],
  };
  const next: StoreConfig = withTokenKeys({ ...s.config, cas: registry }, [
    [plan.newRoot.id, root],
    [plan.newIntermediate.id, int],
  ]);
  const ca = nextCaCerts(next, s.ca, added);
  const where = (key: string) => s.store.where(key);
  const crossBundle = crosses.map((c) => c.cert.pem).join("");
  const done = await commitStep(pki, {
    before: s.config,
    next,
    ca,
    keys,
    protect: s.protect,
    creates: [
      ...(await keyFile(plan.newRoot.id, root, s.protect)),
      ...(await keyFile(plan.newIntermediate.id, int, s.protect)),
      { key: storeKeys.caCert(plan.newRoot.id), data: root.cert.pem },
      { key: storeKeys.caCert(plan.newIntermediate.id), data: int.cert.pem },
      ...crosses.map((c) => ({ key: storeKeys.crossFile(c.spec.file), data: c.cert.pem })),
    ],
    puts: [{ key: storeKeys.crossBundle, data: crossBundle }],
    canary: true,
    audit: {
      action: "ca.rollover",
      outcome: "ok",
      serial: root.cert.serial,
      details: {
        step: "root start",
        root: plan.newRoot.id,
        intermediate: plan.newIntermediate.id,
        previous: plan.previousRoot,
        crosses: crosses.length,
        ...keyUriDetails("rootKeyUri", root),
        ...keyUriDetails("intermediateKeyUri", int),
      },
    },
    purpose: "ca rollover root start",
    onCommitted,
  });
  return {
    step: "root start",
    created: added.map((a) => describeCa(a.id, a.cert, where(storeKeys.caCert(a.id)))),
    crosses: crosses.map((c) => ({
      ...describeCa(c.spec.file.replace(/\.pem$/, ""), c.cert, where(storeKeys.crossFile(c.spec.file))),
      subjectCa: c.spec.subject,
      issuerCa: c.spec.issuer,
    })),
    issuing: plan.newIntermediate.id,
    trusted: registry.trusted,
    caBundlePath: where(storeKeys.caBundle),
    ...done,
    warnings: [...crlUrlWarning(s.config), ...skippedCrossWarnings(plan.skipped), ...done.warnings],
  };
}

/** A cross that would end before it began is not signed; the operator hears which and why. */
function skippedCrossWarnings(skipped: ReturnType<typeof planRootStart>["skipped"]): string[] {
  return skipped.map(
    (x) =>
      `no cross certificate for ${x.subject} signed by ${x.issuer}: the ${x.expired} CA expired on ${iso(x.expiredAt)}, and a cross certificate may not outlive it`,
  );
}

export interface FinishParams {
  /** Finish although valid certificates still chain only to the old root (they are listed). */
  force?: boolean;
}

/** `ca rollover root finish`: the old root leaves the trust bundle, its hierarchy retires. */
export async function finishRootRollover(
  pki: Pki,
  p: FinishParams,
): Promise<
  RolloverResult & {
    stranded: Array<{ serial: string; partnerId: string; issuer: string; notAfter: string }>;
    /** The new root's cross certificates for the retired CAs, revoked on its CRL and out of ca/cross-bundle.pem. */
    revokedCrosses: Array<{ serial: string; subjectCa: string; issuerCa: string; certPath: string }>;
  }
> {
  const s = await openForRollover(pki);
  const plan = planRootFinish(s.config, (await readIndexOf(s.store)).records, s.now);
  const stranded = plan.stranded.map((r) => ({ serial: r.serial, partnerId: r.partnerId, issuer: r.issuer, notAfter: r.notAfter }));
  if (stranded.length && !p.force) {
    const shown = stranded
      .slice(0, 5)
      .map((r) => `${r.partnerId} ${r.serial}`)
      .join(", ");
    throw conflictError(
      "ERR_ROLLOVER_PENDING",
      `${stranded.length} valid certificate(s) still chain only to the old root ${plan.from}: ${shown}${stranded.length > 5 ? ", …" : ""}`,
      "rotate them first (`mtls ca rollover status` lists them), or pass --force to cut them off",
    );
  }
  const next: StoreConfig = { ...s.config, cas: plan.registry };
  const ca = nextCaCerts(next, s.ca, []);
  const done = await commitStep(pki, {
    before: s.config,
    next,
    ca,
    keys: s.keys,
    protect: s.protect,
    creates: [],
    puts: plan.registry.crosses?.length ? [{ key: storeKeys.crossBundle, data: await crossBundleOf(s.store, plan.registry) }] : [],
    // cessationOfOperation (RFC 5280 §5.3.1): the cross was made for the rollover, which is
    // over, and no key is suspected; superseded would say another certificate replaces it.
    revocations: plan.withdrawn.map((x) => ({
      serial: x.serial,
      issuer: x.issuer,
      revokedAt: iso(s.now),
      reason: "cessationOfOperation",
      partnerId: "(cross)",
    })),
    audit: {
      action: "ca.rollover",
      outcome: "ok",
      details: {
        step: "root finish",
        root: plan.to,
        retired: plan.retired.join(" "),
        forced: stranded.length > 0,
        crossesRevoked: plan.withdrawn.map((x) => x.serial).join(" "),
      },
    },
    purpose: "ca rollover root finish",
  });
  const warnings = stranded.length
    ? [`--force: ${stranded.length} valid certificate(s) of the old hierarchy are no longer accepted by gateways that load the new bundle`]
    : [];
  return {
    step: "root finish",
    created: [],
    crosses: [],
    issuing: plan.registry.issuing,
    trusted: plan.registry.trusted,
    caBundlePath: s.store.where(storeKeys.caBundle),
    ...done,
    warnings: [...warnings, ...done.warnings],
    stranded,
    revokedCrosses: plan.withdrawn.map((x) => ({
      serial: x.serial,
      subjectCa: x.subject,
      issuerCa: x.issuer,
      certPath: s.store.where(storeKeys.crossFile(x.file)),
    })),
  };
}

/** ca/cross-bundle.pem for a registry: the cross certificates it holds, read from their files. */
async function crossBundleOf(store: Opened["store"], reg: NonNullable<StoreConfig["cas"]>): Promise<string> {
  const pems: string[] = [];
  for (const x of crossBundleMembers(reg)) pems.push(utf8(await mustGet(store, storeKeys.crossFile(x.file))));
  return pems.join("");
}
