import * as status from "../commands/status.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  status: (program, ctx) => status.register(program, ctx),
};
