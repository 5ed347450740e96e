// What config.json must hold to be one mtls wrote. Every command reads it first, and a setting
// that is missing, misnamed or of another kind must not be taken for an unset one: a misspelt
// `publishDir` would stop the CRL copies, a lost `canary` would make probes skip the revoked
// case, a lost `warnDays` would judge no certificate expiring. Such a file is a damaged store
// (exit 5 naming the field; `doctor` reports it). A newer format is told apart by its version,
// checked before this.
import { isCaId } from "../ca/registry.js";
import { KEY_TYPES } from "../key-types.js";
import { parsePkcs11Uri } from "../keystore/pkcs11-uri.js";
import { isObject, isStoredSerial, isStoredTime } from "./records.js";

type Ok = (v: unknown) => boolean;
/** required, check, what the value should be (for the message). */
type Field = readonly [boolean, Ok, string];
type Spec = Record<string, Field>;

const need = (ok: Ok, want: string): Field => [true, ok, want];
const may = (ok: Ok, want: string): Field => [false, ok, want];

const days =
  (min: number): Ok =>
  (v) =>
    Number.isInteger(v) && (v as number) >= min;
const nonEmpty: Ok = (v) => typeof v === "string" && v.length > 0;
const text: Ok = (v) => typeof v === "string";
const listOf =
  (ok: Ok): Ok =>
  (v) =>
    Array.isArray(v) && v.every(ok);
// Printable ASCII (it is written into certificates as an IA5String). Stores made before `ca
// policy set` normalised URLs hold them as typed, with a query or upper case; gateway config
// refuses to render one that is not plain, with the command that replaces it.
const url: Ok = (v) => typeof v === "string" && /^https?:\/\/[\x21-\x7e]+$/i.test(v);
const caId: Ok = isCaId;
const OBJECT = "an object";
const TIME = "a time";

const TOP: Spec = {
  formatVersion: need(days(1), "a format number"),
  createdAt: need(isStoredTime, TIME),
  ca: need(isObject, OBJECT),
  policy: need(isObject, OBJECT),
  crl: need(isObject, OBJECT),
  delivery: may(isObject, OBJECT),
  canary: may(isObject, OBJECT),
  ocspCanary: may(isObject, OBJECT),
  cas: may(isObject, OBJECT),
};
const CA: Spec = {
  name: need(nonEmpty, "a name"),
  org: may(text, "a name"),
  keyType: need((v) => (KEY_TYPES as readonly unknown[]).includes(v), `one of ${KEY_TYPES.join(", ")}`),
  intermediate: need((v) => typeof v === "boolean", "true or false"),
  crlUrl: may(url, "an http(s) URL"),
  ocspUrl: may(url, "an http(s) URL"),
  keyStore: may(isObject, OBJECT),
};
/** A key's RFC 7512 URI as mtls records it: a module, and the key's label or id. */
const keyUri: Ok = (v) => {
  try {
    const uri = typeof v === "string" ? parsePkcs11Uri(v, "config.json ca.keyStore") : undefined;
    return uri !== undefined && (uri.object !== undefined || uri.id !== undefined);
  } catch {
    return false;
  }
};
const POLICY: Spec = {
  defaultDays: need(days(1), "a whole number of days"),
  maxDays: need(days(1), "a whole number of days"),
  warnDays: need(days(0), "a whole number of days"),
  overlapDays: may(days(1), "a whole number of days"),
  notifyDays: may(listOf(days(1)), "a list of whole numbers of days"),
  notifyOperators: may(listOf(nonEmpty), "a list of addresses"),
};
const CRL: Spec = { validityDays: need(days(1), "a whole number of days"), publishDir: may(nonEmpty, "a directory") };
const DELIVERY: Spec = {
  signingKeyFingerprint: need((v) => typeof v === "string" && /^([0-9A-F]{40}|[0-9A-F]{64})$/.test(v), "an OpenPGP fingerprint"),
  userId: need(text, "a user id"),
};
const CANARY: Spec = { serial: need(isStoredSerial, "a hex serial"), revokedAt: need(isStoredTime, TIME) };
const REGISTRY: Spec = {
  list: need((v) => Array.isArray(v) && v.length > 0, "a list of CAs"),
  issuing: need(caId, "a CA id"),
  trusted: need((v) => Array.isArray(v) && v.length > 0, "a list of roots"),
  crosses: may(Array.isArray, "a list"),
  rootRollover: may(isObject, OBJECT),
  history: may(Array.isArray, "a list"),
};
const CA_RECORD: Spec = {
  id: need(caId, "a CA id"),
  kind: need((v) => v === "root" || v === "intermediate", '"root" or "intermediate"'),
  parent: may(caId, "a CA id"),
  createdAt: need(isStoredTime, TIME),
  retiredAt: may(isStoredTime, TIME),
};
const CROSS: Spec = {
  subject: need(caId, "a CA id"),
  issuer: need(caId, "a CA id"),
  serial: need(isStoredSerial, "a hex serial"),
  file: need((v) => typeof v === "string" && /^cross-[a-z0-9-]+\.pem$/.test(v), "a cross certificate's file name"),
};
const ROLLOVER: Spec = { from: need(caId, "a CA id"), to: need(caId, "a CA id"), startedAt: need(isStoredTime, TIME) };
const STEP: Spec = { step: need(nonEmpty, "a step"), at: need(isStoredTime, TIME), ca: need(caId, "a CA id") };

/** The first field of `v` (named from `where`) that is unknown (not `unknown`), missing or not what the spec wants. */
function fieldProblem(v: unknown, where: string, spec: Spec, unknown = "a setting mtls writes"): string | undefined {
  if (!isObject(v)) return `${where || "the file"} is not an object`;
  const at = where ? `${where}.` : "";
  for (const k of Object.keys(v)) if (!Object.hasOwn(spec, k)) return `${at}${k} is not ${unknown}`;
  for (const [k, [required, ok, want]] of Object.entries(spec)) {
    const x = v[k];
    if (x === undefined ? required : !ok(x)) return `${at}${k} is ${x === undefined ? "missing" : `not ${want}`}`;
  }
  return undefined;
}

/** fieldProblem of an optional object, when it is there. */
const ifThere = (v: unknown, where: string, spec: Spec): string | undefined => (v === undefined ? undefined : fieldProblem(v, where, spec));

const each = (list: unknown[] | undefined, where: string, spec: Spec): string | undefined => {
  for (const [i, item] of (list ?? []).entries()) {
    const bad = fieldProblem(item, `${where}[${i}]`, spec);
    if (bad) return bad;
  }
  return undefined;
};

/** Why a parsed config.json is not one this release wrote, or undefined. */
export function configProblem(c: unknown): string | undefined {
  const top = fieldProblem(c, "", TOP);
  if (top) return top;
  const v = c as Record<string, Record<string, unknown>>;
  const ca = v.ca as Record<string, unknown>;
  const policy = v.policy as { defaultDays: number; maxDays: number };
  return (
    fieldProblem(ca, "ca", CA) ??
    fieldProblem(policy, "policy", POLICY) ??
    (policy.defaultDays > policy.maxDays ? "policy.defaultDays exceeds policy.maxDays" : undefined) ??
    fieldProblem(v.crl, "crl", CRL) ??
    ifThere(v.delivery, "delivery", DELIVERY) ??
    ifThere(v.canary, "canary", CANARY) ??
    ifThere(v.ocspCanary, "ocspCanary", CANARY) ??
    (v.cas === undefined ? undefined : registryProblem(v.cas)) ??
    keyStoreProblem(v)
  );
}

/**
 * ca.keyStore maps CAs of the store (by id) to token URIs: the key of a CA it does not hold is
 * damage. Checked after the registry, whose ids it is held to.
 */
function keyStoreProblem(v: Record<string, Record<string, unknown>>): string | undefined {
  const keyStore = (v.ca as Record<string, unknown>).keyStore;
  if (keyStore === undefined) return undefined;
  const ids = v.cas ? (v.cas.list as Array<{ id: string }>).map((c) => c.id) : ["root", ...(v.ca?.intermediate ? ["intermediate"] : [])];
  const spec: Spec = Object.fromEntries(ids.map((id) => [id, may(keyUri, "a pkcs11: URI of a key")]));
  return fieldProblem(keyStore, "ca.keyStore", spec, "a CA of this store");
}

/** Why a CA registry (config.json `cas`) is not one this release wrote, or undefined. */
function registryProblem(r: Record<string, unknown>): string | undefined {
  const shape =
    fieldProblem(r, "cas", REGISTRY) ??
    each(r.list as unknown[], "cas.list", CA_RECORD) ??
    each(r.crosses as unknown[] | undefined, "cas.crosses", CROSS) ??
    ifThere(r.rootRollover, "cas.rootRollover", ROLLOVER) ??
    each(r.history as unknown[] | undefined, "cas.history", STEP);
  if (shape) return shape;
  const list = r.list as Array<{ id: string; kind: string; parent?: string }>;
  const ids = new Set<string>();
  for (const c of list) {
    if (ids.has(c.id)) return `cas.list repeats CA ${c.id}`;
    if (!c.id.startsWith(c.kind)) return `CA ${c.id} has kind ${c.kind}`;
    if (c.kind === "intermediate" && !(c.parent !== undefined && ids.has(c.parent))) return `CA ${c.id} names no earlier root as parent`;
    ids.add(c.id);
  }
  if (!ids.has(r.issuing as string)) return "cas.issuing is not one of the CAs";
  if (!(r.trusted as unknown[]).every((t) => typeof t === "string" && ids.has(t) && t.startsWith("root"))) return "cas.trusted is not a list of roots";
  for (const x of (r.crosses as Array<{ subject: string; issuer: string }> | undefined) ?? [])
    if (!ids.has(x.subject) || !ids.has(x.issuer)) return "cas.crosses names a CA that is not in cas.list";
  const roll = r.rootRollover as { from: string; to: string } | undefined;
  if (roll && !(ids.has(roll.from) && ids.has(roll.to) && roll.from.startsWith("root") && roll.to.startsWith("root")))
    return "cas.rootRollover names a root that is not in cas.list";
  if (roll && !(r.trusted as unknown[]).includes(roll.from)) return "cas.rootRollover.from is not a trusted root";
  if (roll && !(r.trusted as unknown[]).includes(roll.to)) return "cas.rootRollover.to is not a trusted root";
  if ((r.history as Array<{ ca: string }> | undefined)?.some((h) => !ids.has(h.ca))) return "cas.history names a CA that is not in cas.list";
  return undefined;
}
