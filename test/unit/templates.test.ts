import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import test from "node:test";
import { renderTemplate, TEMPLATES_DIR } from "../../src/core/templates.js";

test("sections repeat over lists, keep or drop on truthiness, and standalone tags leave no blank lines", () => {
  const t = "a\n{{#items}}\n- {{name}} ({{.|json}})\n{{/items}}\n{{^items}}\nnone\n{{/items}}\n{{#flag}}on{{/flag}}{{^flag}}off{{/flag}}\n";
  assert.equal(renderTemplate(t, { items: [{ name: "x" }, { name: "y" }], flag: true }), 'a\n- x ({"name":"x"})\n- y ({"name":"y"})\non\n');
  assert.equal(renderTemplate(t, { items: [], flag: false }), "a\nnone\noff\n");
});

test("filters: indent, base64, regex, squote, dquote, json", () => {
  assert.equal(renderTemplate("k: |\n  {{v|indent:2}}", { v: "l1\nl2\n" }), "k: |\n  l1\n  l2\n");
  assert.equal(renderTemplate("{{v|base64}}", { v: "hi" }), "aGk=");
  assert.equal(renderTemplate("{{v|regex}}", { v: "a.b(c)" }), "a\\.b\\(c\\)");
  assert.equal(renderTemplate("'{{v|squote}}'", { v: "O'Neil" }), "'O\\'Neil'");
  assert.equal(renderTemplate('"{{v|dquote}}"', { v: 'say "hi"' }), '"say \\"hi\\""');
  assert.equal(renderTemplate("{{v|json}}", { v: 'a"b' }), '"a\\"b"');
});

test("a missing value, an unknown filter or an unclosed section is an error, never an empty string", () => {
  assert.throws(() => renderTemplate("{{nope}}", {}), /"nope" is missing/);
  assert.throws(() => renderTemplate("{{v|shout}}", { v: "x" }), /filter "shout"/);
  assert.throws(() => renderTemplate("{{#a}}x", { a: true }), /never closed/);
});

test("every gateway kind has a descriptor whose template files exist and cite their schema", async () => {
  const dir = join(TEMPLATES_DIR, "gateways");
  for (const kind of await readdir(dir)) {
    const d = JSON.parse(await readFile(join(dir, kind, "descriptor.json"), "utf8"));
    assert.equal(d.kind, kind);
    assert.ok(d.schema.length > 20, `${kind} cites its schema`);
    for (const f of d.files) assert.match(await readFile(join(dir, kind, f.template), "utf8"), /Schema: \{\{schema\}\}/, `${kind}/${f.template}`);
  }
});
