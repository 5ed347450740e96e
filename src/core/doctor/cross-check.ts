// Doctor's view of a root rollover's cross certificates (#18): each one present, signed by the
// root it names and certifying exactly the key of the CA it names; the cross bundle the sum of
// the latest rollover's for the CAs in service.
import { certOf } from "../ca/material.js";
import { crossBundleMembers } from "../ca/rollover-plan.js";
import { decodePemBlocks } from "../pem.js";
import { type CertInfo, isSignedBy, parseCertificate } from "../pki.js";
import { storeKeys } from "../store/keys.js";
import { textOf } from "./blobs.js";
import type { DoctorContext, DoctorProblem } from "./types.js";

/** What is wrong with a cross certificate, or undefined. */
async function crossProblem(ctx: DoctorContext, pem: string | undefined, subject: string, issuer: string): Promise<string | undefined> {
  if (pem === undefined) return "it is missing";
  let cert: CertInfo;
  try {
    cert = parseCertificate(decodePemBlocks(pem)[0]?.der ?? Buffer.alloc(0));
  } catch {
    return "it is not a readable certificate";
  }
  if (!cert.spki.equals(certOf(ctx.ca, subject).spki)) return `it does not certify the key of the ${subject} CA`;
  if (!(await isSignedBy(cert, certOf(ctx.ca, issuer)))) return `it is not signed by the ${issuer} CA`;
  return undefined;
}

export async function crossProblems(ctx: DoctorContext): Promise<DoctorProblem[]> {
  const crosses = ctx.ca.registry.crosses ?? [];
  if (crosses.length === 0) return [];
  const inBundle = new Set(crossBundleMembers(ctx.ca.registry).map((x) => x.file));
  const out: DoctorProblem[] = [];
  const pems: string[] = [];
  for (const x of crosses) {
    const key = storeKeys.crossFile(x.file);
    const pem = await textOf(ctx.store, key);
    const why = await crossProblem(ctx, pem, x.subject, x.issuer);
    if (why)
      out.push({
        check: "material",
        message: `${key} is damaged: ${why}`,
        hint: "restore it from your backup",
        fixable: false,
        path: ctx.store.where(key),
        key,
      });
    else if (inBundle.has(x.file)) pems.push(pem as string);
  }
  const bundle = await textOf(ctx.store, storeKeys.crossBundle);
  if (out.length === 0 && bundle !== pems.join(""))
    out.push({
      check: "material",
      message: `${storeKeys.crossBundle} does not match the cross certificates`,
      hint: "--fix writes it again from them",
      fixable: true,
      path: ctx.store.where(storeKeys.crossBundle),
      key: storeKeys.crossBundle,
      data: pems.join(""),
    });
  return out;
}
