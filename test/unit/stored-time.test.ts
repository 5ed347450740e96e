// A record's time must name the instant it parses to (records.ts). The check reads the form mtls
// writes by its digits; it must answer as Date does, which is what it replaced.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isStoredTime } from "../../src/core/store/records.js";

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const byDate = (v: string) => {
  if (!ISO.test(v)) return false;
  const ms = Date.parse(v);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === v.slice(0, 19);
};

test("a stored time is checked as Date would: every day of four centuries, every field's edges, and damaged bytes", () => {
  const pad = (n: number, w: number) => String(n).padStart(w, "0");
  const cases: string[] = [];
  // Every month's last days, leap years by all three rules among them.
  for (const year of [0, 1, 4, 100, 1600, 1700, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999])
    for (let month = 0; month <= 13; month++)
      for (const day of [0, 1, 28, 29, 30, 31, 32]) cases.push(`${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T00:00:00Z`);
  for (const [h, m, s] of [
    [0, 0, 0],
    [23, 59, 59],
    [24, 0, 0],
    [23, 60, 0],
    [23, 59, 60],
    [99, 99, 99],
  ])
    cases.push(`2026-12-07T${pad(h as number, 2)}:${pad(m as number, 2)}:${pad(s as number, 2)}Z`);
  // Each byte of a valid time replaced by each printable character (a damaged byte).
  for (const good of ["2028-02-29T12:34:56Z", "2027-07-15T01:02:03Z"])
    for (let i = 0; i < good.length; i++) for (let c = 32; c < 127; c++) cases.push(good.slice(0, i) + String.fromCharCode(c) + good.slice(i + 1));
  // Other lengths: fractions, and what is not a time.
  cases.push("2026-12-07T00:00:00.5Z", "2026-02-30T00:00:00.000Z", "2026-12-07T00:00:00", "2026-12-07 00:00:00Z", "+02026-12-07T00:00:0Z", "");
  // Every day of 1999-2402 at a time of day.
  for (let t = Date.UTC(1999, 0, 1, 7, 8, 9); t < Date.UTC(2403, 0, 1); t += 86_400_000) cases.push(new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z"));
  let valid = 0;
  for (const v of cases) {
    assert.equal(isStoredTime(v), byDate(v), JSON.stringify(v));
    if (byDate(v)) valid++;
  }
  assert.ok(valid > 140_000 && valid < cases.length - 1_000, `both answers are covered (${valid} of ${cases.length} valid)`);
  for (const v of [undefined, null, 20, ["2026-12-07T00:00:00Z"]]) assert.equal(isStoredTime(v), false);
});
