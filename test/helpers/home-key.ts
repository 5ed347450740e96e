import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as openpgp from "openpgp";
import { SEALED_PGP_LABEL } from "../../src/core/bundle/pgp.js";
import { openPbes2 } from "../../src/core/keys.js";
import { PASSPHRASE } from "./run.js";

/** The home party's private OpenPGP key of a test PKI, opened from its PBES2 envelope. */
export async function openHomeKey(pkiDir: string, passphrase = PASSPHRASE): Promise<openpgp.PrivateKey> {
  const sealed = await readFile(join(pkiDir, "private/home-party.pgp.asc"), "utf8");
  const armored = await openPbes2(sealed, SEALED_PGP_LABEL, passphrase, "the home key", () => true);
  return openpgp.readPrivateKey({ armoredKey: armored.toString("utf8") });
}
