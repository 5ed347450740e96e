import * as partnerShow from "../commands/partner/show.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  partner: (program, ctx, description) => partnerShow.register(program.command("partner").description(description), ctx),
};
