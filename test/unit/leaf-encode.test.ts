import assert from "node:assert/strict";
import test from "node:test";
import { children, readTlv } from "../../src/core/der.js";
import { randomSerial } from "../../src/core/ids.js";
import { leafTbs } from "../../src/core/issue/leaf-encode.js";
import { exportSpki, generateKeyPair, type KeyType } from "../../src/core/keys.js";
import { createCertificate, describeName } from "../../src/core/pki.js";
import type { San } from "../../src/core/sans.js";

const tbsOf = (der: Buffer) => {
  const t = children(der, readTlv(der, 0))[0] as { offset: number; end: number };
  return der.subarray(t.offset, t.end);
};

// The fast leaf encoder must produce exactly the TBSCertificate @peculiar/x509 would.
for (const [caType, leafType] of [
  ["ec-p256", "ec-p256"],
  ["ec-p384", "rsa-2048"],
  ["rsa-2048", "ec-p384"],
] as Array<[KeyType, KeyType]>) {
  test(`leafTbs equals @peculiar/x509's TBSCertificate (CA ${caType}, leaf ${leafType})`, async () => {
    const caKeys = await generateKeyPair(caType);
    const now = new Date("2026-11-22T10:00:00.123Z");
    const ca = await createCertificate({
      serial: randomSerial(),
      subject: {
        rdns: [
          ["O", "Test, Inc."],
          ["CN", "Test Issuing CA"],
        ],
      },
      notBefore: now,
      notAfter: new Date(now.getTime() + 86_400_000 * 100),
      spki: await exportSpki(caKeys.publicKey),
      signingKey: caKeys.privateKey,
      signingKeyType: caType,
      profile: { kind: "intermediate", pathLen: 0 },
    });
    const leafKeys = await generateKeyPair(leafType);
    const spki = await exportSpki(leafKeys.publicKey);
    const sanSets: Array<{ sans: San[]; subject: Parameters<typeof describeName>[0] }> = [
      {
        subject: { rdns: [["CN", "partner-ä-client"]] },
        sans: [
          { type: "uri", value: "spiffe://example.org/ns/prod/sa/x" },
          { type: "dns", value: "a.example" },
          { type: "email", value: "ops@example.org" },
          { type: "ip", value: "127.0.0.1" },
          { type: "ip", value: "2001:db8::1" },
        ],
      },
      { subject: { rdns: [] }, sans: [{ type: "uri", value: "spiffe://example.org/only-san" }] },
      {
        subject: {
          rdns: [
            ["O", "Partner"],
            ["CN", "no sans"],
          ],
        },
        sans: [],
      },
    ];
    for (const { subject, sans } of sanSets) {
      const serial = randomSerial();
      const name = describeName(subject);
      const common = { serial, notBefore: new Date(now.getTime() - 300_000), notAfter: new Date(now.getTime() + 86_400_000 * 90), spki, sans };
      const viaX509 = await createCertificate({
        ...common,
        subject,
        issuer: ca,
        signingKey: caKeys.privateKey,
        signingKeyType: caType,
        profile: { kind: "leaf", extKeyUsage: ["clientAuth"] },
        crlUrl: "http://pki.example/crl/issuing.crl",
      });
      const fast = leafTbs({
        ...common,
        subjectDer: name.der,
        subjectEmpty: name.empty,
        issuerDer: ca.subjectDer,
        issuerKeyId: ca.subjectKeyId as string,
        extKeyUsage: ["clientAuth"],
        crlUrl: "http://pki.example/crl/issuing.crl",
        signingKey: caKeys.privateKey,
        signingKeyType: caType,
      });
      assert.equal(fast.toString("hex"), tbsOf(viaX509.der).toString("hex"), JSON.stringify(subject));
    }
  });
}
