// Why a gateway refused the valid certificate, read from the evidence the way an operator would:
// each cause comes from something observed (an alert, an HTTP status, a fact about the presented
// certificate) and names what to check. Fixed advice (missing intermediate, missing CRL) is only
// offered when the evidence is a certificate verification failure that does not say more.

import { parseCertificate } from "../cert.js";
import { decodePemBlocks } from "../pem.js";
import type { Pki } from "../session.js";
import { readIndexOf } from "../store/blobs.js";
import type { Evidence } from "./attempt.js";
import type { AttemptResult } from "./probe.js";

/** What mtls knows about the certificate presented as `valid` (with --cert: the partner's own). */
export interface PresentedCert {
  serial: string;
  subject: string;
  notAfter: Date;
  /** From this PKI's index, when the certificate is one of its own. */
  revoked?: { at?: string; reason?: string; partnerId: string };
}

/** Facts about a user-supplied certificate; undefined when mtls minted the valid one itself. */
export async function describePresented(certPem: string | undefined, store: { pki: Pki } | undefined): Promise<PresentedCert | undefined> {
  const der = certPem ? decodePemBlocks(certPem).find((b) => b.label === "CERTIFICATE")?.der : undefined;
  if (!der) return undefined;
  const leaf = parseCertificate(der, "--cert");
  const record = store
    ? (
        await readIndexOf(store.pki.storage).then(
          (s) => s.records,
          () => [],
        )
      ).find((r) => r.serial === leaf.serial)
    : undefined;
  return {
    serial: leaf.serial,
    subject: leaf.subject,
    notAfter: leaf.notAfter,
    ...(record?.status === "revoked"
      ? {
          revoked: {
            partnerId: record.partnerId,
            ...(record.revokedAt ? { at: record.revokedAt } : {}),
            ...(record.revocationReason ? { reason: record.revocationReason } : {}),
          },
        }
      : {}),
  };
}

const PROTOCOL_VERSION = 70;

/**
 * A TLS version the gateway does not offer answers every attempt with alert protocol_version
 * (nginx 1.22 offers no TLS 1.3 by default). That is a fact about the gateway, not a refused
 * certificate: its attempts are marked skipped, and the versions are returned to be reported.
 */
export function markNotOffered(attempts: AttemptResult[]): string[] {
  const versions = new Set(
    attempts.filter((a) => a.scenario === "valid" && a.observed !== "accepted" && a.evidence.alert?.code === PROTOCOL_VERSION).map((a) => a.tls),
  );
  // When no version at all was offered nothing was proven: the valid attempts keep their failure.
  const noneOffered = attempts.filter((a) => a.scenario === "valid").every((a) => versions.has(a.tls));
  for (const a of attempts) {
    if (!versions.has(a.tls) || a.evidence.alert?.code !== PROTOCOL_VERSION) continue;
    if (!(noneOffered && a.scenario === "valid")) a.verdict = "skipped";
    a.evidence = { ...a.evidence, summary: `TLS ${a.tls} not offered by the gateway (${a.evidence.summary})` };
  }
  return [...versions];
}

const VERIFY_FAILURE_ALERTS = new Set([40, 42, 43, 46, 51]);

const GENERIC = Symbol("a plain verification failure");

/** What one refusal's evidence points at: a cause, GENERIC for the checklist, or nothing to add. */
function causeOf(e: Evidence, p: PresentedCert | undefined, now: Date): string | typeof GENERIC | undefined {
  const text = e.httpText ?? "";
  if (e.httpStatus === 403 || e.httpStatus === 401)
    return `HTTP ${e.httpStatus}: the TLS handshake and the certificate were accepted, then an allow-list or authorization rule refused the identity ${p?.subject ?? "presented"}; check the gateway's allow-list (e.g. \`mtls gateway config --partner <id>\`) or its access rules for this path`;
  if (e.httpStatus === 421) return "the gateway routes by SNI/Host: pass --servername with the name it serves";
  if (e.alert?.code === 44 || /revoked/i.test(text))
    return p?.revoked
      ? undefined
      : "the gateway says the certificate is revoked: check `mtls list --status revoked` for its serial (with --cert: your certificate may have been revoked at offboarding)";
  if (e.alert?.code === 45 || /expired/i.test(text))
    return p && p.notAfter.getTime() <= now.getTime()
      ? undefined
      : "an expired CRL on the gateway: with a CRL past its nextUpdate, OpenSSL-based gateways reject every client with 'certificate expired'; check the nextUpdate of the CRL it loads, run `mtls crl publish` and reload it";
  if (e.alert?.code === 48) return "the gateway does not trust this CA (alert unknown_ca): check that its client CA file is the PKI's ca/ca-bundle.pem";
  if (e.alert?.code === 116 || /no required ssl certificate/i.test(text))
    return "the gateway did not receive the client certificate: check for a TLS-terminating proxy in front of it, or that it requests client certificates on this host";
  if (e.errno === "SERVER_CERT") return "the gateway's own certificate did not verify: pass --server-ca <its CA> (or --insecure-server)";
  if (e.errno === "ETIMEDOUT") return "no answer in time: check that the URL's path answers quickly, or raise --timeout";
  const verifyFailure =
    (e.alert && VERIFY_FAILURE_ALERTS.has(e.alert.code)) ||
    e.httpStatus === 400 ||
    e.httpStatus === 495 ||
    e.httpStatus === 496 ||
    ["EOF", "ECONNRESET", "EPIPE"].includes(e.errno ?? "");
  return verifyFailure ? GENERIC : undefined;
}

/** The checklist for a verification failure the evidence does not name. */
function verificationChecklist(p: PresentedCert | undefined, o: { servername?: string; knowsRevocations?: boolean }): string[] {
  const out: string[] = [];
  if (p && !o.knowsRevocations)
    out.push(
      `the certificate given with --cert (serial ${p.serial}) may have been revoked (at offboarding, or replaced): check its status with the CA operator`,
    );
  if (!o.servername) out.push("no SNI was sent (the target is an IP address): gateways with several virtual hosts need --servername");
  out.push("a missing intermediate on the gateway's side: check that it builds leaf → intermediate → root (mtls sends the intermediate; verify depth ≥ 2)");
  out.push(
    "no CRL loaded for some CA in the chain: check that the gateway loads crl/crl-bundle.pem (nginx wants a CRL for every CA, or it rejects with 'unable to get certificate CRL')",
  );
  out.push("the gateway's error log names the verification failure: check it for the line of this connection");
  return out;
}

/** Reads the rejection of the valid certificate; empty when it was accepted wherever it ran. */
export function likelyCauses(
  valid: AttemptResult[],
  o: {
    servername?: string;
    presented?: PresentedCert;
    now: Date;
    notOffered: string[];
    /** The presented certificate was looked up in this PKI's index. */
    knowsRevocations?: boolean;
  },
): string[] {
  const causes = new Set<string>();
  const refused = valid.filter((a) => a.verdict !== "pass" && a.verdict !== "skipped");
  if (refused.length === 0) return [];
  for (const v of o.notOffered)
    causes.add(
      `TLS ${v} not offered: the gateway answered alert protocol_version; check its protocol list (nginx ssl_protocols, HAProxy ssl-min-ver/ssl-max-ver) or probe with --tls ${v === "1.3" ? "1.2" : "1.3"}`,
    );
  const p = o.presented;
  if (p?.revoked)
    causes.add(
      `the certificate given with --cert (serial ${p.serial}) is revoked${p.revoked.at ? ` since ${p.revoked.at}` : ""}${p.revoked.reason ? ` (${p.revoked.reason})` : ""}: check \`mtls partner show ${p.revoked.partnerId}\` and issue a new certificate`,
    );
  if (p && p.notAfter.getTime() <= o.now.getTime())
    causes.add(`the certificate given with --cert (serial ${p.serial}) expired on ${p.notAfter.toISOString()}: check its notAfter and issue a new one`);
  let generic = false;
  for (const a of refused) {
    const cause = causeOf(a.evidence, p, o.now);
    if (cause === GENERIC) generic = true;
    else if (cause) causes.add(cause);
  }
  // Evidence nothing above explains still gets the verification-failure checklist.
  if (causes.size === 0) generic = true;
  if (generic && !p?.revoked) for (const c of verificationChecklist(p, o)) causes.add(c);
  return [...causes];
}
