// The files gateways and partners load, derived from the CA certificates. One place computes
// them, so `ca init`, a rollover step and `doctor --fix` always write the same bytes.
import { type CaCerts, certOf, intermediatePemOf } from "./material.js";

/**
 * ca/ca-bundle.pem: the trust anchors of every gateway. One root normally; both roots during a
 * root rollover (the dual trust bundle), oldest first.
 */
export const caBundlePem = (ca: CaCerts): string => ca.registry.trusted.map((id) => certOf(ca, id).pem).join("");

/** ca/chain.pem: the issuing chain of new certificates (intermediate, root). */
export const issuingChainPem = (ca: CaCerts): string => intermediatePemOf(ca, ca.issuerRole) + ca.root.pem;

/** certs/<serial>.chain.pem: the certificate followed by the intermediate that issued it. */
export const certChainPem = (certPem: string, ca: CaCerts, issuerId: string): string => certPem + intermediatePemOf(ca, issuerId);
