import assert from "node:assert/strict";
import { test } from "node:test";
import { compareNames } from "../../src/core/collate.js";

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
