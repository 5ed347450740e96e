// #22: `mtls report --html` loaded in a real browser (headless Chromium): the rendered DOM has
// every partner and the timeline, a hostile name or subject stays text, the page loads nothing,
// and a screenshot (kept under $MTLS_TEST_ARTIFACTS or the system temp dir) shows the bars drawn.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdir, readFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { countColour, decodePng } from "../helpers/png.js";
import { have, initTempCa, json, mtls, run, tempDir } from "../helpers/run.js";

const HOSTILE_NAME = `<script>document.title="pwned"</script>`;
// The subject policy refuses < > " in a CN (#12); what it allows must still be escaped in attributes.
const HOSTILE_CN = "O'Brien & Sons";

function chromium(args: string[], profile: string) {
  return run("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", `--user-data-dir=${profile}`, ...args], { timeoutMs: 90_000 });
}

test("report --html: one self-contained page, every partner and the expiry timeline rendered by Chromium, hostile strings inert", async (t) => {
  const dir = await initTempCa(t);
  const gen = async (id: string, extra: string[]) => {
    const r = await mtls(["partner", "issue", id, "--generate", "--out-key", `${id}-${Math.random().toString(36).slice(2)}.key`, "--json", ...extra], {
      cwd: dir,
    });
    assert.equal(r.exitCode, 0, r.stdout);
    return json(r).result.serial as string;
  };
  assert.equal((await mtls(["partner", "add", "acme", "--name", "Acme & Co"], { cwd: dir })).exitCode, 0);
  assert.equal((await mtls(["partner", "add", "evil", "--name", HOSTILE_NAME, "--contact", "pki@evil.example"], { cwd: dir })).exitCode, 0);
  const serials = [
    await gen("acme", ["--days", "90"]),
    await gen("acme", ["--days", "20"]), // a second certificate beside the first, expiring soon
    await gen("evil", ["--cn", HOSTILE_CN]),
    await gen("beta", ["--days", "60"]),
  ];
  assert.equal((await mtls(["partner", "offboard", "beta", "--yes"], { cwd: dir })).exitCode, 0);
  // A recorded probe run: the target answers TCP and drops every connection, so every
  // expectation fails (exit 1). An unreachable target is refused before anything is recorded.
  const dropper = net.createServer((s) => s.destroy());
  dropper.listen(0, "127.0.0.1");
  await once(dropper, "listening");
  t.after(() => new Promise<void>((r) => dropper.close(() => r())));
  const target = `https://127.0.0.1:${(dropper.address() as net.AddressInfo).port}/health`;
  const probe = await mtls(["probe", target, "--timeout", "1s"], { cwd: dir });
  assert.equal(probe.exitCode, 1, probe.stdout + probe.stderr);

  const r = await mtls(["report", "--html", "report.html", "--json"], { cwd: dir });
  assert.equal(r.exitCode, 0, r.stdout);
  assert.deepEqual({ partners: json(r).result.partners, certificates: json(r).result.certificates }, { partners: 3, certificates: 4 });
  assert.equal((await mtls(["report", "--html", "report.html"], { cwd: dir })).exitCode, 4, "an existing page needs --force");
  const file = join(dir, "report.html");
  const html = await readFile(file, "utf8");
  // Self-contained: no script, nothing fetched, and a policy that would block it anyway.
  assert.doesNotMatch(html, /<(script|link|img|iframe|object|embed)|<[^>]*\s(src|href)=|url\(|@import/i);
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);

  if (!have("chromium")) return t.skip("chromium is not installed: the page was checked as text only");
  const profile = await tempDir(t, "mtls-chromium-");
  const dom = await chromium(["--dump-dom", `file://${file}`], profile);
  assert.equal(dom.exitCode, 0, dom.stderr.slice(-2000));
  const page = dom.stdout;
  assert.match(page, /<title>mtls report — /, "the title was not rewritten by an injected script");
  for (const id of ["acme", "beta", "evil"]) {
    assert.match(page, new RegExp(`<tr class="partner" data-partner="${id}">`), `${id} in the partners table`);
    assert.match(page, new RegExp(`<g class="timeline-row" data-partner="${id}">`), `${id} in the timeline`);
  }
  assert.match(page, /<tr class="partner" data-partner="beta">.*?offboarded/);
  // Each partner's state is the one `partner list` (and `status`) gives it.
  const listed = json(await mtls(["partner", "list", "--json"], { cwd: dir })).result.partners as Array<{ id: string; state: string }>;
  assert.deepEqual(listed.map((p) => p.state).sort(), ["offboarded", "ok", "ok"]);
  for (const p of listed) assert.match(page, new RegExp(`<tr class="partner" data-partner="${p.id}">.*?<span class="badge [a-z]+">${p.state}</span>`));
  assert.match(page, /<svg id="expiry-timeline"/);
  for (const s of serials) assert.match(page, new RegExp(`<rect class="cert-bar [a-z]+" data-partner="[a-z]+" data-serial="${s}"`), `bar for ${s}`);
  assert.equal(page.match(/class="ca-bar"/g)?.length, 2, "root and intermediate CA bars");
  // acme's two certificates overlap: they sit on two lanes of its row.
  const lanesOf = (id: string) => [...page.matchAll(new RegExp(`data-partner="${id}" data-serial="[0-9a-f]+" x="[\\d.]+" y="(\\d+)"`, "g"))].map((m) => m[1]);
  assert.equal(new Set(lanesOf("acme")).size, 2, "overlapping certificates on separate lanes");
  // The hostile values arrive as text: no element was created from them.
  assert.doesNotMatch(page, /<script|<img/i);
  assert.ok(page.includes('&lt;script&gt;document.title="pwned"&lt;/script&gt;'), "the hostile name shows as text");
  assert.ok(page.includes("CN=O'Brien &amp; Sons"), "the CN shows as text");
  assert.ok(html.includes("CN=O&#39;Brien &#38; Sons"), "quote and ampersand are escaped in the page source");
  assert.match(page, new RegExp(`id="probes".*${target.replace(/[./]/g, "\\$&")}.*fail`, "s"));
  assert.match(page, /chain intact/);
  assert.match(page, /<tr class="crl"><td>intermediate<\/td><td>\d+<\/td>/);

  // The screenshot is kept for CI; its pixels prove the bars were painted.
  const artifacts = process.env.MTLS_TEST_ARTIFACTS ?? join(tmpdir(), "mtls-test-artifacts");
  await mkdir(artifacts, { recursive: true });
  const png = join(artifacts, "report.png");
  const shot = await chromium(["--window-size=1200,1400", `--screenshot=${png}`, `file://${file}`], profile);
  assert.equal(shot.exitCode, 0, shot.stderr.slice(-2000));
  t.diagnostic(`screenshot: ${png}`);
  const img = decodePng(await readFile(png));
  assert.equal(img.width, 1200);
  assert.ok(countColour(img, "#1565c0") > 5000, "the CA bars are painted");
  assert.ok(countColour(img, "#2e7d32") > 1000, "the valid certificates' bars are painted");
  assert.ok(countColour(img, "#f9a825") > 300, "the expiring certificate's bar is painted");
});
