// Doctor check on CA material config.json does not name: a CA certificate in ca/ or a key in
// private/ that no CA in the registry, cross certificate, canary or OCSP responder uses. An
// interrupted `ca rollover` of an earlier release left such files (a new CA signed by the root,
// recorded nowhere); the intent record keeps that from happening now (README "Durable order of
// writes"), so what is found here was left before, or put there by hand.
import { parseCertificate } from "../cert.js";
import { decodePemBlocks } from "../pem.js";
import { storeKeys } from "../store/keys.js";
import { bytesOf } from "./blobs.js";
import type { DoctorCheckDef, DoctorContext, DoctorProblem } from "./types.js";

/** Where --fix moves them: out of the names mtls loads CAs from, and still holding their CA id. */
export const UNRECORDED_DIR = "unrecorded";

/** The top-level keys of ca/ and private/ that something config.json names uses. */
function usedKeys(ctx: DoctorContext): Set<string> {
  const ids = ctx.ca.all.map((c) => c.id);
  return new Set<string>([
    ...ids.flatMap((id) => [storeKeys.caCert(id), storeKeys.caKey(id), storeKeys.ocspCert(id), storeKeys.ocspKey(id)]),
    ...(ctx.config.cas?.crosses ?? []).map((x) => storeKeys.crossFile(x.file)),
    storeKeys.caBundle,
    storeKeys.chain,
    storeKeys.crossBundle,
    storeKeys.canaryCert,
    storeKeys.canaryKey,
    storeKeys.ocspCanaryCert,
    storeKeys.ocspCanaryKey,
  ]);
}

/** Whether the PEM file's first certificate is a CA's. */
function isCaCert(bytes: Buffer, key: string): boolean {
  try {
    const block = decodePemBlocks(bytes.toString("latin1")).find((b) => b.label === "CERTIFICATE");
    return block !== undefined && parseCertificate(block.der, key).isCa;
  } catch {
    return false;
  }
}

async function unrecorded(ctx: DoctorContext): Promise<string[]> {
  const used = usedKeys(ctx);
  const top = (keys: string[]) => keys.filter((k) => k.split("/").length === 2 && !used.has(k));
  const out: string[] = [];
  for (const key of top(await ctx.store.list("ca/")).filter((k) => k.endsWith(".pem"))) {
    const bytes = await bytesOf(ctx.store, key);
    if (bytes && isCaCert(bytes, key)) out.push(key);
  }
  return [...out, ...top(await ctx.store.list("private/")).filter((k) => k.endsWith(".key"))];
}

export const unrecordedCaCheck: DoctorCheckDef = {
  name: "ca-files",
  async find(ctx) {
    const keys = await unrecorded(ctx);
    if (keys.length === 0) return [];
    const problem: DoctorProblem = {
      check: "ca-files",
      message: `CA material that config.json names nowhere (no CA, cross certificate, canary or responder uses it): ${keys.join(", ")}`,
      hint: `--fix moves it to ca/${UNRECORDED_DIR}/ and private/${UNRECORDED_DIR}/, out of the names mtls loads and never reused; look at it there, and remove it yourself once you are sure nothing needs it`,
      fixable: true,
      path: ctx.store.where(keys[0] as string),
    };
    return [{ ...problem, keys }];
  },
  fix(ctx, tx) {
    for (const p of ctx.problems)
      for (const key of p.keys ?? []) {
        const [dir, name] = key.split("/") as [string, string];
        tx.move(key, `${dir}/${UNRECORDED_DIR}/${name}`);
      }
  },
};
