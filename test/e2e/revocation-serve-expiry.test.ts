// Certificates the PKI makes for itself never outlive the CA that signs them: the OCSP responder
// certificates of `revocation serve` end with their CA at the latest, an expired CA gets none
// (openssl's OCSP client then hears `unauthorized` about it), and `probe`'s minted client
// certificates end with the issuing CA too. `revocation serve` runs on the wall clock, so the
// store is made in the past with the CLI's test clock: its first intermediate expired 20 days
// ago, and intermediate-2, the issuing CA, ends in 3 days.
import assert from "node:assert/strict";
import { once } from "node:events";
import { access, mkdtemp, readFile, rm } from "node:fs/promises";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test, { after, before } from "node:test";
import { type RunningResponder, startResponder } from "../helpers/revocation-serve.js";
import { json, mtls, openssl } from "../helpers/run.js";

const DAY = 86_400_000;
const T0 = Math.floor(Date.now() / 1000) * 1000;
const ago = (days: number) => new Date(T0 - days * DAY).toISOString();

let dir = "";
const pki = (...p: string[]) => join(dir, "pki", ...p);
let server: RunningResponder | undefined;
const leaf: Record<string, string> = {};

const at = (now: string) => ({ cwd: dir, env: { MTLS_TEST_HOOKS: "1", MTLS_TEST_NOW: now } });

async function issue(name: string, days: number, now?: string): Promise<void> {
  leaf[name] = join(dir, `${name}.pem`);
  const args = ["partner", "issue", name, "--generate", "--out-key", `${name}.key`, "--out-leaf", leaf[name], "--days", String(days), "--json"];
  const r = await mtls(args, now ? at(now) : { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout + r.stderr);
}

const endOf = async (file: string) => Date.parse(/notAfter=(.+)/.exec((await openssl(["x509", "-noout", "-enddate", "-in", file])).stdout)?.[1] ?? "");

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mtls-ocsp-expiry-"));
  const init = await mtls(["ca", "init", "--name", "Lapse", "--root-days", "3650", "--intermediate-days", "10", "--json"], at(ago(30)));
  assert.equal(init.exitCode, 0, init.stderr);
  await issue("lapsed", 5, ago(29));
  assert.equal((await mtls(["ca", "rollover", "intermediate", "--days", "28", "--json"], at(ago(25)))).exitCode, 0);
  await issue("current", 2);
  server = await startResponder(dir);
});

after(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

function ocsp(issuer: string, cert: string) {
  const url = `${server?.url}/ocsp`;
  return openssl(["ocsp", "-issuer", issuer, "-cert", cert, "-url", url, "-CAfile", pki("ca/ca-bundle.pem"), "-timeout", "10"]);
}

test("responder certificates end with their CA at the latest, and an expired CA gets none", async () => {
  const caEnd = await endOf(pki("ca/intermediate-2.pem"));
  assert.ok(caEnd - T0 < 4 * DAY, "intermediate-2 ends within the responder lifetime");
  assert.equal(await endOf(pki("ca/ocsp-intermediate-2.pem")), caEnd, "capped at the CA's notAfter");
  const rootResponder = await endOf(pki("ca/ocsp-root.pem"));
  assert.ok(rootResponder > T0 + 6 * DAY && rootResponder <= Date.now() + 7 * DAY, "a long-lived CA's responder still lives a week");
  await assert.rejects(access(pki("ca/ocsp-intermediate.pem")), "no responder from the expired intermediate");
  const v = await openssl(["verify", "-CAfile", pki("ca/root.pem"), "-untrusted", pki("ca/intermediate-2.pem"), pki("ca/ocsp-intermediate-2.pem")]);
  assert.equal(v.exitCode, 0, v.stdout + v.stderr);
  const audit = json(await mtls(["audit", "--json"], { cwd: dir })).result.records as Array<{ action: string; outcome: string; details?: { ca?: string } }>;
  const issued = audit.filter((r) => r.action === "ocsp.responder" && r.outcome === "issued").map((r) => r.details?.ca);
  assert.deepEqual(issued.sort(), ["intermediate-2", "root"]);
});

test("openssl ocsp: the expired CA's certificates are unauthorized, the issuing CA's and the root's answered and verified", async () => {
  const lapsed = await ocsp(pki("ca/intermediate.pem"), leaf.lapsed as string);
  assert.doesNotMatch(lapsed.stdout, /: (good|revoked)/, lapsed.stdout);
  assert.match(lapsed.stdout + lapsed.stderr, /Responder Error: unauthorized \(6\)/, lapsed.stdout + lapsed.stderr);
  const current = await ocsp(pki("ca/intermediate-2.pem"), leaf.current as string);
  assert.match(current.stderr, /Response verify OK/, current.stdout + current.stderr);
  assert.match(current.stdout, /: good/);
  // The root still answers for its intermediates, the expired one included.
  const int = await ocsp(pki("ca/root.pem"), pki("ca/intermediate.pem"));
  assert.match(int.stderr, /Response verify OK/, int.stdout + int.stderr);
  assert.match(int.stdout, /intermediate\.pem: good/);
});

test("probe's minted certificates end with the issuing CA; once it has expired, probe refuses to mint (exit 3)", async (t) => {
  const caEnd = await endOf(pki("ca/intermediate-2.pem"));
  // It takes TCP connections (so the probe mints) and closes each at once (no TLS).
  const closer = net.createServer((s) => s.destroy()).listen(0, "127.0.0.1");
  await once(closer, "listening");
  t.after(() => closer.close());
  const target = `https://127.0.0.1:${(closer.address() as AddressInfo).port}/`;
  const soon = new Date(caEnd - 20 * 60_000).toISOString();
  const r = await mtls(["probe", target, "--scenarios", "valid,expired,not-yet-valid", "--timeout", "2s", "--json"], at(soon));
  assert.equal(r.exitCode, 1, r.stdout); // minted, then no handshake: the valid certificate was not accepted
  const minted = (await readFile(pki("probe-certs.jsonl"), "utf8"))
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { issuer: string; notAfter: string; mintedAt: string })
    .filter((c) => c.mintedAt === soon.replace(/\.\d+Z$/, "Z"));
  assert.ok(minted.length >= 2, JSON.stringify(minted));
  for (const c of minted) assert.ok(Date.parse(c.notAfter) <= caEnd, `${c.notAfter} outlives intermediate-2 (${new Date(caEnd).toISOString()})`);
  const late = await mtls(["probe", target, "--scenarios", "valid", "--json"], at(new Date(caEnd + 60_000).toISOString()));
  assert.equal(late.exitCode, 3, late.stdout);
  assert.equal(json(late).error?.code, "ERR_CA_EXPIRED");
  assert.match(json(late).error?.message ?? "", /intermediate-2 expired on /);
});
