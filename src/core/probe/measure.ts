// `probe --measure-revocation`: the number that says whether revocation really works on a
// gateway. A fresh certificate is accepted, then revoked for real (journal, CRLs, audit, the
// publish directory, the OCSP responder's next answer), and the gateway is asked again until it
// refuses it; the time from the commit to the first refusal is the measurement.
import { loadCaCerts, loadCaKeys } from "../ca/material.js";
import { copyToPublishDir, publishAudit, stagePublication } from "../crl/publish.js";
import type { Pki } from "../session.js";
import { readRevocationsOf } from "../store/blobs.js";
import { iso } from "../time.js";
import type { ClientCredential, Evidence, Observation } from "./attempt.js";

export interface RevocationMeasurement {
  serial: string;
  tls: "1.2" | "1.3";
  /** Accepted before the revocation: without that, a later refusal proves nothing. */
  acceptedBefore: boolean;
  refused: boolean;
  /** Seconds from the revocation's commit to the first refusal. */
  seconds?: number;
  /** Connections made after the revocation. */
  polls: number;
  evidence?: Evidence;
  timeoutSeconds: number;
  verdict: "pass" | "fail" | "inconclusive";
  summary: string;
}

/** Revokes a probe certificate the store never recorded as issued: journal + CRLs + audit, one commit. */
export async function revokeProbeCertificate(pki: Pki, serial: string): Promise<void> {
  const config = await pki.config();
  const ca = await loadCaCerts(pki.storage, config);
  const keys = await loadCaKeys(pki.storage, ca, pki.passphrase);
  await pki.transact(
    "cert.revoke",
    async (tx) => {
      const journal = await readRevocationsOf(tx);
      const added = [{ serial, issuer: ca.issuerRole, revokedAt: iso(tx.now), reason: "cessationOfOperation" as const, partnerId: "(probe)" }];
      const staged = await stagePublication({ config, ca, keys, journal, added, now: tx.now }, tx);
      tx.audit(
        {
          action: "cert.revoke",
          outcome: "ok",
          serial,
          partner: "(probe)",
          details: { reason: "cessationOfOperation", purpose: "probe --measure-revocation" },
        },
        publishAudit(staged),
      );
      tx.afterCommit(async () => {
        await copyToPublishDir(config, ca, staged, pki.durableStep);
      });
    },
    { purpose: "probe --measure-revocation" },
  );
}

export interface MeasureParams {
  serial: string;
  credential: ClientCredential;
  /** Per target: the TLS version to use and one connection with the given certificate. */
  targets: Array<{ tls: "1.2" | "1.3"; connect: (credential: ClientCredential) => Promise<Observation> }>;
  revoke: () => Promise<void>;
  timeoutMs: number;
  intervalMs?: number;
}

/**
 * Accept on every target, revoke once, then poll every target until it refuses or time runs
 * out. Nothing is revoked unless at least one target accepted the certificate first.
 */
export async function measureRevocation(p: MeasureParams): Promise<RevocationMeasurement[]> {
  const before = await Promise.all(p.targets.map((t) => t.connect(p.credential)));
  const out: Array<RevocationMeasurement | undefined> = before.map((b, i) =>
    b.outcome === "accepted"
      ? undefined
      : {
          serial: p.serial,
          tls: (p.targets[i] as MeasureParams["targets"][0]).tls,
          timeoutSeconds: p.timeoutMs / 1000,
          acceptedBefore: false,
          refused: false,
          polls: 0,
          evidence: b.evidence,
          verdict: "inconclusive",
          summary: `a fresh certificate was not accepted to begin with (${b.evidence.summary}), so a refusal would prove nothing`,
        },
  );
  if (out.every(Boolean)) return out as RevocationMeasurement[];
  await p.revoke();
  const revokedAt = Date.now();
  return Promise.all(out.map((m, i) => m ?? poll(p, p.targets[i] as MeasureParams["targets"][0], revokedAt)));
}

async function poll(p: MeasureParams, target: MeasureParams["targets"][0], revokedAt: number): Promise<RevocationMeasurement> {
  const base = { serial: p.serial, tls: target.tls, timeoutSeconds: p.timeoutMs / 1000 };
  let polls = 0;
  for (;;) {
    const o = await target.connect(p.credential);
    polls++;
    const elapsed = Date.now() - revokedAt;
    if (o.outcome === "rejected") {
      const seconds = Math.round(elapsed / 100) / 10;
      return {
        ...base,
        acceptedBefore: true,
        refused: true,
        seconds,
        polls,
        evidence: o.evidence,
        verdict: "pass",
        summary: `refused ${seconds} s after the revocation (${o.evidence.summary})`,
      };
    }
    if (elapsed >= p.timeoutMs)
      return {
        ...base,
        acceptedBefore: true,
        refused: false,
        polls,
        evidence: o.evidence,
        verdict: "fail",
        summary: `still accepted ${Math.round(elapsed / 1000)} s after the revocation: the gateway neither asks an OCSP responder nor reloads its CRL on its own (publish with --then "<reload>", or configure OCSP)`,
      };
    await new Promise((r) => setTimeout(r, p.intervalMs ?? 250));
  }
}
