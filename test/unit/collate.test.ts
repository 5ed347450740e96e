import assert from "node:assert/strict";
import { test } from "node:test";
import { compareNames, sortByName } from "../../src/core/collate.js";

// Random strings over the handled characters and a few others (space, accents, symbols, digits
// past 9): compareNames must agree with localeCompare on every pair.
test("compareNames orders as String#localeCompare does", () => {
  const alphabet = [..."_-.0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", " ", "é", "~", "/", "ß", "٣"];
  let seed = 21;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const word = (): string => {
    const narrow = rand(4) !== 0;
    const chars = narrow ? alphabet.slice(0, 65) : alphabet;
    return Array.from({ length: rand(6) }, () => chars[rand(chars.length)]).join("");
  };
  const words = Array.from({ length: 600 }, word);
  words.push("partner-1", "partner_1", "partner.1", "partner1", "Partner-1", "README.txt", "ca-bundle.pem", "client.pem", "Client.pem", "");
  for (const a of words) for (const b of words) assert.equal(compareNames(a, b), Math.sign(a.localeCompare(b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
});

test("sortByName orders as String#localeCompare does, by code unit or not", () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const word = (alphabet: string) => Array.from({ length: 1 + rand(9) }, () => alphabet[rand(alphabet.length)]).join("");
  const plain = "-.0123456789abcdefghijklmnopqrstuvwxyz";
  for (let round = 0; round < 200; round++) {
    // Every name plain (the code-unit way), or one among them with "_" or a capital (compareNames').
    const names = Array.from({ length: 2 + rand(40) }, () => word(plain));
    if (round % 2) names.splice(rand(names.length), 0, word(`${plain}_ABC`));
    const items = names.map((name) => ({ name }));
    const sorted = sortByName(items, (i) => i.name).map((i) => i.name);
    assert.deepEqual(
      sorted,
      [...names].sort((a, b) => a.localeCompare(b)),
      JSON.stringify(names),
    );
  }
  // The ranks ICU gives what a partner id may hold, against their code units.
  const ids = ["a-b", "a.b", "a_b", "a0", "ab", "a", "a-", "a.", "9", "-", "."];
  assert.deepEqual(
    sortByName([...ids], (s) => s),
    [...ids].sort((a, b) => a.localeCompare(b)),
  );
});
