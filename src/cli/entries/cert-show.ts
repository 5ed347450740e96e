import * as certShow from "../commands/cert/show.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  cert: (program, ctx, description) => certShow.register(program.command("cert").description(description), ctx),
};
