import * as partnerIssue from "../commands/partner/issue.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  partner: group("partner", partnerIssue.register),
};
