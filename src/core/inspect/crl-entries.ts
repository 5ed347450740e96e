// A CRL's entries as inspect reports them, read from the DER when asked for: a 32 MiB CRL holds
// 1.4 million entries, and holding each as an object (twice) took gigabytes to print fifty.
import { readCrlEntry } from "../crl/decode.js";
import { iso } from "../time.js";

export interface CrlEntryFacts {
  serial: string;
  revokedAt: string;
  reason: string;
}

/** Array-like and iterable; JSON.stringify and the --json writer see the array it stands for. */
export class CrlEntryList implements Iterable<CrlEntryFacts> {
  constructor(
    private readonly der: Uint8Array,
    /** Where each entry's TLV starts; every entry was checked when the CRL was read. */
    private readonly offsets: Uint32Array,
  ) {}

  get length(): number {
    return this.offsets.length;
  }

  at(i: number): CrlEntryFacts | undefined {
    const offset = this.offsets[i < 0 ? this.offsets.length + i : i];
    if (offset === undefined) return undefined;
    const e = readCrlEntry(this.der, offset);
    return { serial: e.serial, revokedAt: iso(e.revokedAt), reason: e.reason };
  }

  slice(start = 0, end = this.length): CrlEntryFacts[] {
    const out: CrlEntryFacts[] = [];
    for (let i = Math.max(0, start); i < Math.min(end, this.length); i++) out.push(this.at(i) as CrlEntryFacts);
    return out;
  }

  *[Symbol.iterator](): Iterator<CrlEntryFacts> {
    for (let i = 0; i < this.length; i++) yield this.at(i) as CrlEntryFacts;
  }

  toJSON(): CrlEntryFacts[] {
    return this.slice();
  }
}
