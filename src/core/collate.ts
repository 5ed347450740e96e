// String#localeCompare's order without its cost: the first call loads ICU's collator, ~6-7 ms of
// CPU, a tenth of a Node process's start-up (#21). Partner ids ([a-z0-9._-]) and bundle file
// names, what mtls sorts, use few characters, each with its own primary weight in ICU's root
// collation; for those this comparator gives localeCompare's answer, and it asks localeCompare
// itself for any other string (a unit test compares both).

/** ICU root order of the characters handled here; a letter's case only breaks ties (tertiary). */
const ORDER = "_-.0123456789abcdefghijklmnopqrstuvwxyz";
const PRIMARY = new Int8Array(128).fill(-1);
for (let i = 0; i < ORDER.length; i++) {
  const c = ORDER.charCodeAt(i);
  PRIMARY[c] = i;
  if (c >= 0x61 && c <= 0x7a) PRIMARY[c - 0x20] = i;
}

const primary = (c: number): number => (c < 128 ? (PRIMARY[c] as number) : -1);

/** The sign of `a.localeCompare(b)` (as -1, 0 or 1). */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let tie = 0;
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    const px = primary(x);
    const py = primary(y);
    if (px < 0 || py < 0) return Math.sign(a.localeCompare(b));
    if (px !== py) {
      for (const s of [a, b]) for (let j = i + 1; j < s.length; j++) if (primary(s.charCodeAt(j)) < 0) return Math.sign(a.localeCompare(b));
      return px < py ? -1 : 1;
    }
    // Lower case sorts before upper case, and only when nothing else differs.
    if (tie === 0 && x !== y) tie = x > y ? -1 : 1;
  }
  const longer = a.length > b.length ? a : b;
  for (let j = n; j < longer.length; j++) if (primary(longer.charCodeAt(j)) < 0) return Math.sign(a.localeCompare(b));
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return tie;
}

// Lower-case letters, digits, "-" and ".": ICU's root collation ranks these as their code units
// do, so names made only of them sort by plain comparison, the common case of partner ids.
const CODE_UNIT_ORDER = /^[a-z0-9.-]*$/;

/**
 * `items` sorted in place by `nameOf` in compareNames' order. A comparator that runs in the
 * interpreter is what a command's single sort meets: compareNames over 100 partner ids took
 * ~1.4 ms of a ~35 ms command (#21); when every name sorts by code unit, plain comparison does.
 */
export function sortByName<T>(items: T[], nameOf: (item: T) => string): T[] {
  if (!items.every((item) => CODE_UNIT_ORDER.test(nameOf(item)))) return items.sort((a, b) => compareNames(nameOf(a), nameOf(b)));
  return items.sort((a, b) => {
    const x = nameOf(a);
    const y = nameOf(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}
