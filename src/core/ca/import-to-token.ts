// `mtls ca key import-to-token`: moves an existing CA key from its encrypted file into a PKCS#11
// token. Explicit by design: the key was once on disk, so whoever had the file and the
// passphrase had the CA; the file is removed only when asked (--remove-file-key).
import { conflictError, usageError } from "../errors.js";
import type { TokenAccess } from "../keystore/access.js";
import { type CaRole, openTokenCaKey } from "../keystore/key-store.js";
import { formatPkcs11Uri, type Pkcs11Uri, parsePkcs11Uri } from "../keystore/pkcs11-uri.js";
import type { Pki } from "../session.js";
import { serializeConfig } from "../store/config.js";
import { removeKeyFile } from "../store/key-files.js";
import { storeKeys } from "../store/keys.js";
import type { Storage } from "../store/storage.js";
import { type CaCerts, loadCaCerts, loadCaKey } from "./material.js";

export interface ImportToTokenParams {
  /** The token (RFC 7512 URI without object/id). */
  keyStore: string;
  /** Which CA keys; default every CA key still in a file. */
  roles?: CaRole[];
  removeFileKey: boolean;
  tokens: TokenAccess;
}

export interface ImportToTokenResult {
  imported: Array<{ role: CaRole; keyUri: string; fileRemoved: boolean; keyPath: string }>;
  warnings: string[];
}

function tokenOf(text: string): Pkcs11Uri {
  const uri = parsePkcs11Uri(text, "--key-store");
  if (uri.object !== undefined || uri.id !== undefined)
    throw usageError("ERR_PKCS11_URI", "--key-store names a token, not a key: leave out object= and id= (mtls names the keys it imports)");
  return uri;
}

const keyOf = (role: CaRole) => (role === "root" ? storeKeys.rootKey : storeKeys.intermediateKey);
/**
 * The CA of that id: the hierarchy `ca init` made. After a rollover ca.root and ca.intermediate
 * are the issuing hierarchy's (root-2, intermediate-2 …), whose keys are in private/<id>.key;
 * the key store holds only these two ids' keys.
 */
const entryOf = (ca: CaCerts, role: CaRole) => ca.all.find((c) => c.id === role);
const certOf = (ca: CaCerts, role: CaRole) => entryOf(ca, role)?.cert;

/** Which roles to move: each must have a certificate, be in service and have a key that is still a file. */
function chooseRoles(ca: CaCerts, asked: CaRole[] | undefined): CaRole[] {
  const all = (["root", "intermediate"] as const).filter((r) => entryOf(ca, r) && !entryOf(ca, r)?.retiredAt);
  const roles = asked ?? all.filter((r) => ca.keyStore?.[r] === undefined);
  for (const r of roles) {
    if (!certOf(ca, r)) throw usageError("ERR_NO_INTERMEDIATE", `this CA has no ${r}`, "use --role root");
    if (entryOf(ca, r)?.retiredAt)
      throw conflictError("ERR_CA_RETIRED", `the ${r} CA was retired by a root rollover: it signs nothing any more`, "nothing to import");
    if (ca.keyStore?.[r] !== undefined)
      throw conflictError("ERR_KEY_IN_TOKEN", `the ${r} CA key is already in a token (${ca.keyStore[r]})`, "nothing to import");
  }
  if (roles.length === 0)
    throw conflictError(
      "ERR_KEY_IN_TOKEN",
      all.length ? "every CA key is already in a token" : "the CAs whose keys a token can hold (root, intermediate) were retired by a root rollover",
      "nothing to import",
    );
  return roles;
}

/**
 * Imports the CA keys into the token as non-extractable, sensitive objects, proves each signs for
 * its certificate, then records the URIs in config.json (audited) in one transaction. When the
 * transaction fails, what was put in the token is removed again; the store is unchanged.
 */
export async function importCaKeyToToken(pki: Pki, p: ImportToTokenParams): Promise<ImportToTokenResult> {
  const token = tokenOf(p.keyStore);
  await pki.config();
  const sessions = await p.tokens.sessions();
  const done: Array<{ role: CaRole; uri: Pkcs11Uri }> = [];
  let issuing = "";
  try {
    await pki.transact(
      "ca.key.import-to-token",
      async (tx) => {
        const config = await tx.config();
        const ca = await loadCaCerts(tx, config);
        issuing = ca.issuerRole;
        for (const role of chooseRoles(ca, p.roles)) {
          const cert = certOf(ca, role) as CaCerts["root"];
          const file = await loadCaKey(tx, keyOf(role), cert, pki.passphrase, `the ${role} CA key`);
          if (!file.keyType.startsWith("ec-"))
            throw usageError("ERR_PKCS11_KEY_TYPE", `the ${role} CA key is ${file.keyType}: mtls keeps only EC P-256/P-384 keys in tokens`);
          const jwk = file.keyObject?.export({ format: "jwk" }) as { d: string; x: string; y: string };
          const uri = await sessions.importEc(token, file.keyType, role, jwk, p.tokens.pin);
          done.push({ role, uri });
          await openTokenCaKey(p.tokens, uri, cert, `the ${role} CA key`);
        }
        const next = { ...config, ca: { ...config.ca, keyStore: { ...config.ca.keyStore } } };
        for (const d of done) next.ca.keyStore[d.role] = formatPkcs11Uri(d.uri);
        tx.put(storeKeys.config, serializeConfig(next));
        const details = Object.fromEntries(done.map((d) => [`${d.role}KeyUri`, formatPkcs11Uri(d.uri)]));
        tx.audit({ action: "ca.key.import-to-token", outcome: "ok", details: { ...details, removeFileKey: p.removeFileKey } });
      },
      { purpose: "ca key import-to-token" },
    );
  } catch (err) {
    for (const d of done) await sessions.discard(d.uri, p.tokens.pin);
    throw err;
  }
  const result = await removeFiles(pki.storage, done, p.removeFileKey);
  if (issuing !== "root" && issuing !== "intermediate")
    result.warnings.push(
      `the issuing CA ${issuing} (made by a rollover) keeps its key in ${pki.storage.where(storeKeys.caKey(issuing))}: a token holds the keys of the first root and intermediate only`,
    );
  return result;
}

/** After the commit: the token key is in use; a file that cannot be removed is a warning. */
async function removeFiles(storage: Storage, done: Array<{ role: CaRole; uri: Pkcs11Uri }>, remove: boolean): Promise<ImportToTokenResult> {
  const warnings: string[] = [];
  const imported: ImportToTokenResult["imported"] = [];
  for (const d of done) {
    const keyPath = storage.where(keyOf(d.role));
    let fileRemoved = false;
    if (remove) {
      const failed = await removeKeyFile(storage, keyOf(d.role));
      if (failed) warnings.push(`${failed}: remove it by hand`);
      fileRemoved = !failed;
    }
    imported.push({ role: d.role, keyUri: formatPkcs11Uri(d.uri), fileRemoved, keyPath });
  }
  warnings.push(
    remove
      ? "the key files are removed, but copies may remain in backups and version control: treat anyone who had them and the passphrase as holding the CA key"
      : "the key files are still in private/ (mtls now signs with the token): remove them with --remove-file-key once the token is backed up",
  );
  return { imported, warnings };
}
