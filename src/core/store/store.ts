import { lstatSync } from "node:fs";
import { join } from "node:path";
import { envError } from "../errors.js";
import { readConfig, type StoreConfig } from "./config.js";
import { type Layout, layoutOf } from "./layout.js";

export interface Store {
  layout: Layout;
  config: StoreConfig;
}

/**
 * Every directory of the store and every file at a fixed name in it (#13: pgp/ and crl/ were
 * outside the check). Certificates named by serial and partners' key files are opened without
 * following links where they are read.
 */
function storePaths(layout: Layout, config: StoreConfig): string[] {
  // After a rollover, every CA of the registry has its certificate, key and CRLs (#18).
  const roles = ["root", "intermediate", ...(config.cas?.list.map((c) => c.id) ?? [])];
  const crosses = config.cas?.crosses?.map((x) => layout.crossFile(x.file)) ?? [];
  return [
    ...roles.map(layout.caCert),
    ...roles.map(layout.caKey),
    ...crosses,
    ...(crosses.length ? [layout.crossBundle] : []),
    ...[
      layout.caDir,
      layout.privateDir,
      layout.certsDir,
      join(layout.certsDir, "orphans"),
      join(layout.certsDir, "packs"),
      layout.crlDir,
      layout.pgpDir,
      layout.partnerKeysDir,
    ],
    ...[layout.config, layout.index, layout.revocations, layout.audit, layout.partners],
    ...[layout.rootCert, layout.intermediateCert, layout.caBundle, layout.chain, layout.canaryCert],
    ...[layout.rootKey, layout.intermediateKey, layout.canaryKey, layout.homePrivateKey, layout.homePublicKey],
    ...[layout.crlState, layout.crlBundle, ...roles.map(layout.crlPem), ...roles.map(layout.crlDer)],
  ];
}

/** A path that cannot be read (missing, no permission) is no link: its reader reports it. */
function isSymlink(path: string): boolean {
  try {
    return lstatSync(path, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
  } catch {
    return false;
  }
}

/**
 * Opens an existing PKI directory (exit 5 with a hint when there is none). The store's own files
 * and directories must be what they seem: a symlink planted among them is refused rather than
 * read or written through.
 */
export async function openStore(pkiDir: string): Promise<Store> {
  const layout = layoutOf(pkiDir);
  const config = await readConfig(pkiDir);
  // Synchronous: some 30 lstat calls of a few microseconds each, where a promise per call cost
  // a round trip through the thread pool each (~1.5 ms of CPU for every command, #21).
  const link = storePaths(layout, config).find(isSymlink);
  if (link)
    throw envError(
      "ERR_SYMLINK",
      `${link} is a symbolic link, and mtls does not read or write the store through links`,
      "replace the link with the real file (someone may have planted it)",
    );
  return { layout, config };
}
