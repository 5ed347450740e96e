// `mtls ca rollover intermediate | root start | root finish`: plan (rollover-plan.ts), sign,
// commit (rollover.ts). Each step is one audited transaction.
import { conflictError } from "../errors.js";
import type { CertInfo } from "../pki.js";
import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import type { StoreConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import { type CaKey, certOf } from "./material.js";
import { commitStep, describeCa, mintCa, mintCross, nextCaCerts, openForRollover, type RolloverResult } from "./rollover.js";
import { planIntermediateRollover, planRootFinish, planRootStart } from "./rollover-plan.js";

/** The distribution point names one CA's CRL: after a rollover it names the wrong one for some certificates. */
function crlUrlWarning(config: StoreConfig): string[] {
  return config.ca.crlUrl
    ? [
        `new certificates still name ${config.ca.crlUrl} as their CRL Distribution Point, which serves the issuing CA's CRL: point it at the new CA's CRL with \`mtls ca policy set --crl-url …/<new CA>.crl\` (\`mtls revocation serve\` serves /crl/<ca>.crl for every CA)`,
      ]
    : [];
}

/** `ca rollover intermediate`: a new issuing intermediate under the same root; gateways change nothing. */
export async function rolloverIntermediate(pki: Pki, p: { days: number }): Promise<RolloverResult> {
  const s = await openForRollover(pki);
  const plan = planIntermediateRollover(s.config, s.ca, s.now, p.days, s.taken);
  const parent = plan.newCa.parent as string;
  const minted = await mintCa(plan.newCa, s.config.ca.keyType, { cert: certOf(s.ca, parent), key: s.keys[parent] as CaKey });
  const next: StoreConfig = { ...s.config, cas: plan.registry };
  const ca = nextCaCerts(next, s.ca, [{ id: plan.newCa.id, cert: minted.cert }]);
  const keys = { ...s.keys, [plan.newCa.id]: minted.key };
  const done = await commitStep(pki, {
    before: s.config,
    next,
    ca,
    keys,
    protect: s.protect,
    creates: [
      { key: storeKeys.caKey(plan.newCa.id), data: await s.protect(minted.keys.privateKey), secret: true },
      { key: storeKeys.caCert(plan.newCa.id), data: minted.cert.pem },
    ],
    canary: true,
    audit: { action: "ca.rollover", outcome: "ok", serial: minted.cert.serial, details: { step: "intermediate", ca: plan.newCa.id, previous: plan.previous } },
    purpose: "ca rollover intermediate",
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
export async function startRootRollover(pki: Pki, p: { rootDays: number; intermediateDays: number }): Promise<RolloverResult> {
  const s = await openForRollover(pki);
  const plan = planRootStart(s.config, s.ca, s.now, p.rootDays, p.intermediateDays, s.taken);
  const keyType = s.config.ca.keyType;
  const root = await mintCa(plan.newRoot, keyType);
  const int = await mintCa(plan.newIntermediate, keyType, { cert: root.cert, key: root.key });
  const added = [
    { id: plan.newRoot.id, cert: root.cert },
    { id: plan.newIntermediate.id, cert: int.cert },
  ];
  const certs = new Map([...s.ca.all.map((c) => [c.id, c.cert] as const), ...added.map((a) => [a.id, a.cert] as const)]);
  const keys = { ...s.keys, [plan.newRoot.id]: root.key, [plan.newIntermediate.id]: int.key };
  const crosses: Array<{ spec: (typeof plan.crosses)[number]; cert: CertInfo }> = [];
  for (const x of plan.crosses) {
    const cert = await mintCross(x, certs.get(x.subject) as CertInfo, { cert: certs.get(x.issuer) as CertInfo, key: keys[x.issuer] as CaKey });
    crosses.push({ spec: x, cert });
  }
  const registry = {
    ...plan.registry,
    crosses: [
      ...(plan.registry.crosses ?? []),
      ...crosses.map((c) => ({ subject: c.spec.subject, issuer: c.spec.issuer, serial: c.cert.serial, file: c.spec.file })),
    ],
  };
  const next: StoreConfig = { ...s.config, cas: registry };
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
      { key: storeKeys.caKey(plan.newRoot.id), data: await s.protect(root.keys.privateKey), secret: true },
      { key: storeKeys.caKey(plan.newIntermediate.id), data: await s.protect(int.keys.privateKey), secret: true },
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
      details: { step: "root start", root: plan.newRoot.id, intermediate: plan.newIntermediate.id, previous: plan.previousRoot, crosses: crosses.length },
    },
    purpose: "ca rollover root start",
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
    warnings: [...crlUrlWarning(s.config), ...done.warnings],
  };
}

export interface FinishParams {
  /** Finish although valid certificates still chain only to the old root (they are listed). */
  force?: boolean;
}

/** `ca rollover root finish`: the old root leaves the trust bundle, its hierarchy retires. */
export async function finishRootRollover(
  pki: Pki,
  p: FinishParams,
): Promise<RolloverResult & { stranded: Array<{ serial: string; partnerId: string; issuer: string; notAfter: string }> }> {
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
    audit: {
      action: "ca.rollover",
      outcome: "ok",
      details: { step: "root finish", root: plan.to, retired: plan.retired.join(" "), forced: stranded.length > 0 },
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
  };
}
