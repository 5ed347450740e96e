// `npm run bench [-- section ...]`: measures mtls against the tools users would use instead and
// prints a Markdown table. Sections: startup, sign, batch, crl, inventory, bundle, probe, ocsp, store, pkcs11.
import { benchBundle } from "./bundle.js";
import { benchCrl } from "./crl.js";
import { benchInventory } from "./inventory.js";
import { benchBatch, benchSignOne, benchStartup } from "./issuance.js";
import { machine, markdownTable, type Row } from "./lib.js";
import { benchOcsp } from "./ocsp.js";
import { benchPkcs11 } from "./pkcs11.js";
import { benchProbe } from "./probe.js";
import { benchStore } from "./store.js";

const sections: Record<string, () => Promise<Row[]> | Row[]> = {
  startup: () => benchStartup(),
  sign: () => benchSignOne(),
  batch: () => benchBatch(),
  crl: () => benchCrl(Number(process.env.BENCH_CRL_ENTRIES ?? 100_000)),
  inventory: () => benchInventory(),
  bundle: () => benchBundle(),
  probe: () => benchProbe(),
  ocsp: () => benchOcsp(),
  store: () => benchStore(),
  pkcs11: () => benchPkcs11(),
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const names = wanted.length ? wanted : Object.keys(sections);
const rows: Row[] = [];
for (const name of names) {
  const section = sections[name];
  if (!section) throw new Error(`unknown section ${name}; have: ${Object.keys(sections).join(", ")}`);
  process.stderr.write(`running ${name} ...\n`);
  rows.push(...(await section()));
}
process.stdout.write(`Machine: ${machine()}\n\n${markdownTable(rows)}\n`);
