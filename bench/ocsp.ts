// OCSP responses per second: `mtls revocation serve` next to `openssl ocsp -index` as responder,
// on the same CA, the same 10,000 certificates (10 % revoked), the same responder certificate and
// the same requests (a fresh nonce each, a new connection each, 16 in flight). openssl's responder
// binds every interface (its -port takes no address), so both run inside a network namespace of
// their own that has only a loopback interface.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { pkiWithIndex, ROOT, tempDir } from "./fixtures.js";
import type { Row, Timed } from "./lib.js";

const REQUESTS = 3000;

/** openssl's index.txt for the same records (V/R, expiry, revocation time, serial, file, subject). */
function opensslIndex(records: ReturnType<typeof pkiWithIndex>): string {
  const t = (iso: string) => `${iso.slice(2, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return records
    .map((r) => {
      const serial = (r.serial.length % 2 ? `0${r.serial}` : r.serial).toUpperCase();
      const rev = r.status === "revoked" && r.revokedAt ? `${t(r.revokedAt)},${r.revocationReason}` : "";
      return `${r.status === "revoked" ? "R" : "V"}\t${t(r.notAfter)}\t${rev}\t${serial}\tunknown\t/${r.subject}\n`;
    })
    .join("");
}

export function benchOcsp(): Row[] {
  const dir = tempDir("ocsp");
  const records = pkiWithIndex(dir, 10_000, 0.1);
  writeFileSync(join(dir, "index.txt"), opensslIndex(records));
  writeFileSync(join(dir, "serials.json"), JSON.stringify(records.map((r) => r.serial)));
  const worker = join(ROOT, "dist/bench/ocsp-worker.js");
  const script = `ip link set lo up && exec "${process.execPath}" "${worker}" "${dir}" ${REQUESTS}`;
  const r = spawnSync("unshare", ["--net", "sh", "-c", script], { encoding: "utf8", env: process.env, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`OCSP benchmark failed (it needs root for a network namespace):\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as { mtls: Timed; openssl: Timed };
  const perSecond = (t: Timed) => `${Math.round(REQUESTS / (t.medianMs / 1000))} responses/s`;
  return [
    {
      task: `OCSP: ${REQUESTS} requests (fresh nonce, new connection each, 16 in flight) against one responder, 10,000 certificates`,
      mtls: out.mtls,
      peer: { name: "openssl ocsp -index (same data, same responder key)", t: out.openssl },
      note: `mtls ${perSecond(out.mtls)}, openssl ${perSecond(out.openssl)}; each answer checked for status successful`,
    },
  ];
}
