import * as caShow from "../commands/ca/show.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  ca: (program, ctx, description) => caShow.register(program.command("ca").description(description), ctx),
};
