import * as partnerExport from "../commands/partner/export.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  partner: (program, ctx, description) => partnerExport.register(program.command("partner").description(description), ctx),
};
