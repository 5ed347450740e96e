import * as inspect from "../commands/inspect.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  inspect: (program, ctx) => inspect.register(program, ctx),
};
