import { readConfig, type StoreConfig } from "./config.js";
import { type Layout, layoutOf } from "./layout.js";

export interface Store {
  layout: Layout;
  config: StoreConfig;
}

/** Opens an existing PKI directory (exit 5 with a hint when there is none). */
export async function openStore(pkiDir: string): Promise<Store> {
  const layout = layoutOf(pkiDir);
  return { layout, config: await readConfig(pkiDir) };
}
