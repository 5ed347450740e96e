// Each field of a `partner issue --batch` line is checked by its JSON type before it is used: a
// wrong type is the line's ERR_BATCH_LINE naming the field, never a JavaScript error.
import assert from "node:assert/strict";
import test from "node:test";
import { MtlsError } from "../../src/core/errors.js";
import { parseBatchLine } from "../../src/core/issue/batch-line.js";

function refusal(raw: string): string {
  try {
    parseBatchLine(7, raw);
  } catch (err) {
    assert.ok(err instanceof MtlsError, `${raw}: ${String(err)}`);
    assert.deepEqual([err.code, err.exit], ["ERR_BATCH_LINE", 3], raw);
    return err.message;
  }
  assert.fail(`${raw} was accepted`);
}

test("every field of a batch line must have its type; the message names the line, the field and both types", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ partner: 5 }, 'line 7: "partner" must be a string, not a number'],
    [{ partner: null }, 'line 7: "partner" must be a string, not null'],
    [{ partner: "a", csr: 123 }, 'line 7: "csr" must be a file name (a non-empty string), not a number'],
    [{ partner: "a", csr: "" }, 'line 7: "csr" must be a file name (a non-empty string), not an empty string'],
    [{ partner: "a", generate: "yes" }, 'line 7: "generate" must be true or false, not a string'],
    [{ partner: "a", generate: true, keyType: ["ec-p256"] }, 'line 7: "keyType" must be a string, not an array'],
    [{ partner: "a", generate: true, cn: 123 }, 'line 7: "cn" must be a string, not a number'],
    [{ partner: "a", generate: true, sans: "dns:x.example" }, 'line 7: "sans" must be an array of strings, not a string'],
    [{ partner: "a", generate: true, sans: ["dns:x.example", 123] }, 'line 7: "sans" must be an array of strings, not an array whose item 2 is a number'],
    [{ partner: "a", generate: true, sans: { dns: "x" } }, 'line 7: "sans" must be an array of strings, not an object'],
    [{ partner: "a", generate: true, days: "90" }, 'line 7: "days" must be a number, not a string'],
    [{ partner: "a", generate: true, outKey: ["a"] }, 'line 7: "outKey" must be a file name (a non-empty string), not an array'],
    [{ partner: "a", generate: true, outKey: false }, 'line 7: "outKey" must be a file name (a non-empty string), not a boolean'],
  ];
  for (const [line, message] of cases) assert.equal(refusal(JSON.stringify(line)), message);
  assert.equal(refusal("[1, 2]"), "line 7 is not a JSON object");
  assert.equal(refusal('"partner"'), "line 7 is not a JSON object");
  assert.equal(refusal("{ not json"), "line 7 is not a JSON object");
  assert.equal(refusal("{}"), 'line 7 has no "partner"');
});

test("a line with every field of its type passes as it is", () => {
  const line = { partner: "w-17", generate: true, keyType: "ec-p256", cn: "w-17", sans: ["uri:spiffe://fleet.example/w/17"], days: 90, outKey: "w-17.key" };
  assert.deepEqual(parseBatchLine(1, JSON.stringify(line)), line);
});

test("a field a batch line does not have is refused, so a misspelt one never issues without what it asked for", () => {
  assert.equal(refusal('{"partner":"acme","generate":true,"san":["dns:api.acme.example"]}'), 'line 7: "san" is not a field of a batch line');
  assert.equal(refusal('{"partner":"acme","csr":"acme.csr","__proto__":{"days":1}}'), 'line 7: "__proto__" is not a field of a batch line');
});
