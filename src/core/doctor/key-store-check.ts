import type { DoctorCheckDef } from "./types.js";

/** #20: a CA key kept in a PKCS#11 token must be reachable (token present, key's public half there). */
export const keyStoreCheck: DoctorCheckDef = {
  name: "key-store",
  async find(ctx) {
    if (!ctx.ca.keyStore) return [];
    return (await ctx.reads.caKeyPlaces(ctx.ca))
      .filter((p) => p.problem && !p.retired)
      .map((p) => ({ check: "key-store", message: p.problem?.message ?? "", hint: p.problem?.hint ?? "", fixable: false }));
  },
};
