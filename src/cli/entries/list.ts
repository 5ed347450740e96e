import * as list from "../commands/list.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  list: (program, ctx) => list.register(program, ctx),
};
