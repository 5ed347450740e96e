// `mtls ca key import-to-token`: moves an existing CA key from its encrypted file into a PKCS#11
// token. Explicit by design: the key was once on disk, so whoever had the file and the
// passphrase had the CA; the file is removed only when asked (--remove-file-key).
import { conflictError, usageError } from "../errors.js";
import type { TokenAccess } from "../keystore/access.js";
import { openTokenCaKey } from "../keystore/key-store.js";
import { formatPkcs11Uri, type Pkcs11Uri } from "../keystore/pkcs11-uri.js";
import type { Pki } from "../session.js";
import { keyStoreFormat, serializeConfig } from "../store/config.js";
import { removeKeyFile } from "../store/key-files.js";
import { storeKeys } from "../store/keys.js";
import type { Storage } from "../store/storage.js";
import { parseTokenFlag } from "./init-keys.js";
import { type CaCerts, type CaEntry, loadCaCerts, loadCaKey, tokenUriOf } from "./material.js";
import { type CaId, isCaId } from "./registry.js";

export interface ImportToTokenParams {
  /** The token (RFC 7512 URI without object/id). */
  keyStore: string;
  /** Which CA keys, by CA id; default every key of a CA in service that is still a file. */
  roles?: CaId[];
  removeFileKey: boolean;
  tokens: TokenAccess;
}

export interface ImportToTokenResult {
  imported: Array<{ role: CaId; keyUri: string; fileRemoved: boolean; keyPath: string }>;
  warnings: string[];
}

const entryOf = (ca: CaCerts, id: CaId) => ca.all.find((c) => c.id === id);

/** Which CAs' keys to move: each must be a CA of the store, in service, with a key that is still a file. */
function chooseRoles(ca: CaCerts, asked: CaId[] | undefined): CaEntry[] {
  const inService = ca.all.filter((c) => !c.retiredAt).map((c) => c.id);
  const roles = asked ?? inService.filter((id) => tokenUriOf(ca.keyStore, id) === undefined);
  for (const r of roles) {
    if (!isCaId(r))
      throw usageError(
        "ERR_USAGE",
        `--role ${JSON.stringify(r)} is not a CA id`,
        "use root, intermediate, a CA id `mtls ca show` lists (e.g. intermediate-2), or all",
      );
    const entry = entryOf(ca, r);
    if (!entry)
      throw usageError(
        r === "intermediate" ? "ERR_NO_INTERMEDIATE" : "ERR_CA_UNKNOWN",
        `this PKI has no CA "${r}"`,
        `use --role with one of ${inService.join(", ")} (\`mtls ca show\` lists them)`,
      );
    if (entry.retiredAt) throw conflictError("ERR_CA_RETIRED", `the ${r} CA was retired by a root rollover: it signs nothing any more`, "nothing to import");
    const uri = tokenUriOf(ca.keyStore, r);
    if (uri !== undefined) throw conflictError("ERR_KEY_IN_TOKEN", `the ${r} CA key is already in a token (${uri})`, "nothing to import");
  }
  if (roles.length === 0) throw conflictError("ERR_KEY_IN_TOKEN", "every CA key in service is already in a token", "nothing to import");
  return roles.map((r) => entryOf(ca, r) as CaEntry);
}

/**
 * Imports the CA keys into the token as non-extractable, sensitive objects, proves each signs for
 * its certificate, then records the URIs in config.json (audited) in one transaction. When the
 * transaction fails, what was put in the token is removed again; the store is unchanged.
 */
export async function importCaKeyToToken(pki: Pki, p: ImportToTokenParams): Promise<ImportToTokenResult> {
  const token = parseTokenFlag(p.keyStore, "--key-store");
  await pki.config();
  const sessions = await p.tokens.sessions();
  const done: Array<{ role: CaId; uri: Pkcs11Uri }> = [];
  try {
    await pki.transact(
      "ca.key.import-to-token",
      async (tx) => {
        const config = await tx.config();
        const ca = await loadCaCerts(tx, config);
        for (const { id: role, cert } of chooseRoles(ca, p.roles)) {
          const file = await loadCaKey(tx, storeKeys.caKey(role), cert, pki.passphrase, `the ${role} CA key`);
          if (!file.keyType.startsWith("ec-"))
            throw usageError("ERR_PKCS11_KEY_TYPE", `the ${role} CA key is ${file.keyType}: mtls keeps only EC P-256/P-384 keys in tokens`);
          const jwk = file.keyObject?.export({ format: "jwk" }) as { d: string; x: string; y: string };
          const uri = await sessions.importEc(token, file.keyType, role, jwk, p.tokens.pin);
          done.push({ role, uri });
          await openTokenCaKey(p.tokens, uri, cert, `the ${role} CA key`);
        }
        const next = { ...config, ca: { ...config.ca, keyStore: { ...config.ca.keyStore } } };
        for (const d of done) next.ca.keyStore[d.role] = formatPkcs11Uri(d.uri);
        next.formatVersion = keyStoreFormat(next.formatVersion, next.ca.keyStore);
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
  return removeFiles(pki.storage, done, p.removeFileKey);
}

/** After the commit: the token key is in use; a file that cannot be removed is a warning. */
async function removeFiles(storage: Storage, done: Array<{ role: CaId; uri: Pkcs11Uri }>, remove: boolean): Promise<ImportToTokenResult> {
  const warnings: string[] = [];
  const imported: ImportToTokenResult["imported"] = [];
  for (const d of done) {
    const keyPath = storage.where(storeKeys.caKey(d.role));
    let fileRemoved = false;
    if (remove) {
      const failed = await removeKeyFile(storage, storeKeys.caKey(d.role));
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
