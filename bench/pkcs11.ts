// #20: batch issuance with the issuing CA key in a SoftHSM2 token, beside the same batch with the
// key in its encrypted file; and the raw signature cost of both, in-process.
import { spawnSync } from "node:child_process";
import { generateKeyPairSync, sign } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tokenAccess } from "../src/core/keystore/access.js";
import { parsePkcs11Uri } from "../src/core/keystore/pkcs11-uri.js";
import { BIN, ENV, tempDir } from "./fixtures.js";
import { type Row, timeCommand, timeFn } from "./lib.js";

const MODULE = "/usr/lib/softhsm/libsofthsm2.so";
const PIN = "bench-pin-1234";

export async function benchPkcs11(n = 1000): Promise<Row[]> {
  if (!existsSync(MODULE) || spawnSync("sh", ["-c", "command -v softhsm2-util"]).status !== 0) {
    process.stderr.write("pkcs11: skipped, SoftHSM2 is not installed (Debian: softhsm2)\n");
    return [];
  }
  const dir = tempDir("pkcs11");
  mkdirSync(join(dir, "tokens"));
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${join(dir, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { ...ENV, SOFTHSM2_CONF: conf, MTLS_PKCS11_PIN: PIN };
  process.env.SOFTHSM2_CONF = conf;
  spawnSync("softhsm2-util", ["--init-token", "--free", "--label", "bench", "--so-pin", "so-1234", "--pin", PIN], { env });
  const uri = `pkcs11:token=bench?module-path=${MODULE}`;
  writeFileSync(
    join(dir, "fleet.jsonl"),
    Array.from({ length: n }, (_, i) => JSON.stringify({ partner: `w-${i}`, generate: true, sans: [`uri:spiffe://fleet.example/w/${i}`] })).join("\n"),
  );

  const init = (pki: string, extra: string[]) => {
    rmSync(join(dir, pki), { recursive: true, force: true });
    rmSync(join(dir, "keys"), { recursive: true, force: true });
    const r = spawnSync(process.execPath, [BIN, "ca", "init", "--pki", pki, "-q", ...extra], { cwd: dir, env, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`ca init failed: ${r.stderr}`);
  };
  const batch = (pki: string, extra: string[]) =>
    timeCommand(process.execPath, [BIN, "--pki", pki, "partner", "issue", "--batch", "fleet.jsonl", "--key-dir", "keys", "-q"], {
      cwd: dir,
      env,
      runs: 3,
      before: () => init(pki, extra),
    });
  const token = batch("token", ["--key-store", uri]);
  const file = batch("file", []);

  // The signatures alone: one C_Sign per certificate in one logged-in session, against node:crypto.
  const access = tokenAccess(async () => PIN);
  const sessions = await access.sessions();
  const made = await sessions.generate(parsePkcs11Uri(uri, "bench"), "ec-p256", "bench", access.pin);
  const key = await sessions.key(made.uri, "ec-p256", access.pin);
  const tbs = Buffer.alloc(420, 7);
  const tokenSigs = await timeFn(async () => {
    for (let i = 0; i < n; i++) key.sign(tbs);
  }, 3);
  const fileKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const fileSigs = await timeFn(async () => {
    for (let i = 0; i < n; i++) sign("sha256", tbs, fileKey);
  }, 3);
  access.close();
  rmSync(dir, { recursive: true, force: true });
  return [
    {
      task: `issue ${n} certs with generated P-256 keys: mtls --batch, issuing key in a SoftHSM2 token`,
      mtls: token,
      peer: { name: "the same batch, issuing key in its encrypted file", t: file },
      note: "one token login for the whole batch",
    },
    {
      task: `${n} ECDSA P-256 signatures in-process: SoftHSM2 CKM_ECDSA (hash first)`,
      mtls: tokenSigs,
      peer: { name: "node:crypto sign with the key in memory", t: fileSigs },
    },
  ];
}
