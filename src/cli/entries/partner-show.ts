import * as partnerShow from "../commands/partner/show.js";
import { group, type Registry } from "../program.js";

export const registry: Registry = {
  partner: group("partner", partnerShow.register),
};
