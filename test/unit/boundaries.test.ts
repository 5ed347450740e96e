import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import test from "node:test";
import { ROOT } from "../helpers/run.js";

async function sources(dir: string): Promise<Array<{ file: string; imports: string[] }>> {
  const out = [];
  for (const f of await readdir(dir, { recursive: true })) {
    if (!f.endsWith(".ts")) continue;
    const text = await readFile(join(dir, f), "utf8");
    const imports = [...text.matchAll(/(?:import|export)[^"';]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|import\s+["']([^"']+)["']/g)].map(
      (m) => m[1] ?? m[2] ?? m[3] ?? "",
    );
    out.push({ file: relative(ROOT, join(dir, f)), imports });
  }
  return out;
}

// Style guide §2: a pure core; one adapter module per third-party library.
test("core never imports the CLI or terminal libraries; each library has one adapter", async () => {
  const core = await sources(join(ROOT, "src/core"));
  const cli = await sources(join(ROOT, "src/cli"));
  for (const { file, imports } of core) {
    for (const i of imports) assert.ok(!/\/cli\/|^commander$|^chalk$|^@inquirer|^inquirer$/.test(i), `${file} imports ${i}`);
  }
  const owners: Record<string, RegExp> = {
    "src/core/pki.ts": /^@peculiar\/x509$|^reflect-metadata$|^@peculiar\/webcrypto$/,
    "src/core/crl/encode.ts": /^@peculiar\/asn1-/,
    "src/core/bundle/pgp.ts": /^openpgp$/,
    "src/cli/output.ts": /^chalk$/,
    "src/cli/prompt.ts": /^@inquirer\/prompts$|^inquirer$/,
  };
  // The ASN.1 schema family has three adapters: CRL encoding; PKCS#12 (#19), which alone uses the
  // PFX/CMS schemas; and the OCSP client (#17), which alone uses the OCSP schemas (the responder
  // encodes with our DER module, for speed).
  const asn1Owners = ["src/core/crl/encode.ts", "src/core/p12/pfx.ts", "src/core/ocsp/client.ts"];
  for (const { file, imports } of [...core, ...cli]) {
    for (const i of imports) {
      if (/^@peculiar\/asn1-(pfx|cms|rsa)$/.test(i)) assert.equal(file, "src/core/p12/pfx.ts", `${file} imports ${i}; only src/core/p12/pfx.ts may`);
      if (i === "@peculiar/asn1-ocsp") assert.equal(file, "src/core/ocsp/client.ts", `${file} imports ${i}; only src/core/ocsp/client.ts may`);
      for (const [owner, re] of Object.entries(owners)) {
        if (owner === "src/core/crl/encode.ts" && re.test(i)) assert.ok(asn1Owners.includes(file), `${file} imports ${i}; only ${asn1Owners.join(" or ")} may`);
        else if (re.test(i)) assert.equal(file, owner, `${file} imports ${i}; only ${owner} may`);
      }
    }
  }
});

test("the command layer loads the core lazily, so `mtls --help` does not load x509", async () => {
  const cli = await sources(join(ROOT, "src/cli"));
  for (const { file, imports } of cli) {
    const text = await readFile(join(ROOT, file), "utf8");
    for (const i of imports) {
      // errors, input (bounded reads) and time (option parsers need it synchronously) are small leaves;
      // so is keystore/access (token access for the PIN source; it loads PKCS#11 only when used), and
      // display-text (the terminal escaping output.ts always used, in core since the index summary stores escaped cells).
      if (!/\/core\//.test(i) || /\/core\/(errors|input|time|display-text|keystore\/access)\.js$/.test(i)) continue;
      const staticValue = new RegExp(`^import (?!type)[^\\n]*from ["']${i.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}["']`, "m");
      assert.ok(!staticValue.test(text), `${file} statically imports ${i}`);
    }
  }
});

test("openpgp is only loaded when a bundle command runs", async () => {
  for (const [file, lib] of [["src/core/bundle/pgp.ts", "openpgp"]]) {
    const text = await readFile(join(ROOT, file as string), "utf8");
    assert.doesNotMatch(text, new RegExp(`^import (?!type )[^\\n]*from ["']${lib}["']`, "m"), `${file} imports ${lib} statically`);
    assert.match(text, new RegExp(`import\\(["']${lib}["']\\)`), `${file} should import ${lib} lazily`);
  }
});
