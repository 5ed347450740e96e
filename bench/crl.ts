import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENV, pkiWithIndex, ROOT, tempDir } from "./fixtures.js";
import { type Row, timeCommand } from "./lib.js";

const yymmdd = (iso: string) => iso.replace(/[-:T]/g, "").slice(2, 14) + "Z";

/** Publishing a CRL with `n` revoked entries: `mtls crl publish` vs `openssl ca -gencrl` on the same data. */
export function benchCrl(n = 100_000, runs = 3): Row[] {
  const dir = tempDir("crl");
  const records = pkiWithIndex(dir, n, 1);
  const mtls = timeCommand(process.execPath, [join(ROOT, "bin/mtls.js"), "--pki", "pki", "crl", "publish", "-q"], { cwd: dir, env: ENV, runs });

  // The same revocations as an OpenSSL CA database, signed by the same intermediate key.
  const ossl = join(dir, "openssl-ca");
  mkdirSync(ossl);
  writeFileSync(
    join(ossl, "index.txt"),
    records
      .map((r) => `R\t${yymmdd(r.notAfter)}\t${yymmdd(r.revokedAt ?? r.issuedAt)},keyCompromise\t${r.serial.toUpperCase()}\tunknown\t/${r.subject}\n`)
      .join(""),
  );
  writeFileSync(join(ossl, "index.txt.attr"), "unique_subject = no\n");
  writeFileSync(join(ossl, "crlnumber"), "1000\n");
  writeFileSync(
    join(ossl, "ca.cnf"),
    `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ${ossl}
database = $dir/index.txt
crlnumber = $dir/crlnumber
certificate = ${join(dir, "pki/ca/intermediate.pem")}
private_key = ${join(dir, "pki/private/intermediate.key")}
default_md = sha256
default_crl_days = 7
crl_extensions = crl_ext
[ crl_ext ]
authorityKeyIdentifier = keyid:always
`,
  );
  const openssl = timeCommand(
    "openssl",
    ["ca", "-config", join(ossl, "ca.cnf"), "-gencrl", "-out", join(ossl, "crl.pem"), "-passin", "env:MTLS_CA_PASSPHRASE"],
    { env: ENV, runs },
  );
  return [
    {
      task: `publish a CRL with ${n.toLocaleString("en")} revoked entries (both CA keys PBKDF2 ×600k; includes process start)`,
      mtls,
      peer: { name: "openssl ca -gencrl", t: openssl },
      note: "mtls signs two CRLs (intermediate + root) and decrypts two keys; openssl one",
    },
  ];
}
