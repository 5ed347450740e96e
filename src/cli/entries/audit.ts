import * as audit from "../commands/audit.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  audit: (program, ctx) => audit.register(program, ctx),
};
