import { spawnSync } from "node:child_process";
import { webcrypto } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ENV, mtlsSync, opensslCsr, ROOT, tempDir } from "./fixtures.js";
import { type Row, timeCommand, timeFn } from "./lib.js";

const EASYRSA = "/usr/share/easy-rsa/easyrsa";
const MTLS = [join(ROOT, "bin/mtls.js")];

/** An easy-rsa PKI with an EC P-256 CA without a passphrase (easy-rsa's "nopass"). */
function easyrsaCa(dir: string): { pki: string; env: NodeJS.ProcessEnv } {
  const pki = join(dir, "easyrsa");
  const env = { ...process.env, EASYRSA_BATCH: "1" };
  spawnSync(EASYRSA, [`--pki-dir=${pki}`, "init-pki"], { env });
  spawnSync(EASYRSA, ["--batch", `--pki-dir=${pki}`, "--use-algo=ec", "--curve=prime256v1", "--req-cn=Bench CA", "build-ca", "nopass"], { env });
  return { pki, env };
}

/** Installs easy-rsa and cfssl from Debian's packages when missing (root only). */
export function ensurePeers(): { easyrsa: boolean; cfssl: boolean } {
  const missing = [!existsSync(EASYRSA) && "easy-rsa", spawnSync("sh", ["-c", "command -v cfssl"]).status !== 0 && "golang-cfssl"].filter(Boolean) as string[];
  if (missing.length && process.getuid?.() === 0)
    spawnSync("sh", [
      "-c",
      `apt-get install -y -qq ${missing.join(" ")} >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq ${missing.join(" ")} >/dev/null 2>&1)`,
    ]);
  return { easyrsa: existsSync(EASYRSA), cfssl: spawnSync("sh", ["-c", "command -v cfssl"]).status === 0 };
}

export function benchStartup(runs = 20): Row[] {
  const node = timeCommand(process.execPath, ["-e", "0"], { runs });
  const openssl = timeCommand("openssl", ["version"], { runs });
  const version = timeCommand(process.execPath, [...MTLS, "--version"], { runs });
  const help = timeCommand(process.execPath, [...MTLS, "--help"], { runs });
  return [
    { task: "start-up: mtls --version", mtls: version, peer: { name: "node -e 0 (floor of any Node CLI)", t: node } },
    { task: "start-up: mtls --help", mtls: help, peer: { name: "node -e 0", t: node } },
    { task: "start-up: mtls --version", mtls: version, peer: { name: "openssl version", t: openssl } },
  ];
}

/** Signing one partner CSR from the command line, against openssl, easy-rsa and cfssl. */
export function benchSignOne(runs = 7): Row[] {
  const peers = ensurePeers();
  const dir = tempDir("sign");
  opensslCsr(dir, "p");
  mtlsSync(["ca", "init", "--pki", "enc", "-q"], dir);
  mtlsSync(["ca", "init", "--pki", "plain", "--insecure-no-passphrase", "-q"], dir);
  const n = 0;
  const enc = timeCommand(process.execPath, [...MTLS, "--pki", "enc", "partner", "issue", "p", "--csr", "p.csr", "-q"], { cwd: dir, env: ENV, runs });
  const plain = timeCommand(process.execPath, [...MTLS, "--pki", "plain", "partner", "issue", "p", "--csr", "p.csr", "-q"], { cwd: dir, env: ENV, runs });
  // openssl with the same intermediate (its key decrypted once, as easy-rsa's "nopass" CA keeps it).
  spawnSync("openssl", ["pkey", "-in", join(dir, "enc/private/intermediate.key"), "-passin", "env:MTLS_CA_PASSPHRASE", "-out", join(dir, "int.key")], {
    env: ENV,
  });
  writeFileSync(
    join(dir, "ext.cnf"),
    "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
  );
  // The same signing with the encrypted key (and its passphrase) and with a plain copy of it.
  const opensslSign = (caKey: string[]) => [
    "x509",
    "-req",
    "-in",
    "p.csr",
    "-CA",
    "enc/ca/intermediate.pem",
    "-CAkey",
    ...caKey,
    "-days",
    "90",
    "-sha256",
    "-extfile",
    "ext.cnf",
    "-extensions",
    "leaf",
    "-out",
    "o.pem",
  ];
  const opensslEnc = timeCommand("openssl", opensslSign(["enc/private/intermediate.key", "-passin", "env:MTLS_CA_PASSPHRASE"]), { cwd: dir, env: ENV, runs });
  const opensslPlain = timeCommand("openssl", opensslSign(["int.key"]), { cwd: dir, runs });
  const rows: Row[] = [
    {
      task: "sign one partner CSR, CA key encrypted (mtls: PBKDF2-SHA256 ×600,000; openssl: same key file)",
      mtls: enc,
      peer: { name: "openssl x509 -req", t: opensslEnc },
    },
    { task: "sign one partner CSR, CA key unencrypted (--insecure-no-passphrase)", mtls: plain, peer: { name: "openssl x509 -req", t: opensslPlain } },
  ];
  if (peers.easyrsa) {
    const { pki: er, env } = easyrsaCa(dir);
    const easy = timeCommand(
      "sh",
      [
        "-c",
        `n=$(date +%s%N); ${EASYRSA} --batch --pki-dir=${er} import-req p.csr r$n >/dev/null && ${EASYRSA} --batch --pki-dir=${er} sign-req client r$n >/dev/null`,
      ],
      { cwd: dir, env, runs },
    );
    rows.push({ task: "sign one partner CSR (easy-rsa: import-req + sign-req, nopass CA)", mtls: plain, peer: { name: "easyrsa sign-req client", t: easy } });
  }
  if (peers.cfssl) {
    spawnSync("sh", ["-c", `cd ${dir} && echo '{"CN":"Bench CA","key":{"algo":"ecdsa","size":256}}' | cfssl gencert -initca - | cfssljson -bare cfca`]);
    writeFileSync(join(dir, "cfssl.json"), JSON.stringify({ signing: { default: { expiry: "2160h", usages: ["digital signature", "client auth"] } } }));
    const cf = timeCommand("sh", ["-c", "cfssl sign -ca cfca.pem -ca-key cfca-key.pem -config cfssl.json p.csr > /dev/null 2>&1"], { cwd: dir, runs });
    rows.push({ task: "sign one partner CSR (cfssl: unencrypted CA key, its only option)", mtls: plain, peer: { name: "cfssl sign", t: cf } });
  }
  void n;
  return rows;
}

/** 1,000 certificates with generated ECDSA P-256 keys. easy-rsa and openssl loops run `peerN` and are scaled to 1,000. */
export async function benchBatch(n = 1000, peerN = Number(process.env.BENCH_PEER_N ?? 100)): Promise<Row[]> {
  const peers = ensurePeers();
  const dir = tempDir("batch");
  mtlsSync(["ca", "init", "--pki", "pki", "-q"], dir);
  writeFileSync(
    join(dir, "fleet.jsonl"),
    Array.from({ length: n }, (_, i) => JSON.stringify({ partner: `w-${i}`, generate: true, sans: [`uri:spiffe://fleet.example/w/${i}`] })).join("\n"),
  );
  let round = 0;
  const batch = timeCommand(process.execPath, [...MTLS, "--pki", "pki", "partner", "issue", "--batch", "fleet.jsonl", "--key-dir", "keys", "-q"], {
    cwd: dir,
    env: ENV,
    runs: 3,
    before: () => {
      rmSync(join(dir, "pki"), { recursive: true, force: true });
      rmSync(join(dir, "keys"), { recursive: true, force: true });
      mtlsSync(["ca", "init", "--pki", "pki", "-q"], dir);
      round++;
    },
  });
  // The floor: the same key generations and signatures in-process, with WebCrypto, no I/O.
  const ca = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])) as CryptoKeyPair;
  const tbs = new Uint8Array(400).fill(7);
  const floor = await timeFn(async () => {
    const one = async () => {
      await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
      await webcrypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, ca.privateKey, tbs);
    };
    for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: Math.min(8, n - i) }, one));
  }, 3);
  const scale = (t: ReturnType<typeof timeCommand>) => ({
    ...t,
    medianMs: (t.medianMs * n) / peerN,
    minMs: (t.minMs * n) / peerN,
    maxMs: (t.maxMs * n) / peerN,
  });
  const rows: Row[] = [
    {
      task: `issue ${n} certs with generated P-256 keys: mtls --batch (keys to --key-dir)`,
      mtls: batch,
      peer: { name: "in-process floor: WebCrypto keygen + sign, no I/O", t: floor },
    },
  ];
  // openssl loop (the shell loop people write)
  const od = join(dir, "ossl");
  mkdirSync(od);
  spawnSync("openssl", ["pkey", "-in", join(dir, "pki/private/intermediate.key"), "-passin", "env:MTLS_CA_PASSPHRASE", "-out", join(od, "ca.key")], {
    env: ENV,
  });
  writeFileSync(
    join(od, "ext.cnf"),
    "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nsubjectAltName=URI:spiffe://fleet.example/w/${ENV::I}\n",
  );
  const loop = `for I in $(seq 1 ${peerN}); do export I; openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${od}/k$I.key -subj /CN=w-$I 2>/dev/null | openssl x509 -req -CA ${dir}/pki/ca/intermediate.pem -CAkey ${od}/ca.key -days 90 -sha256 -extfile ${od}/ext.cnf -extensions leaf -out ${od}/c$I.pem 2>/dev/null; done`;
  const ossl = timeCommand("sh", ["-c", loop], { runs: 1, warmup: false });
  rows.push({
    task: `issue ${n} certs: mtls --batch`,
    mtls: batch,
    peer: { name: `openssl req + openssl x509 shell loop (${peerN} run, scaled to ${n})`, t: scale(ossl) },
  });
  if (peers.easyrsa) {
    const { pki: er, env } = easyrsaCa(dir);
    const easy = timeCommand(
      "sh",
      [
        "-c",
        `for i in $(seq 1 ${peerN}); do ${EASYRSA} --batch --pki-dir=${er} --use-algo=ec --curve=prime256v1 build-client-full w$i nopass >/dev/null 2>&1; done`,
      ],
      { env, runs: 1, warmup: false },
    );
    rows.push({
      task: `issue ${n} certs: mtls --batch`,
      mtls: batch,
      peer: { name: `easyrsa build-client-full loop (${peerN} run, scaled to ${n})`, t: scale(easy) },
    });
  }
  void round;
  return rows;
}
