// The OCSP canary: a client certificate the responder answers "revoked" for and that no CRL ever
// lists. A gateway refuses it only if it asks the responder, so `mtls probe` can tell a gateway
// that really checks OCSP from one that only loads CRL files (where the CRL canary is refused
// either way). It is a probe instrument, not a partner: the journal and the CRLs never hold it.
import type { CaCerts, CaKey } from "../ca/material.js";
import { randomSerial } from "../ids.js";
import { encryptPkcs8, generateKeyPairDer } from "../keys.js";
import { encodePem } from "../pem.js";
import { createCertificate } from "../pki.js";
import type { Tx } from "../session.js";
import type { StoreConfig } from "../store/config.js";
import { serializeConfig } from "../store/config.js";
import { storeKeys } from "../store/keys.js";
import type { StoreReader } from "../store/storage.js";
import { iso, MINUTE } from "../time.js";

/** Whether the store still lacks its OCSP canary (or its files). */
export async function needsOcspCanary(store: StoreReader, config: StoreConfig): Promise<boolean> {
  if (!config.ocspCanary) return true;
  const present = await Promise.all(
    [storeKeys.ocspCanaryCert, storeKeys.ocspCanaryKey].map((k) =>
      store.get(k).then(
        (b) => b !== undefined,
        () => false,
      ),
    ),
  );
  return present.includes(false);
}

/** Issues the canary from the issuing CA and stages it, with the config that names it, into `tx`. */
export async function stageOcspCanary(
  p: { config: StoreConfig; ca: CaCerts; caKey: CaKey; encryptWith: string | undefined; now: Date },
  tx: Tx,
): Promise<{ serial: string }> {
  const keys = await generateKeyPairDer("ec-p256");
  const org = p.config.ca.org;
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: { rdns: [...(org ? ([["O", org]] as Array<[string, string]>) : []), ["CN", `${p.config.ca.name} OCSP canary`]] },
    issuer: p.ca.issuer,
    notBefore: new Date(p.now.getTime() - 5 * MINUTE),
    notAfter: p.ca.issuer.notAfter,
    spki: keys.spki,
    signer: p.caKey.signer,
    signingKeyType: p.caKey.keyType,
    profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
  });
  const keyPem = p.encryptWith === undefined ? encodePem("PRIVATE KEY", keys.pkcs8) : await encryptPkcs8(keys.pkcs8, p.encryptWith);
  tx.put(storeKeys.ocspCanaryKey, keyPem, { secret: true }).put(storeKeys.ocspCanaryCert, cert.pem);
  tx.put(storeKeys.config, serializeConfig({ ...p.config, ocspCanary: { serial: cert.serial, revokedAt: iso(p.now) } }));
  return { serial: cert.serial };
}
