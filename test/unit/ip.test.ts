// #21: ipVersion answers as net.isIP does, without node:net for strings that cannot be addresses.
import assert from "node:assert/strict";
import { isIP } from "node:net";
import test from "node:test";
import { ipVersion } from "../../src/core/ip.js";

const SAMPLES = [
  "10.0.0.1",
  "255.255.255.255",
  "256.1.1.1",
  "01.2.3.4",
  "1.2.3",
  "::",
  "::1",
  "fe80::1%eth0",
  "FE80::A:b:C%1",
  "::ffff:192.0.2.1",
  "2001:db8::8a2e:370:7334",
  "2001:db8:0:0:0:0:2:1",
  "1:2:3:4:5:6:7:8:9",
  "1::2::3",
  "::1%",
  "partner-7",
  "api.example.com",
  "*.example.com",
  "dead.beef",
  "cafe",
  "",
  " 10.0.0.1",
  "10.0.0.1 ",
  "10.0.0.1\n",
];

test("ipVersion agrees with net.isIP on addresses, near-addresses and names", () => {
  for (const s of SAMPLES) assert.equal(ipVersion(s), isIP(s), JSON.stringify(s));
});

test("ipVersion agrees with net.isIP on 20,000 random strings over the characters addresses use", () => {
  const alphabet = "0123456789abcdefABCDEF.:%xyz- 0.:";
  let seed = 21;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < 20_000; i++) {
    let s = "";
    for (let n = rand(24); n > 0; n--) s += alphabet[rand(alphabet.length)];
    assert.equal(ipVersion(s), isIP(s), JSON.stringify(s));
  }
});
