import * as partnerList from "../commands/partner/list.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  partner: (program, ctx, description) => partnerList.register(program.command("partner").description(description), ctx),
};
