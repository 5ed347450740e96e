import * as doctor from "../commands/doctor.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  doctor: (program, ctx) => doctor.register(program, ctx),
};
