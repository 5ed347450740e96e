import { join } from "node:path";
import { ENV, pkiWithIndex, ROOT, tempDir } from "./fixtures.js";
import { type Row, timeCommand } from "./lib.js";

/** `mtls list` and `mtls status` over 100,000 certificates (1% revoked). */
export function benchInventory(n = 100_000): Row[] {
  const dir = tempDir("inventory");
  pkiWithIndex(dir, n, 0.01);
  const bin = join(ROOT, "bin/mtls.js");
  // status reads the published CRL: publish once so it is current.
  timeCommand(process.execPath, [bin, "--pki", "pki", "crl", "publish", "-q"], { cwd: dir, env: ENV, runs: 1, warmup: false });
  const list = timeCommand(process.execPath, [bin, "--pki", "pki", "list", "--no-color"], { cwd: dir, env: ENV, runs: 5 });
  const listJson = timeCommand(process.execPath, [bin, "--pki", "pki", "list", "--json"], { cwd: dir, env: ENV, runs: 3 });
  const expiring = timeCommand(process.execPath, [bin, "--pki", "pki", "list", "--expiring-within", "7d"], { cwd: dir, env: ENV, runs: 5 });
  const status = timeCommand("sh", ["-c", `${process.execPath} ${bin} --pki pki status --json > /dev/null; test $? -le 1`], { cwd: dir, env: ENV, runs: 5 });
  return [
    { task: `mtls list over ${n.toLocaleString("en")} certificates (table on stdout)`, mtls: list },
    { task: `mtls list --json over ${n.toLocaleString("en")} certificates`, mtls: listJson },
    { task: `mtls list --expiring-within 7d over ${n.toLocaleString("en")}`, mtls: expiring },
    { task: `mtls status over ${n.toLocaleString("en")} certificates and a ${(n / 100).toLocaleString("en")}-entry CRL`, mtls: status },
  ];
}
