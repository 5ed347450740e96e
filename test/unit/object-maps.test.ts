// #13: objects used as maps answer only for their own keys. A plain `{}` answers "constructor",
// "toString" and friends from Object.prototype, so such an id looked present and was never written.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "node:test";
import { readPartners, serializePartners } from "../../src/core/store/partners.js";
import { renderTemplate } from "../../src/core/templates.js";

test("#13: the partner registry knows only its own ids, __proto__ included", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "mtls-maps-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "partners.json");
  const empty = await readPartners(path);
  for (const id of ["constructor", "toString", "hasOwnProperty", "__proto__", "valueOf"]) assert.equal(empty.partners[id], undefined, id);
  for (const id of ["constructor", "__proto__"]) empty.partners[id] = { id, createdAt: "2026-01-01T00:00:00Z", updatedAt: "2026-01-01T00:00:00Z" };
  await writeFile(path, serializePartners(empty));
  const back = await readPartners(path);
  assert.deepEqual(Object.keys(back.partners).sort(), ["__proto__", "constructor"]);
  const proto: string = "__proto__";
  const inherited: string = "toString";
  assert.equal(back.partners[proto]?.id, "__proto__");
  assert.equal(back.partners[inherited], undefined);
});

test("#13: templates look up own keys only: {{constructor}} is missing, not Object's constructor", () => {
  assert.throws(() => renderTemplate("{{constructor}}", { a: "x" }), /template value "constructor" is missing/);
  assert.throws(() => renderTemplate("{{a.toString}}", { a: { b: "x" } }), /missing/);
  assert.throws(() => renderTemplate("{{a|constructor}}", { a: "x" }), /filter "constructor" is unknown/);
});
