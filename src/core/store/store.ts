import { lstat } from "node:fs/promises";
import { envError } from "../errors.js";
import { readConfig, type StoreConfig } from "./config.js";
import { type Layout, layoutOf } from "./layout.js";

export interface Store {
  layout: Layout;
  config: StoreConfig;
}

/**
 * Opens an existing PKI directory (exit 5 with a hint when there is none). The store's own files
 * and directories must be what they seem: a symlink planted among them is refused rather than
 * read or written through.
 */
export async function openStore(pkiDir: string): Promise<Store> {
  const layout = layoutOf(pkiDir);
  const config = await readConfig(pkiDir);
  for (const path of [
    layout.config,
    layout.index,
    layout.revocations,
    layout.audit,
    layout.partners,
    layout.caDir,
    layout.privateDir,
    layout.certsDir,
    layout.crlDir,
  ]) {
    const st = await lstat(path).catch(() => undefined);
    if (st?.isSymbolicLink())
      throw envError(
        "ERR_SYMLINK",
        `${path} is a symbolic link, and mtls does not read or write the store through links`,
        "replace the link with the real file (someone may have planted it)",
      );
  }
  return { layout, config };
}
