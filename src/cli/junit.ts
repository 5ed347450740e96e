import type { ProbeResult } from "../core/index.js";
import { safeValue } from "./terminal-safe.js";

/**
 * An attribute value. What a gateway sent (a reason phrase, a page title) reaches the file: control
 * characters are written as the terminal shows them (safeValue), since XML 1.0 allows no C0 control
 * but tab, LF and CR, not even as a character reference, and a CI log replays escapes. Lone
 * surrogates and U+FFFE/U+FFFF are not XML characters either.
 */
const esc = (s: string) =>
  safeValue(s)
    .replace(/[\p{Cs}\ufffe\uffff]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");

/** JUnit XML: one testsuite per target, one testcase per (scenario, TLS version). */
export function renderJunit(r: ProbeResult): string {
  const suites = r.targets.map((t) => {
    const cases = t.attempts.map((a) => {
      const name = `${a.scenario}${a.variant ? ` (${a.variant})` : ""} TLS ${a.tls}`;
      const head = `    <testcase classname="${esc(t.url)}" name="${esc(name)}" time="${(a.durationMs / 1000).toFixed(3)}"`;
      const detail = `expected ${a.expected}, observed ${a.observed}: ${a.evidence.summary}`;
      if (a.verdict === "pass") return `${head}/>`;
      if (a.verdict === "skipped" || a.verdict === "info")
        return `${head}>\n      <skipped message="${esc(a.verdict === "info" ? `info: ${detail}` : a.evidence.summary)}"/>\n    </testcase>`;
      const tag = a.verdict === "fail" ? "failure" : "error";
      return `${head}>\n      <${tag} type="${a.verdict}" message="${esc(detail)}"/>\n    </testcase>`;
    });
    if (!t.reachable)
      cases.push(
        `    <testcase classname="${esc(t.url)}" name="reachable" time="0">\n      <error type="unreachable" message="${esc(t.error ?? "unreachable")}"/>\n    </testcase>`,
      );
    const failures = t.attempts.filter((a) => a.verdict === "fail").length;
    const errors = t.attempts.filter((a) => a.verdict === "error" || a.verdict === "inconclusive").length + (t.reachable ? 0 : 1);
    const skipped = t.attempts.filter((a) => a.verdict === "skipped" || a.verdict === "info").length;
    return `  <testsuite name="${esc(`mtls probe ${t.url}`)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}">\n${cases.join("\n")}\n  </testsuite>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="mtls probe" tests="${r.targets.reduce((n, t) => n + t.attempts.length + (t.reachable ? 0 : 1), 0)}">\n${suites.join("\n")}\n</testsuites>\n`;
}
