import * as revoke from "../commands/revoke.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  revoke: (program, ctx) => revoke.register(program, ctx),
};
