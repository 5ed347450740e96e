import * as partnerIssue from "../commands/partner/issue.js";
import type { Registry } from "../program.js";

export const registry: Registry = {
  partner: (program, ctx, description) => partnerIssue.register(program.command("partner").description(description), ctx),
};
