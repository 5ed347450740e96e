// #17: the OCSP messages, the responder's refusals of hostile requests, and the client's
// refusal of answers a gateway must not trust (wrong signer, no nonce, stale, another serial).
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import test from "node:test";
import { CertID, OCSPRequest } from "@peculiar/asn1-ocsp";
import { AsnConvert } from "@peculiar/asn1-schema";
import { randomSerial } from "../../src/core/ids.js";
import { exportPkcs8, exportSpki, generateKeyPair, keyObjectFromPkcs8 } from "../../src/core/keys.js";
import { buildOcspRequest, checkOcsp } from "../../src/core/ocsp/client.js";
import { buildOcspResponse, MalformedOcspRequest, type OcspSigner, parseOcspRequest } from "../../src/core/ocsp/protocol.js";
import { type CertInfo, createCertificate } from "../../src/core/pki.js";

const HOUR = 3_600_000;

async function makeCa(name: string) {
  const keys = await generateKeyPair("ec-p256");
  const now = new Date();
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: { rdns: [["CN", name]] },
    notBefore: new Date(now.getTime() - HOUR),
    notAfter: new Date(now.getTime() + 24 * HOUR),
    spki: await exportSpki(keys.publicKey),
    signingKey: keys.privateKey,
    signingKeyType: "ec-p256",
    profile: { kind: "root", pathLen: 0 },
  });
  return { cert, keys };
}

async function issue(ca: Awaited<ReturnType<typeof makeCa>>, eku: string[], extra: { ocspNoCheck?: boolean } = {}) {
  const keys = await generateKeyPair("ec-p256");
  const now = new Date();
  const cert = await createCertificate({
    serial: randomSerial(),
    subject: { rdns: [["CN", `leaf ${eku.join(",")}`]] },
    issuer: ca.cert,
    notBefore: new Date(now.getTime() - HOUR),
    notAfter: new Date(now.getTime() + 24 * HOUR),
    spki: await exportSpki(keys.publicKey),
    signingKey: ca.keys.privateKey,
    signingKeyType: "ec-p256",
    profile: { kind: "leaf", extKeyUsage: eku },
    ...extra,
  });
  return { cert, keys };
}

const signerOf = async (c: { cert: CertInfo; keys: CryptoKeyPair }): Promise<OcspSigner> => ({
  certDer: c.cert.der,
  chainDer: [],
  spki: c.cert.spki,
  key: keyObjectFromPkcs8(await exportPkcs8(c.keys.privateKey)),
  keyType: "ec-p256",
});

/** A responder on loopback that answers every request with `answer(requestDer)`. */
async function fakeResponder(t: import("node:test").TestContext, answer: (req: Buffer) => Buffer): Promise<string> {
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => res.writeHead(200, { "content-type": "application/ocsp-response" }).end(answer(Buffer.concat(parts))));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as import("node:net").AddressInfo).port}/`;
}

test("parseOcspRequest refuses garbage, trailing bytes, oversized nonces and floods of CertIDs", async () => {
  const ca = await makeCa("Parse CA");
  const leaf = await issue(ca, ["clientAuth"]);
  const good = buildOcspRequest(leaf.cert, ca.cert, Buffer.alloc(16, 7));
  const parsed = parseOcspRequest(good);
  assert.equal(parsed.queries.length, 1);
  assert.equal(parsed.queries[0]?.serial, leaf.cert.serial);
  assert.equal(parsed.queries[0]?.hash, "sha1");
  for (const bad of [Buffer.from("not der"), Buffer.concat([good, Buffer.from([0])]), Buffer.alloc(0), good.subarray(0, good.length - 3)]) {
    assert.throws(() => parseOcspRequest(bad), MalformedOcspRequest);
  }
  assert.throws(() => parseOcspRequest(buildOcspRequest(leaf.cert, ca.cert, Buffer.alloc(33, 1))), /nonce must be 1 to 32/);
  const flood = AsnConvert.parse(good, OCSPRequest);
  flood.tbsRequest.requestList = Array.from({ length: 17 }, () => flood.tbsRequest.requestList[0] as (typeof flood.tbsRequest.requestList)[0]);
  assert.throws(() => parseOcspRequest(Buffer.from(AsnConvert.serialize(flood))), /1 to 16 certificates/);
});

test("checkOcsp trusts an answer only from the CA or its delegated responder, with our nonce, current, about our certificate", async (t) => {
  const ca = await makeCa("Client CA");
  const other = await makeCa("Other CA");
  const leaf = await issue(ca, ["clientAuth"]);
  const delegated = await issue(ca, ["OCSPSigning"], { ocspNoCheck: true });
  const notResponder = await issue(ca, ["clientAuth"]);
  const foreignResponder = await issue(other, ["OCSPSigning"]);
  const now = new Date();

  const respond =
    (signer: OcspSigner, o: { echoNonce?: boolean; nextUpdate?: Date; serialOf?: CertInfo } = {}) =>
    (reqDer: Buffer) => {
      const req = parseOcspRequest(reqDer);
      let certId = req.queries[0]?.certId as Buffer;
      if (o.serialOf) {
        const id = AsnConvert.parse(certId, CertID);
        id.serialNumber = new Uint8Array(Buffer.from(o.serialOf.serial, "hex")).buffer;
        certId = Buffer.from(AsnConvert.serialize(id));
      }
      return buildOcspResponse({
        answers: [{ certId, status: { status: "good" } }],
        signer,
        producedAt: now,
        thisUpdate: now,
        nextUpdate: o.nextUpdate ?? new Date(now.getTime() + HOUR),
        ...(o.echoNonce === false || !req.nonce ? {} : { nonce: req.nonce }),
      });
    };

  const okUrl = await fakeResponder(t, respond(await signerOf(delegated)));
  const ok = await checkOcsp(okUrl, leaf.cert, ca.cert, now);
  assert.equal(ok.status, "good");
  assert.equal(ok.signer, delegated.cert.subject);
  const byCa = await checkOcsp(await fakeResponder(t, respond(await signerOf(ca))), leaf.cert, ca.cert, now);
  assert.equal(byCa.status, "good");

  const refusals: Array<[string, (req: Buffer) => Buffer, RegExp]> = [
    ["a certificate without id-kp-OCSPSigning", respond(await signerOf(notResponder)), /not an OCSP responder/],
    ["a responder of another CA", respond(await signerOf(foreignResponder)), /the CA did not issue/],
    ["no nonce echoed", respond(await signerOf(delegated), { echoNonce: false }), /nonce/],
    ["a stale answer", respond(await signerOf(delegated), { nextUpdate: new Date(now.getTime() - 1000) }), /stale/],
    ["an answer about another serial", respond(await signerOf(delegated), { serialOf: notResponder.cert }), /another certificate/],
    ["garbage", () => Buffer.from("<html>"), /not an OCSP response/],
  ];
  for (const [what, answer, message] of refusals) {
    await assert.rejects(checkOcsp(await fakeResponder(t, answer), leaf.cert, ca.cert, now), message, what);
  }
});
