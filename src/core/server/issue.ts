import { type CaCerts, type CaKey, loadCaCerts, loadIssuingKey } from "../ca/material.js";
import { inputError, usageError } from "../errors.js";
import { validatePartnerId } from "../ids.js";
import { chainPemFor, type IssuedFacts, issuedFacts, MAX_CSR_BYTES, uniqueSerial } from "../issue/issue.js";
import { createLeaf, keyIdentifier } from "../issue/leaf-encode.js";
import { checkKeyPolicy } from "../issue/policy.js";
import { generateKeyPairDer, type KeyType } from "../keys.js";
import { encodePem, pemOrDer } from "../pem.js";
import { type CertInfo, describeName, parseCsr } from "../pki.js";
import { canonicalSan, dedupeSans, formatSan, type San, sanProblem } from "../sans.js";
import type { Pki, Tx } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import { type CertRecord, type IndexSnapshot, stageIndex } from "../store/index-file.js";
import { storeKeys } from "../store/keys.js";
import { BACKDATE_MS, DAY, iso } from "../time.js";
import { checkNewOutput } from "../user-files.js";

import { SERVER_PREFIX } from "./prefix.js";

export { SERVER_PREFIX };

export interface ServerIssueParams {
  /** The server's name in the index (same alphabet as partner ids), e.g. "gw-prod". */
  name: string;
  dnsNames: string[];
  ips: string[];
  /** Sign this CSR (its key stays with whoever made it) instead of generating a key. */
  csr?: Uint8Array;
  csrSource?: string;
  keyType?: KeyType;
  /** Certificate + intermediate, PEM: what the gateway serves. */
  outCert: string;
  /** The generated key (0600); required unless a CSR is given. */
  outKey?: string;
  days?: number;
  force?: boolean;
}

/** The parameters with the session's time, as the steps below use them. */
type Timed = ServerIssueParams & { now: Date };

export interface ServerIssueResult extends IssuedFacts {
  serial: string;
  name: string;
  outCert: string;
  outKey?: string;
}

function serverSans(p: Timed): San[] {
  const sans: San[] = [...p.dnsNames.map((v) => ({ type: "dns" as const, value: v })), ...p.ips.map((v) => ({ type: "ip" as const, value: v }))];
  if (sans.length === 0) throw usageError("ERR_USAGE", "a server certificate needs at least one --dns or --ip", "e.g. --dns api.example.com --ip 127.0.0.1");
  for (const s of sans) {
    const problem = sanProblem(s);
    if (problem) throw usageError("ERR_SAN", `invalid ${s.type === "ip" ? "--ip" : "--dns"} "${s.value}": ${problem}`);
  }
  return dedupeSans(sans.map(canonicalSan));
}

interface ServerKey {
  spki: Buffer;
  /** Only for a generated key; it goes to --out-key and nowhere else. */
  pkcs8?: Buffer;
  keyType: string;
}

async function serverKey(p: Timed): Promise<ServerKey> {
  if (p.csr) {
    if (p.outKey) throw usageError("ERR_USAGE", "--csr and --out-key exclude each other", "the key stays with whoever made the CSR");
    const what = p.csrSource ?? "the CSR";
    if (p.csr.length > MAX_CSR_BYTES) throw inputError("ERR_CSR_TOO_LARGE", `${what} is ${p.csr.length} bytes; a CSR is at most ${MAX_CSR_BYTES}`);
    const csr = await parseCsr(pemOrDer(p.csr, ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"], what), what);
    const keyType = checkKeyPolicy(csr.spki, what);
    if (!csr.signatureValid) throw inputError("ERR_CSR_SIGNATURE", `${what} has an invalid signature`, "make a fresh CSR");
    return { spki: csr.spki, keyType };
  }
  if (!p.outKey) throw usageError("ERR_KEY_DESTINATION", "a generated server key needs a file", "pass --out-key <file> (written 0600), or --csr <file>");
  const keyType = p.keyType ?? "ec-p256";
  const keys = await generateKeyPairDer(keyType);
  return { spki: keys.spki, pkcs8: keys.pkcs8, keyType };
}

interface Signed {
  cert: CertInfo;
  record: CertRecord;
}

/** Signs the server certificate and describes it as an index record. */
async function signServer(
  p: Timed,
  name: string,
  sans: San[],
  key: ServerKey,
  days: number,
  serial: string,
  ca: CaCerts,
  caKey: CaKey,
  ctx: { crlUrl?: string },
): Promise<Signed> {
  const subject = describeName({ rdns: [["CN", sans[0]?.value ?? name]] });
  const cert = await createLeaf({
    serial,
    subjectDer: subject.der,
    subjectEmpty: false,
    subjectText: subject.text,
    commonNames: subject.commonNames,
    issuerDer: ca.issuer.subjectDer,
    issuerText: ca.issuer.subject,
    issuerKeyId: ca.issuer.subjectKeyId ?? keyIdentifier(ca.issuer.spki).toString("hex"),
    notBefore: new Date(p.now.getTime() - BACKDATE_MS),
    notAfter: new Date(p.now.getTime() + days * DAY),
    spki: key.spki,
    sans,
    extKeyUsage: ["serverAuth"],
    ...(ctx.crlUrl ? { crlUrl: ctx.crlUrl } : {}),
    signer: caKey.signer,
    ...(caKey.keyObject ? { signingKeyObject: caKey.keyObject } : {}),
    signingKeyType: caKey.keyType,
  });
  const record: CertRecord = {
    serial,
    partnerId: `${SERVER_PREFIX}${name}`,
    kind: "server",
    subject: cert.subject,
    sans: cert.sans.map(formatSan),
    keyType: key.keyType,
    notBefore: iso(cert.notBefore),
    notAfter: iso(cert.notAfter),
    issuedAt: iso(p.now),
    fingerprint: cert.fingerprint,
    source: key.pkcs8 ? "generated" : "csr",
    issuer: ca.issuerRole,
    certPath: storeKeys.certFile(serial),
    status: "valid",
    serverCertPath: p.outCert,
    ...(p.outKey ? { serverKeyPath: p.outKey } : {}),
  };
  return { cert, record };
}

/** The store writes, and the key file and the served chain in the same commit, once the store holds the certificate (Tx.writeFile). */
function stageServerCert(tx: Tx, p: Timed, s: Signed, key: ServerKey, ca: CaCerts, snap: IndexSnapshot): void {
  if (p.outKey && key.pkcs8) tx.writeFile(p.outKey, encodePem("PRIVATE KEY", key.pkcs8), { mode: 0o600, exclusive: !p.force });
  tx.writeFile(p.outCert, chainPemFor(s.cert, ca), { exclusive: !p.force });
  tx.put(storeKeys.certFile(s.record.serial), s.cert.pem, { exclusive: true }).put(storeKeys.chainFile(s.record.serial), chainPemFor(s.cert, ca), {
    exclusive: true,
  });
  const details = { kind: "server", source: s.record.source, notAfter: s.record.notAfter };
  tx.audit({ action: "cert.issue", outcome: "ok", serial: s.record.serial, partner: s.record.partnerId, details });
  stageIndex(tx, snap, [s.record]);
}

/** `mtls server issue`: the gateway's own certificate (serverAuth only), from the same issuing CA. */
export async function issueServerCert(pki: Pki, params: ServerIssueParams): Promise<ServerIssueResult> {
  const p: Timed = { ...params, now: pki.now };
  const name = validatePartnerId(p.name, "server name");
  const sans = serverSans(p);
  const config = await pki.config();
  const days = p.days ?? config.policy.defaultDays;
  if (!Number.isInteger(days) || days < 1 || days > config.policy.maxDays)
    throw inputError("ERR_POLICY_VALIDITY", `invalid validity ${days} days: 1 to ${config.policy.maxDays} (this CA's maximum)`);
  for (const out of [p.outCert, p.outKey]) {
    if (out) await checkNewOutput(out, p.force);
  }
  const key = await serverKey(p);
  const ca = await loadCaCerts(pki.storage, config);
  if (p.now.getTime() + days * DAY > ca.issuer.notAfter.getTime())
    throw inputError("ERR_POLICY_VALIDITY", `a ${days}-day certificate would outlive the issuing CA (valid until ${iso(ca.issuer.notAfter)})`);
  const caKey = await loadIssuingKey(pki.storage, ca, pki.passphrase);
  return pki.transact(
    "cert.issue",
    async (tx) => {
      const snap = await readIndexOf(tx);
      const serial = uniqueSerial(new Set(snap.records.map((r) => r.serial)));
      const signed = await signServer(p, name, sans, key, days, serial, ca, caKey, { ...(config.ca.crlUrl ? { crlUrl: config.ca.crlUrl } : {}) });
      stageServerCert(tx, p, signed, key, ca, snap);
      const { record } = signed;
      return {
        serial,
        name,
        ...issuedFacts(record, (k) => pki.storage.where(k)),
        outCert: p.outCert,
        ...(p.outKey ? { outKey: p.outKey } : {}),
      };
    },
    { purpose: "server issue" },
  );
}
