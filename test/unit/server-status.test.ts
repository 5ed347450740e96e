import assert from "node:assert/strict";
import test from "node:test";
import { expiredServerProblems } from "../../src/core/server/status.js";
import type { CertRecord } from "../../src/core/store/index-file.js";
import { certRecord } from "../helpers/records.js";

const rec = (serial: string, name: string, notAfter: string, extra: Partial<CertRecord> = {}): CertRecord =>
  certRecord(serial, {
    partnerId: `server:${name}`,
    kind: "server",
    subject: `CN=${name}.example`,
    sans: [`dns:${name}.example`],
    notBefore: "2026-01-01T00:00:00Z",
    notAfter,
    issuedAt: "2026-01-01T00:00:00Z",
    fingerprint: "sha256:00",
    source: "generated",
    ...extra,
  });

test("#19 status: a server whose newest certificate expired is a problem; one renewed in time, a revoked one or a partner's is not", () => {
  const now = new Date("2026-06-01T00:00:00Z");
  const problems = expiredServerProblems(
    [
      rec("a1", "gw", "2026-05-01T00:00:00Z"),
      rec("b1", "renewed", "2026-05-01T00:00:00Z"),
      rec("b2", "renewed", "2026-09-01T00:00:00Z"),
      rec("c1", "retired", "2026-05-01T00:00:00Z", { status: "revoked" }),
      { ...rec("d1", "x", "2026-05-01T00:00:00Z"), partnerId: "acme", kind: undefined },
    ],
    now,
  );
  assert.deepEqual(
    problems.map((p) => [p.serial, p.kind]),
    [["a1", "server-cert-expired"]],
  );
  assert.match(problems[0]?.hint ?? "", /mtls server issue gw/);
});
