import * as partnerExport from "../commands/partner/export.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  partner: group("partner", partnerExport.register),
};
